// The performance targets (issue 2), checked against the medians of this run.
import { ratio } from './report.js';
import { median } from './stats.js';
import { PACED_PPS } from './capture.js';
import type { Row } from './types.js';

export function applyTargets(rows: Row[]): void {
  const find = (section: Row['section'], name: string) => rows.find((r) => r.section === section && r.name === name);
  for (const r of rows) {
    if (r.runs.length === 0) continue;
    const q = ratio(rows, r);
    const m = median(r.runs);
    if (r.section === 'send' && q !== undefined) {
      if (r.name.includes('sendBatch') || r.name.includes('sendTemplate')) r.target = { what: '>= 0.90 x C', ok: q >= 0.9 };
      else if (r.name.includes('1/call')) r.target = { what: '>= 1.5 x raw-socket', ok: q >= 1.5 };
    }
    if (r.section === 'capture') {
      const drops = Number(r.extra?.drops ?? 0);
      if (r.name === 'tcplab capture, count only' && q !== undefined) r.target = { what: '>= 0.95 x C, 0 drops', ok: q >= 0.95 && drops === 0 };
      if (r.name === 'tcplab capture + decode()') r.target = { what: '>= 200k pps', ok: m >= 200_000 };
      if (r.name.startsWith('tcplab capture + decode() @')) {
        r.target = { what: `${PACED_PPS / 1000}k pps decoded, 0 drops`, ok: drops === 0 && Number(r.extra?.missing ?? 1) === 0 && m >= PACED_PPS * 0.97 };
      }
    }
    if (r.section === 'latency' && r.name.endsWith('p50') && r.peer) {
      const peer = find('latency', r.peer);
      if (peer?.runs.length) {
        const d = m - median(peer.runs);
        r.target = { what: `within 3 us of C (${d >= 0 ? '+' : ''}${d.toFixed(1)} us)`, ok: d <= 3 };
      }
    }
    // Issue 14: twice as fast as tshark's conversation table, under 300 MB, flat from 1M to 10M packets.
    if (r.section === 'inspect' && r.name.startsWith('tcplab') && r.unit === 's' && q !== undefined) r.target = { what: '>= 2x faster than tshark (ratio <= 0.50)', ok: q <= 0.5 };
    if (r.section === 'inspect' && r.name.startsWith('tcplab') && r.unit === 'MB') {
      const flat = r.extra?.vs_1M;
      r.target = { what: `< 300 MB${flat === undefined ? '' : ', 10M/1M <= 1.2'}`, ok: m < 300 && (flat === undefined || Number(flat) <= 1.2) };
    }
    if (r.section === 'labs' && r.name === 'lab:reuse') r.target = { what: '<= 3 s', ok: m <= 3 };
    // Every kernel's restored start (kernels.ts): the same goal as 6.1's.
    if (r.section === 'versions' && r.name.startsWith('version matrix')) r.target = { what: '< 300 s for five kernels', ok: m < 300 };
    if (r.section === 'targets' && /^linux-.*-qemu start, restored$/.test(r.name)) r.target = { what: '<= 3 s (a few seconds)', ok: m <= 3 };
  }
}

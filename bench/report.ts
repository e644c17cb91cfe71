// The bench's output: one table (median, spread, ratio to the peer, target) and the same as JSON.
import { median, summarize, spreadPct } from './stats.js';
import type { Row } from './types.js';

function fmt(v: number, unit: Row['unit']): string {
  if (!Number.isFinite(v)) return '-';
  if (unit === 'pps') return `${Math.round(v).toLocaleString('en')} pps`;
  if (unit === 'us') return `${v.toFixed(1)} us`;
  if (unit === 'MB') return `${v.toFixed(0)} MB`;
  return `${v.toFixed(2)} s`;
}

export function peerOf(rows: readonly Row[], r: Row): Row | undefined {
  return r.peer ? rows.find((x) => x.section === r.section && x.name === r.peer) : undefined;
}

/**
 * tcplab / peer. Runs are interleaved (run i of both measured back to back), so with equal run counts
 * it is the median of the per-run ratios, which cancels most of the load that other processes put on
 * the machine; otherwise the ratio of the medians.
 */
export function ratio(rows: readonly Row[], r: Row): number | undefined {
  const p = peerOf(rows, r);
  if (!p || r.runs.length === 0 || p.runs.length === 0) return undefined;
  if (r.runs.length === p.runs.length) return median(r.runs.map((v, i) => v / p.runs[i]!));
  return summarize(r.runs).median / summarize(p.runs).median;
}

export function renderTable(rows: readonly Row[]): string {
  const lines: string[] = [];
  let section = '';
  for (const r of rows) {
    if (r.section !== section) {
      section = r.section;
      lines.push('', `== ${section} ${'='.repeat(100 - section.length)}`);
      lines.push(`${'figure'.padEnd(44)} ${'median'.padStart(15)} ${'spread'.padStart(7)} ${'n'.padStart(3)} ${'ratio'.padStart(6)}  target / notes`);
    }
    const s = r.runs.length ? summarize(r.runs) : undefined;
    const q = ratio(rows, r);
    const notes = [
      r.target ? `${r.target.ok ? 'OK  ' : 'MISS'} ${r.target.what}` : '',
      ...Object.entries(r.extra ?? {}).map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(2) : v}`),
      r.note ?? '',
    ].filter(Boolean);
    lines.push(
      `${r.name.padEnd(44)} ${(s ? fmt(s.median, r.unit) : '-').padStart(15)} ${(s ? `±${spreadPct(s).toFixed(0)}%` : '').padStart(7)} ` +
        `${String(r.runs.length).padStart(3)} ${(q === undefined ? '' : q.toFixed(2)).padStart(6)}  ${notes.join('  ')}`,
    );
  }
  return lines.join('\n');
}

export function toJson(rows: readonly Row[], meta: Record<string, unknown>): unknown {
  return {
    ...meta,
    rows: rows.map((r) => {
      const s = r.runs.length ? summarize(r.runs) : undefined;
      return { ...r, median: s?.median ?? null, min: s?.min ?? null, max: s?.max ?? null, ratio: ratio(rows, r) ?? null };
    }),
  };
}

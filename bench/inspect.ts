// inspect section: `tcplab inspect FILE` against `tshark -r FILE -q -z conv,tcp` on the same generated
// capture (bench/gencap.ts: TIME-WAIT reuse, RSTs in TIME-WAIT, real exhaustion), runs interleaved and
// alternating in order; wall time and peak RSS from /usr/bin/time (GNU time, %e %M) for both. The 1M-packet
// capture always; 10M with --inspect-10m (about ten times longer: opt-in). A run of `--json` checks that
// the findings name the generator's counts.
import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/wire/native.js';
import { generateCapture, GEN, type GenCounts } from './gencap.js';
import type { Row } from './types.js';

export interface InspectBenchOptions {
  runs: number;
  sizes: number[];
}

interface Measured { wallS: number; rssMB: number; stdout: string }

function timed(cmd: string, args: string[], keepStdout = false): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const p = spawn('/usr/bin/time', ['-f', 'TCPLAB-TIME %e %M', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { if (keepStdout) out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => {
      const m = /TCPLAB-TIME ([\d.]+) (\d+)/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}\n${err.slice(-2000)}`));
      resolve({ wallS: Number(m[1]), rssMB: Number(m[2]) / 1024, stdout: out });
    });
  });
}

const label = (n: number) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}k`);

/** Does the report say what the generator put in? */
function checkFindings(json: string, c: GenCounts): string[] {
  const j = JSON.parse(json) as {
    findingGroups: Array<{ kind: string; client: string; count: number; connections: number }>;
    rates: Array<{ client: string; server: string; risk: string; distinctClientPorts: number; portsReusedInTimeWait: number; maxInTimeWait: number }>;
  };
  const bad: string[] = [];
  const g = (kind: string) => j.findingGroups.find((x) => x.kind === kind);
  const ip = (n: number) => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  if (g('tw-reuse')?.count !== c.reuseReopenings) bad.push(`tw-reuse ${g('tw-reuse')?.count} != ${c.reuseReopenings}`);
  if (g('tw-reuse')?.connections !== c.reusePorts) bad.push(`tw-reuse connections ${g('tw-reuse')?.connections} != ${c.reusePorts}`);
  if (g('rst-in-time-wait')?.count !== c.rstConnections) bad.push(`rst-in-time-wait ${g('rst-in-time-wait')?.count} != ${c.rstConnections}`);
  const reuse = j.rates.find((r) => r.client === ip(GEN.reuse.client));
  if (!reuse || reuse.risk !== 'low' || reuse.distinctClientPorts !== c.reusePorts) bad.push(`reuse group: ${JSON.stringify(reuse)}`);
  const ex = j.rates.find((r) => r.client === ip(GEN.exhaustion.client));
  if (!ex || ex.risk !== 'exhausted' || ex.maxInTimeWait !== c.exhaustionPorts) bad.push(`exhaustion group: ${JSON.stringify(ex)}`);
  return bad;
}

export async function benchInspect(o: InspectBenchOptions, log: (s: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const cli = join(packageRoot(), 'dist', 'src', 'cli.js');
  const haveTshark = existsSync('/usr/bin/tshark');
  const rss: Record<number, number> = {};
  for (const n of o.sizes) {
    const file = join(tmpdir(), `tcplab-bench-inspect-${n}.pcap`);
    try {
      log(`bench inspect: generating ${label(n)} packets into ${file}`);
      const counts = generateCapture(file, n);
      const mine: Measured[] = [];
      const peer: Measured[] = [];
      for (let r = 0; r < o.runs; r++) {
        const a = () => timed('node', [cli, 'inspect', file]).then((m) => mine.push(m));
        const b = () => (haveTshark ? timed('tshark', ['-r', file, '-q', '-z', 'conv,tcp']).then((m) => peer.push(m)) : Promise.resolve(0));
        if (r % 2 === 0) { await a(); await b(); } else { await b(); await a(); }
        log(`bench inspect ${label(n)} run ${r + 1}/${o.runs}: tcplab ${mine[mine.length - 1]!.wallS} s ${mine[mine.length - 1]!.rssMB.toFixed(0)} MB` +
          (haveTshark ? `, tshark ${peer[peer.length - 1]!.wallS} s ${peer[peer.length - 1]!.rssMB.toFixed(0)} MB` : ''));
      }
      const check = await timed('node', [cli, 'inspect', file, '--json', '--max-ladders', '0'], true);
      const bad = checkFindings(check.stdout, counts);
      const name = `tcplab inspect ${label(n)} pkts`;
      const peerName = `tshark -q -z conv,tcp ${label(n)} pkts`;
      const medRss = [...mine.map((m) => m.rssMB)].sort((x, y) => x - y)[Math.floor(mine.length / 2)]!;
      rss[n] = medRss;
      rows.push({
        section: 'inspect', name, unit: 's', runs: mine.map((m) => m.wallS), peer: haveTshark ? peerName : undefined,
        extra: { tw_reuse: counts.reuseReopenings, rst_in_tw: counts.rstConnections, exhausted_ports: counts.exhaustionPorts },
        note: bad.length ? `FINDINGS WRONG: ${bad.join('; ')}` : 'findings match the generator',
      });
      if (haveTshark) rows.push({ section: 'inspect', name: peerName, unit: 's', runs: peer.map((m) => m.wallS) });
      rows.push({ section: 'inspect', name: `${name} peak RSS`, unit: 'MB', runs: mine.map((m) => m.rssMB), peer: haveTshark ? `${peerName} peak RSS` : undefined });
      if (haveTshark) rows.push({ section: 'inspect', name: `${peerName} peak RSS`, unit: 'MB', runs: peer.map((m) => m.rssMB) });
    } finally {
      rmSync(file, { force: true });
    }
  }
  if (!haveTshark) log('bench inspect: tshark not installed (apt-get install tshark): no peer figures');
  const sizes = Object.keys(rss).map(Number).sort((a, b) => a - b);
  if (sizes.length > 1) {
    const lo = sizes[0]!, hi = sizes[sizes.length - 1]!;
    const r = rows.find((x) => x.name === `tcplab inspect ${label(hi)} pkts peak RSS`)!;
    r.extra = { ...(r.extra ?? {}), [`vs_${label(lo)}`]: +(rss[hi]! / rss[lo]!).toFixed(2) };
  }
  return rows;
}

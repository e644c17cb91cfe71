// SYN -> SYN-ACK latency against a kernel listener, from kernel timestamps (SO_TIMESTAMPNS on the
// prober's AF_PACKET socket: our outgoing SYN, then the SYN-ACK). tcplab (RawSender + Capture) against
// the C prober (raw socket + AF_PACKET), same SYN bytes, alternating per run. The SYNs come from the
// prober's own address, so its kernel resets each SYN-ACK and the listener keeps no half-open state.
import { randomInt } from 'node:crypto';
import { compileMatch } from '../src/wire/bpf.js';
import { openCapture } from '../src/wire/capture.js';
import { openRawSender } from '../src/wire/sender.js';
import { decode, encode } from '../src/wire/segment.js';
import { runIn, sleep, startIn, type BenchEnv } from './env.js';
import { quantile } from './stats.js';
import type { BenchOptions, Row } from './types.js';

const PORT = 8080;

async function tcplabProbes(env: BenchEnv, count: number, sport0: number): Promise<number[]> {
  const tx = openRawSender({ netns: env.tx.netns, device: env.tx.ifname });
  let pending: { sport: number; tSyn?: bigint; done: (v: number | undefined) => void } | undefined;
  const cap = openCapture({
    ifname: env.tx.ifname,
    netns: env.tx.netns,
    filter: compileMatch({ host: env.rx.addr, port: PORT }),
    onPackets: (batch) => {
      for (const p of batch) {
        const d = decode(p.data, 'ethernet', { offloaded: p.csumOffloaded });
        if (!d.ok || !pending) continue;
        const s = d.segment;
        if (p.dir === 'out' && s.sport === pending.sport && (s.flagBits & 0x12) === 0x02) pending.tSyn = p.tsNs;
        else if (p.dir === 'in' && s.dport === pending.sport && (s.flagBits & 0x12) === 0x12 && pending.tSyn !== undefined) {
          pending.done(Number(p.tsNs - pending.tSyn));
        }
      }
    },
  });
  const out: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const sport = sport0 + i;
      const syn = encode({ src: env.tx.addr, dst: env.rx.addr, sport, dport: PORT, seq: randomInt(2 ** 32), flags: 'S', window: 64240 });
      const ns = await new Promise<number | undefined>((resolve) => {
        const timer = setTimeout(() => resolve(undefined), 200);
        pending = { sport, done: (v) => { clearTimeout(timer); resolve(v); } };
        tx.send(syn);
      });
      pending = undefined;
      if (ns !== undefined) out.push(ns);
    }
  } finally {
    cap.close();
    tx.close();
  }
  return out;
}

async function cProbes(env: BenchEnv, count: number, sport0: number): Promise<number[]> {
  const syn = encode({ src: env.tx.addr, dst: env.rx.addr, sport: sport0, dport: PORT, seq: randomInt(2 ** 32), flags: 'S', window: 64240 });
  const out = await runIn(env.tx.netns, env.c.synprobe, [env.tx.ifname, syn.toString('hex'), String(count), String(sport0)]);
  return out.split('\n').filter((l) => /^\d+$/.test(l)).map(Number);
}

export async function benchLatency(env: BenchEnv, opts: BenchOptions, log: (s: string) => void): Promise<Row[]> {
  const listener = startIn(env.rx.netns, process.execPath, [
    '-e', `require('net').createServer((s)=>s.destroy()).listen(${PORT},'${env.rx.addr}',()=>console.log('ready'))`,
  ]);
  await listener.ready;
  const sides = { c: { p50: [] as number[], p99: [] as number[], lost: 0 }, tcplab: { p50: [] as number[], p99: [] as number[], lost: 0 } };
  try {
    let block = 0;
    for (let r = 0; r < opts.runs; r++) {
      for (const side of ['c', 'tcplab'] as const) {
        const sport0 = 20000 + (block++ % 40) * 1000;
        const ns = side === 'c' ? await cProbes(env, opts.probes, sport0) : await tcplabProbes(env, opts.probes, sport0);
        const s = sides[side];
        s.lost += opts.probes - ns.length;
        s.p50.push(quantile(ns, 0.5) / 1000);
        s.p99.push(quantile(ns, 0.99) / 1000);
        log(`  latency run ${r + 1}/${opts.runs}  ${side.padEnd(7)} p50 ${(quantile(ns, 0.5) / 1000).toFixed(1)} us  p99 ${(quantile(ns, 0.99) / 1000).toFixed(1)} us  (${ns.length}/${opts.probes} answered)`);
        await sleep(50);
      }
    }
  } finally {
    await listener.stop();
  }
  const row = (side: 'c' | 'tcplab', q: 'p50' | 'p99'): Row => ({
    section: 'latency',
    name: `${side === 'c' ? 'C synprobe' : 'tcplab RawSender+Capture'} ${q}`,
    unit: 'us',
    runs: sides[side][q],
    peer: side === 'tcplab' ? `C synprobe ${q}` : undefined,
    extra: { lost: sides[side].lost, probesPerRun: opts.probes },
  });
  return [row('c', 'p50'), row('tcplab', 'p50'), row('c', 'p99'), row('tcplab', 'p99')];
}

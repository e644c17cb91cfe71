// Resident memory over a long capture and many sends (run by hand, minutes; not a CI test):
//   node --expose-gc dist-test/test/fuzz/memory.js [--packets 10000000] [--sends 1000000] [--wire 1000000]
// The C AF_PACKET baseline (bench/c/sendmmsg.c) floods tx -> rx; on rx we read with
//   1. openCapture countOnly (native drain, nothing to JS),
//   2. openCapture + decode() of every packet (the decode path: RawCaptured objects, then Segments),
//   3. Wire + a packets() consumer that keeps up (grows by design: Wire.captured keeps every packet),
// and from tx we send 10^6 segments with Wire.send, sendBatch (64 per call) and sendTemplate (1000 per call).
// RSS is sampled (after a GC when --expose-gc is on) against packets; a table per phase is printed.
import { parseArgs } from 'node:util';
import { createEnv, runIn, type BenchEnv } from '../../bench/env.js';
import { openCapture, type NativeCapture } from '../../src/wire/capture.js';
import { decode, encodeEthernet } from '../../src/wire/segment.js';
import { Wire } from '../../src/wire/wire.js';
import type { SegmentSpec } from '../../src/wire/types.js';

interface Sample { packets: number; rssMiB: number; heapMiB: number; tS: number }

const gc = (globalThis as { gc?: () => void }).gc;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (b: number) => Math.round((b / 1048576) * 10) / 10;

function sample(packets: number, t0: number): Sample {
  gc?.();
  const m = process.memoryUsage();
  return { packets, rssMiB: mib(m.rss), heapMiB: mib(m.heapUsed), tS: Math.round((Date.now() - t0) / 100) / 10 };
}

function table(title: string, s: readonly Sample[]): string {
  const rows = s.map((x) => `| ${x.packets < 0 ? 'after close, Wire dropped' : x.packets.toLocaleString('en')} | ${x.rssMiB} | ${x.heapMiB} | ${x.tS} |`);
  const live = s.filter((x) => x.packets >= 0);
  const first = live[1] ?? live[0]!; // after warm-up
  const last = live[live.length - 1]!;
  const slope = last.packets > first.packets ? ((last.rssMiB - first.rssMiB) * 1048576) / (last.packets - first.packets) : 0;
  return [`### ${title}`, '', '| packets | RSS MiB | heap MiB | s |', '|---:|---:|---:|---:|', ...rows, '',
    `RSS change after warm-up: ${(last.rssMiB - first.rssMiB).toFixed(1)} MiB over ${(last.packets - first.packets).toLocaleString('en')} packets (${slope.toFixed(2)} bytes/packet)`, ''].join('\n');
}

/** Floods rx from tx with the C sender in slices until `enough()` says stop. */
async function flood(env: BenchEnv, frame: Buffer, enough: () => boolean, onSlice: () => void): Promise<void> {
  const hex = frame.toString('hex');
  while (!enough()) {
    await runIn(env.tx.netns, env.c.sendmmsg, ['packet', env.tx.ifname, hex, '1']);
    onSlice();
  }
}

async function capturePhase(env: BenchEnv, frame: Buffer, target: number, mode: 'count' | 'decode'): Promise<Sample[]> {
  let decoded = 0;
  const cap: NativeCapture = mode === 'count'
    ? openCapture({ ifname: env.rx.ifname, netns: env.rx.netns, countOnly: true })
    : openCapture({
        ifname: env.rx.ifname, netns: env.rx.netns,
        onPackets: (batch) => { for (const p of batch) if (decode(p.data, 'ethernet', { offloaded: p.csumOffloaded }).ok) decoded++; },
      });
  const seen = () => (mode === 'count' ? cap.stats().delivered : decoded);
  const t0 = Date.now();
  const out = [sample(0, t0)];
  let next = target / 10;
  try {
    await flood(env, frame, () => seen() >= target, () => {
      if (seen() >= next) {
        out.push(sample(seen(), t0));
        next += target / 10;
      }
    });
    await sleep(200);
    out.push(sample(seen(), t0));
    const st = cap.stats();
    process.stderr.write(`  ${mode}: ${st.delivered} delivered, ${st.dropped} kernel drops\n`);
  } finally {
    cap.close();
  }
  return out;
}

async function wirePhase(env: BenchEnv, frame: Buffer, target: number): Promise<Sample[]> {
  const w = await Wire.open({ ifname: env.rx.ifname, netns: env.rx.netns });
  let n = 0;
  const ac = new AbortController();
  const consumer = (async () => {
    for await (const p of w.packets({ signal: ac.signal })) {
      if (p.segment) n++;
    }
  })();
  const t0 = Date.now();
  const out = [sample(0, t0)];
  let next = target / 10;
  try {
    await flood(env, frame, () => w.captured.length >= target, () => {
      if (w.captured.length >= next) {
        out.push(sample(w.captured.length, t0));
        next += target / 10;
      }
    });
    await sleep(200);
    out.push(sample(w.captured.length, t0));
    process.stderr.write(`  wire: ${w.captured.length} captured, ${n} consumed, ${w.stats().dropped} kernel drops\n`);
  } finally {
    ac.abort();
    await w[Symbol.asyncDispose]();
    await consumer;
  }
  return out;
}

async function sendPhase(env: BenchEnv, total: number, how: 'send' | 'sendBatch' | 'sendTemplate'): Promise<Sample[]> {
  const w = await Wire.open({ ifname: env.tx.ifname, netns: env.tx.netns, filter: { dport: 1 } });
  const spec: SegmentSpec = { src: env.tx.addr, dst: env.sink, sport: 40000, dport: 9, seq: 1, flags: 'S' };
  const batch = Array.from({ length: 64 }, (_, i) => ({ ...spec, seq: i }));
  const t0 = Date.now();
  const out = [sample(0, t0)];
  let sent = 0;
  const step = total / 10;
  try {
    while (sent < total) {
      const goal = Math.min(total, sent + step);
      while (sent < goal) {
        try {
          if (how === 'send') { w.send({ ...spec, seq: sent }); sent++; }
          else if (how === 'sendBatch') { w.sendBatch(batch); sent += 64; }
          else { w.sendTemplate(spec, 1000, { seqStep: 1 }); sent += 1000; }
        } catch (e) {
          if ((e as { code?: string }).code !== 'ENOBUFS') throw e;
          await sleep(1);
        }
        if (sent % 8192 < (how === 'sendTemplate' ? 1000 : how === 'sendBatch' ? 64 : 1)) await new Promise((r) => setImmediate(r));
      }
      out.push(sample(sent, t0));
    }
  } finally {
    await w[Symbol.asyncDispose]();
  }
  return out;
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) {
  const { values } = parseArgs({ options: {
    packets: { type: 'string', default: '10000000' }, sends: { type: 'string', default: '1000000' }, wire: { type: 'string', default: '1000000' },
  } });
  if (!gc) process.stderr.write('note: run with --expose-gc for RSS after GC\n');
  const env = await createEnv();
  try {
    const frame = encodeEthernet({ src: env.tx.addr, dst: env.sink, sport: 40000, dport: 9, seq: 1, flags: 'S' }, { srcMac: env.tx.mac, dstMac: env.rx.mac });
    const N = Number(values.packets);
    const S = Number(values.sends);
    const parts: string[] = [`node ${process.version}, ${N.toLocaleString('en')} packets per capture phase`, ''];
    const log = (s: string) => { parts.push(s); process.stdout.write(`${s}\n`); };
    log(table('capture, countOnly (native drain)', await capturePhase(env, frame, N, 'count')));
    log(table('capture + decode() of every packet', await capturePhase(env, frame, N, 'decode')));
    for (const how of ['send', 'sendBatch', 'sendTemplate'] as const) log(table(`Wire.${how}, ${S.toLocaleString('en')} segments`, await sendPhase(env, S, how)));
    // last: its heap (every packet kept) would sit under the other phases' numbers
    const t0 = Date.now();
    const ws = await wirePhase(env, frame, Number(values.wire));
    ws.push({ ...sample(0, t0), packets: -1 }); // the Wire is unreachable now: what GC gives back
    log(table('Wire + packets() consumer (Wire.captured keeps every packet: grows by design)', ws));
  } finally {
    await env.tb.dispose();
  }
}

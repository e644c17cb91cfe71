// Capture rate on the receiving veth while the C AF_PACKET sender floods it with 40-byte SYNs: tcplab
// counting only (native TPACKET_V3 drain, no JS), tcplab handing packets to JS (recvmmsg, RawCaptured
// objects), tcplab decoding every packet to objects, the C
// TPACKET_V3 reader, and tcpdump -w /dev/null. Each reader's packets, kernel drops, and the flood size
// (rx_packets of the veth); readers interleaved per run. Then a paced flood (200k pps) for the
// decode-everything path, where the target is no drop at all.
import { readFileSync } from 'node:fs';
import { encodeEthernet, decode } from '../src/wire/segment.js';
import { openCapture, type NativeCapture } from '../src/wire/capture.js';
import { installed, runIn, rxPackets, sleep, startIn, type BenchEnv } from './env.js';
import { median } from './stats.js';
import type { BenchOptions, Row } from './types.js';

interface Reading {
  captured: number;
  drops: number;
  /** CPU seconds the reader used (user + sys), where known. */
  cpu?: number;
}

/** utime + stime of a process in seconds, from /proc (before it is stopped). */
function procCpu(pid: number | undefined): number | undefined {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ
  } catch {
    return undefined;
  }
}
interface Reader {
  name: string;
  peer?: string;
  /** Starts reading; the returned stop() ends it and reports. */
  start: () => Promise<() => Promise<Reading>>;
}

function tcplabReader(env: BenchEnv, mode: 'count' | 'objects' | 'decode'): Reader['start'] {
  return async () => {
    let decoded = 0;
    let bad = 0;
    const c0 = process.cpuUsage();
    const decodeAll = mode === 'decode';
    const cap: NativeCapture = mode === 'objects'
      ? openCapture({ ifname: env.rx.ifname, netns: env.rx.netns, onPackets: (batch) => void (decoded += batch.length) })
      : decodeAll
      ? openCapture({
          ifname: env.rx.ifname,
          netns: env.rx.netns,
          onPackets: (batch) => {
            for (const p of batch) {
              const d = decode(p.data, 'ethernet', { offloaded: p.csumOffloaded });
              if (d.ok) decoded++;
              else bad++;
            }
          },
        })
      : openCapture({ ifname: env.rx.ifname, netns: env.rx.netns, countOnly: true });
    return async () => {
      // Let the reader empty the socket: stop once a turn delivers nothing new.
      let last = -1;
      for (let i = 0; i < 50 && cap.stats().delivered !== last; i++) {
        last = cap.stats().delivered;
        await sleep(20);
      }
      const st = cap.stats();
      const c = process.cpuUsage(c0);
      cap.close();
      if (decodeAll && bad > 0) throw new Error(`capture bench: ${bad} packets failed to decode`);
      return { captured: mode === 'count' ? st.delivered : decoded, drops: st.dropped, cpu: (c.user + c.system) / 1e6 };
    };
  };
}

function readers(env: BenchEnv): Reader[] {
  const list: Reader[] = [
    {
      name: 'C TPACKET_V3 reader',
      start: async () => {
        const bg = startIn(env.rx.netns, env.c.tpacket_v3, [env.rx.ifname, '120']);
        await bg.ready;
        return async () => {
          await sleep(50); // a partly filled block is handed over after tp_retire_blk_tov (10 ms)
          const { out } = await bg.stop();
          const m = /received (\d+) drops (\d+) user ([\d.]+) sys ([\d.]+)/.exec(out);
          if (!m) throw new Error(`tpacket_v3: unexpected output ${out}`);
          return { captured: Number(m[1]), drops: Number(m[2]), cpu: Number(m[3]) + Number(m[4]) };
        };
      },
    },
    { name: 'tcplab capture, count only', peer: 'C TPACKET_V3 reader', start: tcplabReader(env, 'count') },
    { name: 'tcplab capture -> JS packet objects', peer: 'C TPACKET_V3 reader', start: tcplabReader(env, 'objects') },
    { name: 'tcplab capture + decode()', peer: 'C TPACKET_V3 reader', start: tcplabReader(env, 'decode') },
  ];
  if (installed('tcpdump')) {
    list.push({
      name: 'tcpdump -w /dev/null',
      start: async () => {
        const bg = startIn(env.rx.netns, 'tcpdump', ['-n', '-i', env.rx.ifname, '-w', '/dev/null'], 'stderr');
        await bg.ready; // "listening on ..."
        await sleep(100);
        return async () => {
          await sleep(100);
          const cpu = procCpu(bg.child.pid);
          const { err } = await bg.stop();
          const cap = /(\d+) packets? captured/.exec(err);
          const drop = /(\d+) packets? dropped by kernel/.exec(err);
          if (!cap || !drop) throw new Error(`tcpdump: unexpected output ${err}`);
          return { captured: Number(cap[1]), drops: Number(drop[1]), cpu };
        };
      },
    });
  }
  return list;
}

async function flood(env: BenchEnv, hex: string, secs: number, pps?: number): Promise<{ sent: number; secs: number }> {
  const before = await rxPackets(env.rx.netns, env.rx.ifname);
  const args = ['packet', env.tx.ifname, hex, String(secs)];
  if (pps) args.push(String(pps));
  const out = await runIn(env.tx.netns, env.c.sendmmsg, args);
  await sleep(20);
  const m = /secs ([\d.]+)/.exec(out);
  if (!m) throw new Error(`sendmmsg: unexpected output ${out}`);
  return { sent: (await rxPackets(env.rx.netns, env.rx.ifname)) - before, secs: Number(m[1]) };
}

export const PACED_PPS = 200_000;

export async function benchCapture(env: BenchEnv, opts: BenchOptions, log: (s: string) => void): Promise<Row[]> {
  const spec = { src: env.tx.addr, dst: env.sink, sport: 40000, dport: 9, seq: 1, flags: 'S' as const };
  const hex = encodeEthernet(spec, { srcMac: env.tx.mac, dstMac: env.rx.mac }).toString('hex');
  const list = readers(env);
  const res = new Map<string, { rate: number[]; drops: number[]; loss: number[]; flood: number[]; cpuNs: number[] }>(
    list.map((r) => [r.name, { rate: [], drops: [], loss: [], flood: [], cpuNs: [] }]),
  );
  const paced = { rate: [] as number[], drops: [] as number[], loss: [] as number[], flood: [] as number[] };
  const decoder = list.find((r) => r.name === 'tcplab capture + decode()')!;
  for (let run = 0; run < opts.runs; run++) {
    for (const r of list) {
      const stop = await r.start();
      const f = await flood(env, hex, opts.secs);
      const got = await stop();
      const e = res.get(r.name)!;
      e.rate.push(got.captured / f.secs);
      e.drops.push(got.drops);
      e.loss.push(f.sent - got.captured);
      e.flood.push(f.sent / f.secs);
      if (got.cpu !== undefined && got.captured > 0) e.cpuNs.push((got.cpu / got.captured) * 1e9);
      log(`  capture run ${run + 1}/${opts.runs}  ${r.name.padEnd(30)} ${Math.round(got.captured / f.secs).toLocaleString('en')} pps of a ${Math.round(f.sent / f.secs).toLocaleString('en')} pps flood, drops ${got.drops}, missing ${f.sent - got.captured}`);
    }
    const stop = await decoder.start();
    const f = await flood(env, hex, opts.secs, PACED_PPS);
    const got = await stop();
    paced.rate.push(got.captured / f.secs);
    paced.drops.push(got.drops);
    paced.loss.push(f.sent - got.captured);
    paced.flood.push(f.sent / f.secs);
    log(`  capture run ${run + 1}/${opts.runs}  paced ${PACED_PPS} pps, decode(): ${got.captured} of ${f.sent}, drops ${got.drops}`);
  }
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0);
  const rows: Row[] = list.map((r) => {
    const e = res.get(r.name)!;
    return {
      section: 'capture',
      name: r.name,
      unit: 'pps',
      runs: e.rate,
      peer: r.peer,
      extra: {
        drops: sum(e.drops),
        missing: sum(e.loss),
        floodPps: Math.round(median(e.flood)),
        // The reader's own CPU per packet: what it would sustain on a free core, whatever the load now.
        ...(e.cpuNs.length ? { readerCpuNsPerPkt: Math.round(median(e.cpuNs)) } : {}),
      },
    };
  });
  rows.push({
    section: 'capture',
    name: `tcplab capture + decode() @${PACED_PPS / 1000}k`,
    unit: 'pps',
    runs: paced.rate,
    extra: { drops: sum(paced.drops), missing: sum(paced.loss), floodPps: Math.round(median(paced.flood)) },
    note: `flood paced to ${PACED_PPS} pps`,
  });
  return rows;
}

// Send rate: crafted SYNs (40 bytes, and 52 with the timestamp option) counted by the receiving kernel
// (rx_packets of the far veth). Each tcplab sender next to its like-for-like peer, interleaved per run.
// The SYNs go to env.sink, an address no kernel owns: the far kernel counts them and drops them in
// routing without replying, so the figure is the sending path alone.
import { createRequire } from 'node:module';
import { encode, encodeEthernet } from '../src/wire/segment.js';
import { openPacketSender, openRawSender } from '../src/wire/sender.js';
import { installed, runIn, rxPackets, sleep, type BenchEnv } from './env.js';
import { median } from './stats.js';
import type { BenchOptions, Row } from './types.js';

interface Case {
  name: string;
  peer?: string;
  /** Runs the sender; resolves the seconds it spent sending and the CPU seconds (user, sys) it used. */
  run: () => Promise<Timing>;
}
interface Timing {
  secs: number;
  user: number;
  sys: number;
}

/** Runs `fn` in this process, with its CPU time. */
function inProcess(fn: () => number): Timing {
  const c0 = process.cpuUsage();
  const secs = fn();
  const c = process.cpuUsage(c0);
  return { secs, user: c.user / 1e6, sys: c.system / 1e6 };
}
function parseTiming(out: string, what: string): Timing {
  const m = /secs ([\d.]+) .*user ([\d.]+) sys ([\d.]+)/.exec(out);
  if (!m) throw new Error(`${what}: unexpected output ${out}`);
  return { secs: Number(m[1]), user: Number(m[2]), sys: Number(m[3]) };
}

function isNoBufs(e: unknown): boolean {
  return (e as { code?: string }).code === 'ENOBUFS';
}

/** Calls `step` until `secs` have passed (clock read every `every` calls); returns the elapsed seconds. */
function loopFor(secs: number, every: number, step: () => void): number {
  const t0 = performance.now();
  const end = t0 + secs * 1000;
  let now = t0;
  while (now < end) {
    for (let i = 0; i < every; i++) {
      try {
        step();
      } catch (e) {
        if (!isNoBufs(e)) throw e; // qdisc full: the C baseline retries too
      }
    }
    now = performance.now();
  }
  return (now - t0) / 1000;
}

function cases(env: BenchEnv, secs: number, optLen: 40 | 52): Case[] {
  const { tx, rx } = env;
  const spec = {
    src: tx.addr, dst: env.sink, sport: 40000, dport: 9, seq: 1, flags: 'S' as const, window: 65535, ip: { id: 1 },
    options: optLen === 52 ? [{ kind: 'nop' as const }, { kind: 'nop' as const }, { kind: 'ts' as const, val: 1, ecr: 0 }] : [],
  };
  const dgram = encode(spec);
  if (dgram.length !== optLen) throw new Error(`bench: SYN is ${dgram.length} bytes, expected ${optLen}`);
  const frame = encodeEthernet(spec, { srcMac: tx.mac, dstMac: rx.mac });
  const B = `${optLen}B`;
  const cBaseline = (mode: 'packet' | 'raw', hex: string) => async () => {
    return parseTiming(await runIn(tx.netns, env.c.sendmmsg, [mode, tx.ifname, hex, String(secs)]), 'sendmmsg');
  };
  const rawSocket = createRequire(import.meta.url).resolve('raw-socket');
  // raw-socket's own pipelining: up to 512 sends queued, each completion queues the next.
  const rawSocketScript =
    `const raw=require(${JSON.stringify(rawSocket)});const s=raw.createSocket({protocol:raw.Protocol.TCP});` +
    's.setOption(raw.SocketLevel.IPPROTO_IP,raw.SocketOption.IP_HDRINCL,1);' +
    `const b=Buffer.from('${dgram.toString('hex')}','hex');const t0=performance.now();const end=t0+${secs * 1000};let out=0,done=false;` +
    `function pump(){while(out<512&&performance.now()<end){out++;s.send(b,0,b.length,'${env.sink}',(e)=>{if(e&&e.code!=='ENOBUFS')throw e;out--;pump();});}` +
    'if(!done&&performance.now()>=end&&out===0){done=true;s.close();const c=process.cpuUsage(c0);' +
    'console.log(`secs ${(performance.now()-t0)/1000} user ${c.user/1e6} sys ${c.system/1e6}`);}}const c0=process.cpuUsage();pump();';
  const list: Case[] = [
    { name: `C AF_PACKET sendmmsg ${B}`, run: cBaseline('packet', frame.toString('hex')) },
    {
      name: `tcplab PacketSender.sendBatch ${B}`,
      peer: `C AF_PACKET sendmmsg ${B}`,
      run: async () => {
        const s = openPacketSender({ ifname: tx.ifname, netns: tx.netns });
        const frames = new Array<Buffer>(256).fill(frame);
        try {
          return inProcess(() => loopFor(secs, 4, () => s.sendBatch(frames)));
        } finally {
          s.close();
        }
      },
    },
    { name: `C raw-IP sendmmsg ${B}`, run: cBaseline('raw', dgram.toString('hex')) },
    {
      name: `tcplab RawSender.sendBatch ${B}`,
      peer: `C raw-IP sendmmsg ${B}`,
      run: async () => {
        const s = openRawSender({ netns: tx.netns, device: tx.ifname });
        const batch = new Array<Buffer>(256).fill(dgram);
        try {
          return inProcess(() => loopFor(secs, 4, () => s.sendBatch(batch)));
        } finally {
          s.close();
        }
      },
    },
    {
      name: `tcplab RawSender.sendTemplate ${B}`,
      peer: `C raw-IP sendmmsg ${B}`,
      run: async () => {
        const s = openRawSender({ netns: tx.netns, device: tx.ifname });
        try {
          return inProcess(() => loopFor(secs, 1, () => s.sendTemplate(dgram, 1024, optLen === 52 ? { seqStep: 1, tsvalStep: 1 } : { seqStep: 1 })));
        } finally {
          s.close();
        }
      },
    },
    {
      name: `raw-socket send (pipelined) ${B}`,
      run: async () => parseTiming(await runIn(tx.netns, process.execPath, ['-e', rawSocketScript]), 'raw-socket'),
    },
    {
      name: `tcplab RawSender.send 1/call ${B}`,
      peer: `raw-socket send (pipelined) ${B}`,
      run: async () => {
        const s = openRawSender({ netns: tx.netns, device: tx.ifname });
        try {
          return inProcess(() => loopFor(secs, 256, () => s.send(dgram)));
        } finally {
          s.close();
        }
      },
    },
  ];
  return list;
}

/** Swaps each tcplab case with the peer case right before it. */
function swapPairs(list: readonly Case[]): Case[] {
  const out = [...list];
  for (let i = 1; i < out.length; i++) {
    if (out[i]!.peer === out[i - 1]!.name) [out[i - 1], out[i]] = [out[i]!, out[i - 1]!];
  }
  return out;
}

export async function benchSend(env: BenchEnv, opts: BenchOptions, log: (s: string) => void): Promise<Row[]> {
  const all = [...cases(env, opts.secs, 40), ...cases(env, opts.secs, 52)];
  const runs = new Map<string, number[]>(all.map((c) => [c.name, []]));
  const cpu = new Map<string, { user: number[]; total: number[] }>(all.map((c) => [c.name, { user: [], total: [] }]));
  for (let r = 0; r < opts.runs; r++) {
    // Alternate which of a pair goes first, so neither always follows the same neighbour.
    const order = r % 2 === 0 ? all : swapPairs(all);
    for (const c of order) {
      const before = await rxPackets(env.rx.netns, env.rx.ifname);
      const { secs, user, sys } = await c.run();
      await sleep(50); // let the backlog reach the counter
      const n = (await rxPackets(env.rx.netns, env.rx.ifname)) - before;
      runs.get(c.name)!.push(n / secs);
      cpu.get(c.name)!.user.push((user / n) * 1e9);
      cpu.get(c.name)!.total.push(((user + sys) / n) * 1e9);
      log(`  send run ${r + 1}/${opts.runs}  ${c.name.padEnd(40)} ${Math.round(n / secs).toLocaleString('en')} pps`);
    }
  }
  // CPU per received packet is much less sensitive to other load than the rate: it says where a gap is.
  // cpuRatio = peer CPU per packet / tcplab CPU per packet, per run then median: the efficiency ratio,
  // which holds whatever share of the CPU the other processes on the machine leave to the run.
  const rows: Row[] = all.map((c) => {
    const own = cpu.get(c.name)!.total;
    const peer = c.peer ? cpu.get(c.peer)?.total : undefined;
    return {
      section: 'send', name: c.name, unit: 'pps', runs: runs.get(c.name)!, peer: c.peer,
      extra: {
        userNsPerPkt: Math.round(median(cpu.get(c.name)!.user)),
        cpuNsPerPkt: Math.round(median(own)),
        ...(peer ? { cpuRatio: median(own.map((v, i) => peer[i]! / v)) } : {}),
      },
    };
  });
  for (const tool of ['hping3', 'scapy'] as const) {
    const present = tool === 'hping3' ? installed('hping3') : installed('scapy');
    rows.push({ section: 'send', name: `${tool}`, unit: 'pps', runs: [], note: present ? 'installed but not wired into the bench' : 'not installed: skipped' });
  }
  return rows;
}

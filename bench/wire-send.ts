// Throughput check of the wire: packets per second received on the far side of a veth (ns b's rx counter)
// for RawSender.send (one per call), sendBatch, sendTemplate, the raw-socket package, and a C AF_PACKET
// sendmmsg baseline; then capture rate of our Capture vs a C TPACKET_V3 reader under the same flood.
// Run as root after `npm run build`: node dist/bench/wire-send.js [seconds]
import { execFileSync, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { encode } from '../src/wire/segment.js';
import { openCapture, openRawSender } from '../src/wire/netns.js';
import { Wire } from '../src/wire/wire.js';
import { addonPath, packageRoot } from '../src/wire/native.js';

const SECONDS = Number(process.argv[2] ?? 2);
const id = randomInt(0x1000, 0xffff).toString(16);
const A = `tcplab-bench${id}-a`;
const B = `tcplab-bench${id}-b`;
const IFA = 'tcplab-va';
const IFB = 'tcplab-vb';
const IPA = '198.18.200.1';
const IPB = '198.18.200.2';
const GHOST = '198.18.200.99';

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
function cleanup(): void {
  for (const ns of [A, B]) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // not there
    }
  }
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

function setup(): { macA: string; macB: string } {
  for (const ns of [A, B]) {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  ip('-n', A, 'link', 'add', IFA, 'type', 'veth', 'peer', 'name', IFB, 'netns', B);
  ip('-n', A, 'addr', 'add', `${IPA}/24`, 'dev', IFA);
  ip('-n', B, 'addr', 'add', `${IPB}/24`, 'dev', IFB);
  ip('-n', A, 'link', 'set', IFA, 'up');
  ip('-n', B, 'link', 'set', IFB, 'up');
  const mac = (ns: string, dev: string): string => (JSON.parse(ip('-j', '-n', ns, 'link', 'show', dev)) as Array<{ address: string }>)[0]!.address;
  const macA = mac(A, IFA);
  const macB = mac(B, IFB);
  ip('-n', A, 'neigh', 'add', IPB, 'lladdr', macB, 'dev', IFA, 'nud', 'permanent');
  ip('-n', B, 'neigh', 'add', GHOST, 'lladdr', macA, 'dev', IFB, 'nud', 'permanent');
  return { macA, macB };
}

function rxPackets(): number {
  const j = JSON.parse(ip('-s', '-j', '-n', B, 'link', 'show', IFB)) as Array<{ stats64: { rx: { packets: number } } }>;
  return j[0]!.stats64.rx.packets;
}

async function measure(name: string, run: () => Promise<void> | void): Promise<void> {
  const before = rxPackets();
  const t0 = performance.now();
  await run();
  const dt = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 100));
  const n = rxPackets() - before;
  console.log(`${name.padEnd(40)} ${String(n).padStart(9)} pkts  ${Math.round(n / dt).toLocaleString('en').padStart(10)} pps`);
}

function timed(loop: () => void): () => void {
  return () => {
    const end = performance.now() + SECONDS * 1000;
    while (performance.now() < end) loop();
  };
}

function compileC(name: string): string | undefined {
  const src = join(packageRoot(), 'bench', 'c', `${name}.c`);
  const out = `/tmp/tcplab-bench-${name}`;
  try {
    execFileSync('gcc', ['-O2', '-o', out, src], { stdio: 'inherit' });
    return out;
  } catch {
    console.log(`(${name}.c not compiled: gcc missing or failed)`);
    return undefined;
  }
}

function inNs(ns: string, cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`${cmd} exited ${code}`))));
  });
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('wire-send bench needs root (namespaces, raw sockets)');
  const { macB } = setup();
  console.log(`wire-send bench: ${SECONDS}s per case, veth ${A}/${IFA} -> ${B}/${IFB}, rx counted on ${IFB}`);
  // ACK to a closed port with a wrong checksum: b's kernel counts it and drops it without answering.
  const dgram = encode({ src: GHOST, dst: IPB, sport: 40000, dport: 9, seq: 1, flags: '.', checksum: 'bad', ip: { id: 1 },
    options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'ts', val: 1, ecr: 0 }] });
  const tx = openRawSender({ netns: A, device: IFA });
  try {
    await measure('RawSender.send (1 per call)', timed(() => tx.send(dgram)));
    const batch = new Array<Buffer>(256).fill(dgram);
    await measure('RawSender.sendBatch (256)', timed(() => tx.sendBatch(batch)));
    await measure('RawSender.sendTemplate (stamped)', timed(() => tx.sendTemplate(dgram, 4096, { seqStep: 1, tsvalStep: 1 })));
  } finally {
    tx.close();
  }
  const rawSocket = createRequire(import.meta.url).resolve('raw-socket');
  const script =
    `const raw=require(${JSON.stringify(rawSocket)});const s=raw.createSocket({protocol:raw.Protocol.TCP});` +
    's.setOption(raw.SocketLevel.IPPROTO_IP,raw.SocketOption.IP_HDRINCL,1);' +
    `const b=Buffer.from('${dgram.toString('hex')}','hex');const end=Date.now()+${SECONDS * 1000};let out=0;` +
    `function pump(){while(out<512&&Date.now()<end){out++;s.send(b,0,b.length,'${IPB}',(e)=>{if(e)throw e;out--;pump();});}if(Date.now()>=end&&out===0)s.close();}pump();`;
  await measure('raw-socket send (pipelined, 512 in flight)', () => inNs(A, process.execPath, ['-e', script]).then(() => undefined));
  const ours = `const a=require(${JSON.stringify(addonPath())});const s=new a.RawSender({});` +
    `const b=Buffer.from('${dgram.toString('hex')}','hex');const end=Date.now()+${SECONDS * 1000};while(Date.now()<end)s.send(b);`;
  await measure('RawSender.send in a child (same as above)', () => inNs(A, process.execPath, ['-e', ours]).then(() => undefined));

  const sendmmsg = compileC('sendmmsg');
  if (sendmmsg) {
    let line = '';
    await measure('C AF_PACKET sendmmsg baseline', async () => {
      line = await inNs(A, sendmmsg, [IFA, macB, GHOST, IPB, String(SECONDS)]);
    });
    console.log(`  (sender says: ${line})`);

    // Capture rate under the C flood: ours (recvmmsg + uv_poll, Buffers to JS) vs a TPACKET_V3 ring in C.
    let n = 0;
    const cap = openCapture({ ifname: IFB, netns: B, onPackets: (b) => { n += b.length; } });
    const t0 = performance.now();
    await inNs(A, sendmmsg, [IFA, macB, GHOST, IPB, String(SECONDS)]);
    await new Promise((r) => setTimeout(r, 200));
    const dt = (performance.now() - t0) / 1000;
    const st = cap.stats();
    cap.close();
    console.log(`${'Capture (recvmmsg+uv_poll) into JS'.padEnd(40)} ${String(n).padStart(9)} pkts  ${Math.round(n / dt).toLocaleString('en').padStart(10)} pps  (kernel drops ${st.dropped})`);
    // The same through the typed face: CapturedPacket objects kept in wire.captured (decode stays lazy).
    {
      const wire = await Wire.open({ netns: B, ifname: IFB, filter: { dport: 9 }, sendFrom: { netns: A } });
      const t1 = performance.now();
      await inNs(A, sendmmsg, [IFA, macB, GHOST, IPB, String(SECONDS)]);
      await new Promise((r) => setTimeout(r, 200));
      const dt1 = (performance.now() - t1) / 1000;
      const ws = wire.stats();
      wire.close();
      console.log(`${'Wire (captured[] of CapturedPacket)'.padEnd(40)} ${String(ws.captured).padStart(9)} pkts  ${Math.round(ws.captured / dt1).toLocaleString('en').padStart(10)} pps  (kernel drops ${ws.dropped})`);
    }
    const tpv3 = compileC('tpacket_v3');
    if (tpv3) {
      const reader = inNs(B, tpv3, [IFB, String(SECONDS + 0.5)]);
      await new Promise((r) => setTimeout(r, 200));
      await inNs(A, sendmmsg, [IFA, macB, GHOST, IPB, String(SECONDS)]);
      console.log(`${'C TPACKET_V3 reader'.padEnd(40)} ${await reader}`);
    }
  }
}

main().then(
  () => {
    cleanup();
    process.exit(0);
  },
  (e: unknown) => {
    console.error(e);
    cleanup();
    process.exit(1);
  },
);

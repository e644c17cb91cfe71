// The raw sockets against a real kernel: a ghost-address SYN from namespace a to a listener in b, captured
// on a's veth. Packets are built and parsed by hand here so this test does not depend on the encoder.
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import type { NetnsPair } from '../helpers/netns-pair.js';
import { compileMatch } from '../../src/wire/bpf.js';
import { openCapture, type RawCaptured } from '../../src/wire/capture.js';
import { interfaceInfo, netnsId, threadNetnsId } from '../../src/wire/netns.js';
import { openPacketSender, openRawSender } from '../../src/wire/sender.js';
import { addonPath } from '../../src/wire/native.js';
import { buildTcp4, parseFrame, waitFor, usePairWithListener } from './wire-helpers.js';

describe('native wire: netns guard, RawSender, PacketSender, Capture', () => {
  requireRoot();
  let pair: NetnsPair;
  const usePair = usePairWithListener(8080);
  beforeAll(() => {
    pair = usePair();
  });

  it('the netns guard enters a namespace and always comes back to the thread\'s own', () => {
    const home = threadNetnsId();
    expect(netnsId(pair.a)).not.toBe(home);
    expect(netnsId(pair.a)).not.toBe(netnsId(pair.b));
    const info = interfaceInfo(pair.ifA, pair.a);
    expect(info.mac).toBe(pair.macA);
    expect(info.ifindex).toBeGreaterThan(1);
    expect(threadNetnsId()).toBe(home);
    // Errors inside the guard still restore the namespace.
    expect(() => interfaceInfo('tcplab-nope', pair.a)).toThrow(expect.objectContaining({ code: 'ENODEV' }));
    expect(threadNetnsId()).toBe(home);
    expect(() => interfaceInfo(pair.ifA)).toThrow(expect.objectContaining({ code: 'ENODEV' })); // not in the root ns
    expect(() => openCapture({ ifname: pair.ifA, netns: 'tcplab-does-not-exist', onPackets: () => {} })).toThrow(
      expect.objectContaining({ code: 'ENOENT', message: expect.stringMatching(/tcplab-does-not-exist/) }),
    );
    expect(threadNetnsId()).toBe(home);
    expect(() => openRawSender({ netns: '../etc' })).toThrow(RangeError);
    expect(() => openCapture({ ifname: 'way-too-long-interface-name', netns: pair.a, onPackets: () => {} })).toThrow(/ifname/);
    expect(() => openCapture({ ifname: pair.ifA, netns: pair.a } as never)).toThrow(TypeError);
    expect(() => openRawSender({ netns: pair.a, device: 'tcplab-nope' })).toThrow(expect.objectContaining({ code: 'ENODEV' }));
    expect(threadNetnsId()).toBe(home);
  });

  it('a ghost SYN gets a SYN-ACK acking ISN+1 and echoing TSval; a closed port gets RST-ACK; no RST from a', async () => {
    const got: RawCaptured[] = [];
    const cap = openCapture({ ifname: pair.ifA, netns: pair.a, filter: compileMatch({ host: pair.ghost }), onPackets: (b) => got.push(...b) });
    const tx = openRawSender({ netns: pair.a, device: pair.ifA });
    try {
      const isn = 0xfffffff0; // wraps: ack must be isn+1 mod 2^32
      tx.send(buildTcp4({ src: pair.ghost, dst: pair.ipB, sport: 40001, dport: 8080, seq: isn, flags: 0x02, tsval: 777777, id: 1 }));
      tx.send(buildTcp4({ src: pair.ghost, dst: pair.ipB, sport: 40002, dport: 8081, seq: 5000, flags: 0x02, tsval: 1, id: 2 }));
      await waitFor(() => got.length >= 4, 2000);
      await new Promise((r) => setTimeout(r, 300)); // room for any stray RST from a
      const parsed = got.map((p) => ({ ...parseFrame(p.data), dir: p.dir, ts: p.tsNs, off: p.csumOffloaded }));
      const synack = parsed.find((p) => p.sport === 8080 && p.flags === 0x12);
      expect(synack).toBeDefined();
      expect(synack!.dir).toBe('in');
      expect(synack!.ack).toBe((isn + 1) >>> 0);
      expect(synack!.tsecr).toBe(777777);
      const rst = parsed.find((p) => p.sport === 8081);
      expect(rst?.flags).toBe(0x14);
      expect(rst?.ack).toBe(5001);
      const out = parsed.filter((p) => p.dir === 'out');
      expect(out.map((p) => p.flags)).toEqual([0x02, 0x02]); // only our two SYNs left a: its kernel sent no RST
      // Both directions, kernel timestamps increasing along the exchange.
      const syn = parsed.find((p) => p.dir === 'out' && p.dport === 8080)!;
      expect(syn.ts).toBeLessThan(synack!.ts);
      expect(got.every((p) => p.ifindex === cap.ifindex)).toBe(true);
      expect(got.every((p) => typeof p.tsNs === 'bigint' && p.tsNs > 1_600_000_000_000_000_000n)).toBe(true);
      const st = cap.stats();
      expect(st.received).toBeGreaterThanOrEqual(4);
      expect(st.dropped).toBe(0);
    } finally {
      cap.close();
      tx.close();
    }
  });

  it('the BPF filter runs in the kernel: only matching packets reach JS', async () => {
    const got: RawCaptured[] = [];
    const cap = openCapture({ ifname: pair.ifB, netns: pair.b, filter: compileMatch({ dport: 9999 }), onPackets: (b) => got.push(...b) });
    const tx = openRawSender({ netns: pair.a });
    try {
      for (let i = 0; i < 5; i++) tx.send(buildTcp4({ src: pair.ghost, dst: pair.ipB, sport: 41000 + i, dport: 9998 + (i % 2), seq: 1, flags: 0x10, id: 3 }));
      await waitFor(() => got.length >= 2, 2000);
      await new Promise((r) => setTimeout(r, 200));
      expect(got.map((p) => parseFrame(p.data).dport)).toEqual([9999, 9999]);
      expect(got.every((p) => p.dir === 'in')).toBe(true);
    } finally {
      cap.close();
      tx.close();
    }
  });

  it('sendBatch and sendTemplate deliver every packet with correct checksums and stamps', async () => {
    const got: RawCaptured[] = [];
    const cap = openCapture({ ifname: pair.ifB, netns: pair.b, filter: compileMatch({ dport: 7000 }), onPackets: (b) => got.push(...b) });
    const tx = openRawSender({ netns: pair.a });
    try {
      const batch = Array.from({ length: 50 }, (_, i) =>
        buildTcp4({ src: pair.ghost, dst: pair.ipB, sport: 42000, dport: 7000, seq: i, flags: 0x10, id: 9 }));
      expect(tx.sendBatch(batch)).toBe(50);
      const tpl = buildTcp4({ src: pair.ghost, dst: pair.ipB, sport: 43000, dport: 7000, seq: 100, flags: 0x10, tsval: 10, id: 9 });
      expect(tx.sendTemplate(tpl, 300, { seqStart: 0xffffff00, seqStep: 3, sportStep: 1, tsvalStep: 1000 })).toBe(300);
      await waitFor(() => got.length >= 350, 3000);
      const ps = got.map((p) => parseFrame(p.data));
      expect(ps.slice(0, 50).map((p) => p.seq)).toEqual(batch.map((_, i) => i));
      const t = ps.slice(50);
      t.forEach((p, i) => {
        expect(p.seq).toBe((0xffffff00 + 3 * i) >>> 0);
        expect(p.sport).toBe(43000 + i);
        expect(p.tsval).toBe(10 + 1000 * i);
        expect(p.checksumOk).toBe(true);
      });
      expect(() => tx.sendTemplate(buildTcp4({ src: pair.ghost, dst: pair.ipB, sport: 1, dport: 7000, seq: 1, flags: 0x10 }), 1, { tsvalStart: 5 }))
        .toThrow(/tsvalStart/);
    } finally {
      cap.close();
      tx.close();
    }
  });

  it('the native senders refuse destinations outside the lab ranges by default', () => {
    const tx = openRawSender({ netns: pair.a });
    const ps = openPacketSender({ ifname: pair.ifA, netns: pair.a });
    try {
      const out = buildTcp4({ src: pair.ghost, dst: '8.8.8.8', sport: 1, dport: 53, seq: 1, flags: 0x02 });
      const ok = buildTcp4({ src: pair.ghost, dst: pair.ipB, sport: 1, dport: 7999, seq: 1, flags: 0x02 });
      expect(() => tx.send(out)).toThrow(/dst: 8\.8\.8\.8 .*allowAnyDestination/);
      expect(() => tx.sendBatch([ok, out])).toThrow(/dst: 8\.8\.8\.8 \(datagrams\[1\]\)/);
      expect(() => tx.sendTemplate(out, 5)).toThrow(RangeError);
      const v6 = Buffer.alloc(60);
      v6[0] = 0x60;
      v6[6] = 6;
      v6.set([0x20, 0x01, 0x0d, 0xb8], 24); // 2001:db8::
      expect(() => tx.send(v6)).toThrow(/dst: 2001:db8::/);
      const eth = (ethertype: number, ip: Buffer): Buffer => Buffer.concat([Buffer.alloc(12), Buffer.from([ethertype >> 8, ethertype & 0xff]), ip]);
      expect(() => ps.send(eth(0x0800, out))).toThrow(/dst: 8\.8\.8\.8/);
      expect(() => ps.send(eth(0x0806, Buffer.alloc(28)))).toThrow(/allowAnyDestination/);
      expect(() => openRawSender({ allowAnyDestination: 'yes' } as never)).toThrow(TypeError);
    } finally {
      tx.close();
      ps.close();
    }
  });

  it('PacketSender sends whole frames', async () => {
    const got: RawCaptured[] = [];
    const cap = openCapture({ ifname: pair.ifB, netns: pair.b, filter: compileMatch({ dport: 7100 }), onPackets: (b) => got.push(...b) });
    const tx = openPacketSender({ ifname: pair.ifA, netns: pair.a });
    try {
      const ip = buildTcp4({ src: pair.ghost, dst: pair.ipB, sport: 1234, dport: 7100, seq: 42, flags: 0x10, id: 5 });
      const mac = (m: string): Buffer => Buffer.from(m.split(':').map((x) => parseInt(x, 16)));
      const frame = Buffer.concat([mac(pair.macB), mac(pair.macA), Buffer.from([0x08, 0x00]), ip]);
      tx.send(frame);
      expect(tx.sendBatch([frame, frame])).toBe(2);
      await waitFor(() => got.length >= 3, 2000);
      expect(got[0]!.data.equals(frame)).toBe(true);
      expect(() => tx.send(Buffer.alloc(5))).toThrow(RangeError);
    } finally {
      cap.close();
      tx.close();
    }
  });

  it('closed objects: double close is safe, use after close is ERR_CLOSED; close inside the callback', async () => {
    const tx = openRawSender({ netns: pair.a });
    tx.close();
    tx.close();
    expect(tx.closed).toBe(true);
    expect(() => tx.send(Buffer.alloc(40))).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    const ps = openPacketSender({ ifname: pair.ifA, netns: pair.a });
    ps.close();
    ps.close();
    expect(() => ps.send(Buffer.alloc(60))).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));

    let calls = 0;
    const cap = openCapture({
      ifname: pair.ifB, netns: pair.b, filter: compileMatch({ dport: 7200 }), batch: 1,
      onPackets: () => {
        calls++;
        cap.close();
        cap.close();
      },
    });
    const tx2 = openRawSender({ netns: pair.a });
    for (let i = 0; i < 20; i++) tx2.send(buildTcp4({ src: pair.ghost, dst: pair.ipB, sport: 1, dport: 7200, seq: i, flags: 0x10, id: 1 }));
    tx2.close();
    await waitFor(() => calls > 0, 2000);
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toBe(1);
    expect(cap.closed).toBe(true);
    expect(() => cap.stats()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
  });

  it('without privileges: EPERM with the setcap hint; an exception in onPackets reaches uncaughtException', () => {
    const addon = JSON.stringify(addonPath());
    const unpriv = `const a=require(${addon});for(const f of [()=>new a.RawSender({}),()=>new a.Capture({ifname:'lo',onPackets(){}})])` +
      `{try{f();console.log('opened')}catch(e){console.log(e.code,e.errno,/setcap/.test(e.message))}}`;
    const out = execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, '-e', unpriv], { encoding: 'utf8' });
    expect(out.trim().split('\n')).toEqual(['EPERM 1 true', 'EPERM 1 true']);

    // A throwing consumer: reported as uncaught, the capture survives and can be closed from the handler.
    const throwing = `const a=require(${addon});let n=0;` +
      `const c=new a.Capture({ifname:'lo',onPackets(){n++;throw new Error('consumer bug')}});` +
      `process.on('uncaughtException',(e)=>{console.log('uncaught',e.message,n);c.close();});` +
      `const s=new a.RawSender({});const b=Buffer.from('${buildTcp4({ src: '127.0.0.1', dst: '127.0.0.1', sport: 1, dport: 9, seq: 1, flags: 0x10 }).toString('hex')}','hex');s.send(b);s.close();`;
    const out2 = execFileSync('ip', ['netns', 'exec', pair.a, process.execPath, '-e', throwing], { encoding: 'utf8', timeout: 10_000 });
    expect(out2.trim().split('\n')[0]).toBe('uncaught consumer bug 1');
  });

  it('open/close cycles leak no file descriptors, uv handles or buffers', async () => {
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const cycle = (): void => {
      const cap = openCapture({ ifname: pair.ifB, netns: pair.b, filter: compileMatch({ dport: 7700 }), onPackets: () => {} });
      const tx = openRawSender({ netns: pair.a, device: pair.ifA });
      const ps = openPacketSender({ ifname: pair.ifA, netns: pair.a });
      cap.close();
      tx.close();
      ps.close();
    };
    // AF_PACKET fds are closed on a helper thread (the kernel waits an RCU grace period): let them settle.
    const settle = async (): Promise<number> => {
      let last = -1;
      for (let i = 0; i < 100; i++) {
        await new Promise((r) => setTimeout(r, 20));
        const n = fds();
        if (n === last) return n;
        last = n;
      }
      return last;
    };
    for (let i = 0; i < 10; i++) cycle();
    const before = await settle();
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    for (let i = 0; i < 300; i++) cycle();
    const perCycleMs = (performance.now() - t0) / 300;
    expect(await settle()).toBe(before);
    expect(perCycleMs).toBeLessThan(10); // closing never waits for the kernel on the loop thread
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 << 20); // 300 x 4 MiB receive slots would be 1.2 GiB
    expect((process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length).toBeLessThan(20);
  });

  it('pause stops callbacks, resume delivers what queued meanwhile', async () => {
    const got: RawCaptured[] = [];
    const cap = openCapture({ ifname: pair.ifB, netns: pair.b, filter: compileMatch({ dport: 7300 }), onPackets: (b) => got.push(...b) });
    const tx = openRawSender({ netns: pair.a });
    try {
      cap.pause();
      for (let i = 0; i < 10; i++) tx.send(buildTcp4({ src: pair.ghost, dst: pair.ipB, sport: 1, dport: 7300, seq: i, flags: 0x10, id: 1 }));
      await new Promise((r) => setTimeout(r, 200));
      expect(got.length).toBe(0);
      cap.resume();
      await waitFor(() => got.length >= 10, 2000);
      expect(got.map((p) => parseFrame(p.data).seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      cap.close();
      tx.close();
    }
  });

  it('timers keep firing while a flood is captured', async () => {
    let n = 0;
    // A slow consumer (~5 us per packet) cannot keep up with the flood, so the socket never runs dry: only
    // the per-wake budget gives timers their turn (with an unbounded drain this test fails).
    const spin = (us: number): void => {
      const end = performance.now() + us / 1000;
      while (performance.now() < end);
    };
    const cap = openCapture({
      ifname: pair.ifB, netns: pair.b, filter: compileMatch({ dport: 7400 }),
      onPackets: (b) => {
        n += b.length;
        spin(5 * b.length);
      },
    });
    const ticks: number[] = [];
    const iv = setInterval(() => ticks.push(performance.now()), 10);
    try {
      // A bad TCP checksum keeps b's kernel quiet; the capture still sees every frame.
      const tpl = buildTcp4({ src: pair.ghost, dst: pair.ipB, sport: 1, dport: 7400, seq: 1, flags: 0x10, id: 1, badChecksum: true });
      const script = `const a=require(${JSON.stringify(addonPath())});const s=new a.RawSender({});` +
        `const t=Buffer.from('${Buffer.from(tpl).toString('hex')}','hex');const end=Date.now()+1500;` +
        'while(Date.now()<end) s.sendTemplate(t,2000,{seqStep:1});';
      const child = spawn('ip', ['netns', 'exec', pair.a, process.execPath, '-e', script], { stdio: 'inherit' });
      const t0 = performance.now();
      await new Promise((r) => child.on('exit', r));
      const elapsed = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 200));
      const during = ticks.filter((t) => t >= t0 && t <= t0 + elapsed);
      const gaps = during.slice(1).map((t, i) => t - during[i]!);
      expect(n).toBeGreaterThan(20000);
      expect(cap.stats().dropped).toBeGreaterThan(0); // the flood did outpace the consumer
      expect(during.length).toBeGreaterThan((elapsed / 10) * 0.3);
      expect(Math.max(...gaps)).toBeLessThan(250); // draining the flood in one go would block for seconds
      const st = cap.stats();
      expect(st.received).toBeGreaterThanOrEqual(n);
    } finally {
      clearInterval(iv);
      cap.close();
    }
  });
});

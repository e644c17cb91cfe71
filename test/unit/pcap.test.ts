import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PcapFormatError, PcapWriter, parsePcapBuffer, readPcap } from '../../src/wire/pcap.js';
import { encode } from '../../src/wire/segment.js';

const dir = mkdtempSync(join(tmpdir(), 'tcplab-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const segs = [0, 1, 2, 3].map((i) =>
  encode({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1000 + i, dport: 80, seq: i, flags: 'S', payload: 'x'.repeat(i * 100) }));
const stamps = [1_700_000_000_123_456_789n, 1_700_000_000_123_456_790n, 1_700_000_001_000_000_000n, 5n];

async function write(path: string, resolution: 'ns' | 'us') {
  const w = await PcapWriter.open(path, { link: 'raw', resolution });
  segs.forEach((data, i) => w.write({ data, tsNs: stamps[i]! }));
  await w.close();
}

describe('pcap', () => {
  it('writes the nanosecond magic and reads it back exactly', async () => {
    const p = join(dir, 'ns.pcap');
    await write(p, 'ns');
    const raw = readFileSync(p);
    expect(raw.readUInt32LE(0)).toBe(0xa1b23c4d);
    expect(raw.readUInt32LE(20)).toBe(101);
    const f = await readPcap(p);
    expect(f).toMatchObject({ link: 'raw', linkType: 101, resolution: 'ns' });
    expect(f.records.map((r) => r.tsNs)).toEqual(stamps);
    f.records.forEach((r, i) => {
      expect(Buffer.from(r.data).equals(segs[i]!)).toBe(true);
      expect(r.origLen).toBe(segs[i]!.length);
    });
  });

  it('microsecond files go through pcap-parser and agree with the own reader', async () => {
    const p = join(dir, 'us.pcap');
    await write(p, 'us');
    expect(readFileSync(p).readUInt32LE(0)).toBe(0xa1b2c3d4);
    const viaParser = await readPcap(p);
    const viaOwn = parsePcapBuffer(readFileSync(p));
    expect(viaParser.resolution).toBe('us');
    expect(viaParser.records.map((r) => r.tsNs)).toEqual(stamps.map((t) => (t / 1000n) * 1000n));
    expect(viaParser).toEqual(viaOwn);
  });

  it('cuts records at snaplen and keeps origLen', async () => {
    const p = join(dir, 'snap.pcap');
    const w = await PcapWriter.open(p, { link: 'ethernet', snaplen: 50 });
    w.write({ data: segs[3]!, tsNs: 1n });
    await w.close();
    const f = await readPcap(p);
    expect(f.link).toBe('ethernet');
    expect(f.records[0]!.data.length).toBe(50);
    expect(f.records[0]!.origLen).toBe(segs[3]!.length);
  });

  it('tcpdump reads what the writer wrote', async () => {
    const { execFileSync } = await import('node:child_process');
    const p = join(dir, 'td.pcap');
    await write(p, 'ns');
    const out = execFileSync('tcpdump', ['-nr', p, '--time-stamp-precision=nano', '-tt'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(out.split('\n')[0]).toMatch(/^1700000000\.123456789 IP 198\.18\.0\.1\.1000 > 198\.18\.0\.2\.80: Flags \[S\]/);
  });

  it('every truncation of a file gives a PcapFormatError, never a crash or a silent short read', async () => {
    for (const res of ['ns', 'us'] as const) {
      const p = join(dir, `full-${res}.pcap`);
      await write(p, res);
      const full = readFileSync(p);
      const boundaries = new Set<number>([24]);
      let off = 24;
      for (const s of segs) boundaries.add((off += 16 + s.length));
      for (let n = 0; n < full.length; n++) {
        const t = join(dir, `cut-${res}.pcap`);
        writeFileSync(t, full.subarray(0, n));
        if (boundaries.has(n)) {
          await expect(readPcap(t)).resolves.toMatchObject({ resolution: res });
        } else {
          const err = await readPcap(t).then(() => undefined, (e: unknown) => e);
          expect(err, `cut at ${n} (${res})`).toBeInstanceOf(PcapFormatError);
          expect((err as Error).message).toMatch(/truncated/);
        }
      }
    }
  });

  it('rejects non-pcap files and bad writer input clearly', async () => {
    const p = join(dir, 'junk.pcap');
    writeFileSync(p, Buffer.from('0a0d0d0a' + '00'.repeat(40), 'hex'));
    await expect(readPcap(p)).rejects.toThrow(/not a pcap file.*pcapng/);
    await expect(readPcap(join(dir, 'missing.pcap'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(PcapWriter.open(join(dir, 'x.pcap'), { link: 'fddi' as 'raw' })).rejects.toThrow(/^link:/);
    const w = await PcapWriter.open(join(dir, 'y.pcap'), { link: 'raw' });
    expect(() => w.write({ data: segs[0]!, tsNs: 5 as unknown as bigint })).toThrow(/^tsNs:/);
    expect(() => w.write({ data: segs[0]!, tsNs: 2n ** 64n })).toThrow(RangeError);
    await w.close();
    expect(() => w.write({ data: segs[0]!, tsNs: 1n })).toThrow(/write after close/);
  });
});

describe('pcap writer errors', () => {
  it('a failed stream surfaces its error on close instead of hanging', async () => {
    const w = await PcapWriter.open(join(dir, 'err.pcap'), { link: 'raw' });
    // Simulate an I/O failure (disk full, EIO) the way fs reports one: an 'error' on the stream.
    const stream = (w as unknown as { stream: NodeJS.EventEmitter & { destroy(e: Error): void } }).stream;
    stream.destroy(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
    await new Promise((r) => setTimeout(r, 10));
    expect(() => w.write({ data: new Uint8Array(1), tsNs: 1n })).toThrow(/ENOSPC/);
    await expect(w.close()).rejects.toThrow(/ENOSPC/);
  });
});

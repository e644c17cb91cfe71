import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parsePcapng } from '../../src/inspect/capture.js';
import { encodePcapng, writePcapng } from '../../src/wire/pcapng.js';
import { encode } from '../../src/wire/segment.js';

const dir = mkdtempSync(join(tmpdir(), 'tcplab-pcapng-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const syn = encode({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1000, dport: 80, seq: 7, flags: 'S' });

describe('pcapng writer', () => {
  it('writes SHB, IDB and EPB byte for byte as the format says', () => {
    const b = encodePcapng({
      interfaces: [{ name: 'ab', link: 'raw' }],
      packets: [{ iface: 0, tsNs: 0x1_0000_0002n, data: Uint8Array.from([1, 2, 3]), dir: 'out', comments: ['hi'] }],
      application: 'tcplab',
    });
    const hex = b.toString('hex');
    // SHB: type, length 44, byte-order magic, v1.0, section length -1, shb_userappl 'tcplab' (6 -> 8), end, length.
    const shb = '0a0d0d0a' + '2c000000' + '4d3c2b1a' + '0100' + '0000' + 'ffffffffffffffff'
      + '0400' + '0600' + Buffer.from('tcplab').toString('hex') + '0000' + '00000000' + '2c000000';
    // IDB: type 1, length 40, LINKTYPE_RAW 101, reserved, snaplen 262144, if_name 'ab', if_tsresol 9, end, length.
    const idb = '01000000' + '28000000' + '6500' + '0000' + '00000400'
      + '0200' + '0200' + '61620000' + '0900' + '0100' + '09000000' + '00000000' + '28000000';
    // EPB: type 6, length 56, iface 0, ts high 1, ts low 2, caplen 3, origlen 3, data padded, comment 'hi',
    // epb_flags outbound (2), end, length.
    const epb = '06000000' + '38000000' + '00000000' + '01000000' + '02000000' + '03000000' + '03000000' + '01020300'
      + '0100' + '0200' + '68690000' + '0200' + '0400' + '02000000' + '00000000' + '38000000';
    expect(hex).toBe(shb + idb + epb);
  });

  it('inspect reads it back: interfaces, names, nanosecond stamps, data', () => {
    const b = encodePcapng({
      interfaces: [{ name: 'client:tcplab-x', link: 'raw' }, { name: 'server:tcplab-y', link: 'ethernet', snaplen: 2 }],
      packets: [
        { iface: 0, tsNs: 1_700_000_000_123_456_789n, data: syn },
        { iface: 1, tsNs: 1_700_000_000_123_456_790n, data: Uint8Array.from([9, 8, 7]), comments: ['a', 'b'], dir: 'in' },
      ],
    });
    const f = parsePcapng(b);
    expect(f.interfaces).toEqual([{ linkType: 101, name: 'client:tcplab-x', snaplen: 262144 }, { linkType: 1, name: 'server:tcplab-y', snaplen: 2 }]);
    expect(f.frames.map((x) => [x.index, x.iface, x.tsNs, x.origLen])).toEqual([[1, 0, 1_700_000_000_123_456_789n, syn.length], [2, 1, 1_700_000_000_123_456_790n, 3]]);
    expect(Buffer.from(f.frames[0]!.data).equals(syn)).toBe(true);
    expect([...f.frames[1]!.data]).toEqual([9, 8]); // cut at the interface's snaplen
  });

  it('names the field on bad input', () => {
    expect(() => encodePcapng({ interfaces: [{ name: 'x', link: 'tokenring' as never }], packets: [] })).toThrow(/interfaces\[0\]\.link/);
    expect(() => encodePcapng({ interfaces: [{ name: 'x', link: 'raw' }], packets: [{ iface: 1, tsNs: 0n, data: syn }] })).toThrow(/packets\[0\]\.iface/);
    expect(() => encodePcapng({ interfaces: [{ name: 'x', link: 'raw' }], packets: [{ iface: 0, tsNs: -1n, data: syn }] })).toThrow(/packets\[0\]\.tsNs/);
    expect(() => encodePcapng({ interfaces: [{ name: 'x', link: 'raw' }], packets: [{ iface: 0, tsNs: 0n, data: syn, comments: ['x'.repeat(70000)] }] })).toThrow(/65535/);
  });

  it('tshark reads comments, interface names, direction and nanosecond times', async () => {
    const p = join(dir, 'a.pcapng');
    await writePcapng(p, {
      interfaces: [{ name: 'client:tcplab-x', link: 'raw' }, { name: 'server:tcplab-y', link: 'raw' }],
      packets: [
        { iface: 0, tsNs: 1_700_000_000_123_456_789n, data: syn, dir: 'out', comments: ['step 1: connect', 'check ok: PASS'] },
        { iface: 1, tsNs: 1_700_000_000_223_456_789n, data: syn, dir: 'in' },
      ],
    });
    const out = execFileSync('tshark', ['-r', p, '-T', 'fields', '-E', 'separator=|', '-e', 'frame.number', '-e', 'frame.interface_name',
      '-e', 'frame.comment', '-e', 'frame.time_epoch', '-e', 'tcp.flags.syn'], { encoding: 'utf8' });
    expect(out.trim().split('\n')).toEqual([
      '1|client:tcplab-x|step 1: connect,check ok: PASS|1700000000.123456789|1',
      '2|server:tcplab-y||1700000000.223456789|1',
    ]);
  });
});

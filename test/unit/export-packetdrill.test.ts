// The packetdrill exporter without root: a synthetic case becomes the expected script, every script
// committed under docs/packetdrill/ (exported from real runs) passes the syntax checker, and the
// checker itself rejects what packetdrill would.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportCase, type CaseSource } from '../../src/export/packetdrill/script.js';
import { parseScript } from '../../src/export/packetdrill/syntax.js';
import { exportRefusal, EXPORT_LABS } from '../../src/export/packetdrill/exportable.js';
import { allLabs } from '../../labs/index.js';
import type { PacketRecord } from '../../src/lab/packets.js';
import type { PeerCallRecord } from '../../src/peer/record.js';
import type { Segment, TcpOption } from '../../src/wire/types.js';

const SRV = '198.18.1.2';
const CLI = '198.18.1.200';
const ms = (n: number) => 1_000_000_000_000n + BigInt(n) * 1_000_000n;

function seg(dir: '<' | '>', flags: string, seq: number, ack: number, opts: TcpOption[] = [], payload = ''): Segment {
  const [src, dst, sport, dport] = dir === '<' ? [CLI, SRV, 33000, 8080] : [SRV, CLI, 8080, 33000];
  return { family: 4, src, dst, sport, dport, seq, ack, flagBits: 0, flags, window: dir === '<' ? 64240 : 64, urg: 0, options: opts, payload: Buffer.from(payload) } as unknown as Segment;
}
const pkt = (t: number, s: Segment, crafted = false): PacketRecord => ({ tsNs: ms(t), dir: 'out', point: 'prober:veth', segment: s, ...(crafted ? { crafted } : {}) });
const call = (t: number, op: string, args: Record<string, unknown>, result: Record<string, unknown>, end = t): PeerCallRecord => ({ peer: 0, op, args, result: { ok: true, ...result }, startNs: ms(t), endNs: ms(end) });
const ts = (val: number, ecr: number): TcpOption[] => [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'ts', val, ecr }];

/** A TIME-WAIT SYN story: handshake with timestamps, server closes first, a new SYN gets a derived SYN-ACK. */
function source(extra: PacketRecord[] = []): CaseSource {
  const ISN = 1_000_000;
  const K = 3_000_000_000; // the kernel's ISN
  const packets = [
    pkt(10, seg('<', 'S', ISN, 0, [{ kind: 'mss', value: 1460 }, ...ts(500, 0)])),
    pkt(10, seg('>', 'S.', K, ISN + 1, [{ kind: 'mss', value: 1460 }, ...ts(7000, 500)])),
    pkt(11, seg('<', '.', ISN + 1, K + 1, ts(501, 7000))),
    pkt(20, seg('>', 'F.', K + 1, ISN + 1, ts(7010, 501))),
    pkt(21, seg('<', 'F.', ISN + 1, K + 2, ts(502, 7010))),
    pkt(21, seg('>', '.', K + 2, ISN + 2, ts(7011, 502))),
    pkt(120, seg('<', 'S', ISN + 100_002, 0, ts(600, 0))),
    pkt(120, seg('>', 'S.', K + 2 + 65537, ISN + 100_003, ts(7111, 600))),
    ...extra,
  ];
  const peerCalls = [
    call(0, 'listen', { addr: SRV, port: 8080, reuseAddr: true }, { sock: 1 }),
    call(12, 'accept', { sock: 1, timeoutMs: 2000 }, { sock: 2 }, 15),
    call(20, 'close', { sock: 2 }, {}),
  ];
  return {
    labId: 'timewait-syn', subject: 'server', kernel: 'linux 6.18',
    case: {
      id: 'isn-above', title: 'ISN above', verdict: 'PASS', steps: [], checks: [],
      columns: [{ label: 'prober', addrs: [CLI] }, { label: 'server', addrs: [SRV] }],
      sysctls: { 'server:net.ipv4.tcp_timestamps': '1', 'prober:net.ipv4.tcp_rfc1337': '1', 'server:net.ipv4.ip_local_port_range': '40000 40000' },
      packets, peerCalls,
    },
  };
}

function body(script: string): string[] {
  return script.split('\n').filter((l) => l && !l.startsWith('//') && !l.startsWith('--')).map((l) => l.trim());
}

describe('exportCase', () => {
  it('writes syscalls, relative sequence numbers, mapped TS vals and the subject\'s sysctls', () => {
    const r = exportCase(source());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(parseScript(r.script).problems).toEqual([]);
    expect(body(r.script)).toEqual([
      '0 `sysctl -q net.ipv4.tcp_timestamps=1`',
      '+0 `sysctl -q net.ipv4.ip_local_port_range="40000 40000"`',
      '+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3',
      '+0 setsockopt(3, SOL_SOCKET, SO_REUSEADDR, [1], 4) = 0',
      '+0 bind(3, ..., ...) = 0',
      '+0 listen(3, 128) = 0',
      // An inbound SYN's seq is absolute, and so is the SYN-ACK's ack; the rest is relative.
      '+0.01 < S 1000000:1000000(0) win 64240 <mss 1460,nop,nop,TS val 500 ecr 0>',
      '+0 > S. 0:0(0) ack 1000001 win 64 <mss 1460,nop,nop,TS val 100 ecr 500>',
      '+0.001 < . 1:1(0) ack 1 win 64240 <nop,nop,TS val 501 ecr 100>',
      // accept() ran 12..15 ms, after the handshake's ACK (11 ms): it did not block.
      '+0.001 accept(3, ..., ...) = 4',
      '+0.008 close(4) = 0',
      '+0 > F. 1:1(0) ack 1 win 64 <nop,nop,TS val 110 ecr 501>',
      '+0.001 < F. 1:1(0) ack 2 win 64240 <nop,nop,TS val 502 ecr 110>',
      '+0 > . 2:2(0) ack 2 win 64 <nop,nop,TS val 111 ecr 502>',
      '+0.099 < S 1100002:1100002(0) win 64240 <nop,nop,TS val 600 ecr 0>',
      // The TIME-WAIT's derived ISN (old snd_nxt + 65537) stays on the first SYN-ACK's base.
      '+0 > S. 65539:65539(0) ack 1100003 win 64 <nop,nop,TS val 211 ecr 600>',
    ]);
    expect(r.script).toContain('--tolerance_usecs=10000');
  });

  it('leaves out what the lab crafted as the subject, and checks a fresh-ISN SYN-ACK with ss', () => {
    const src = source();
    src.case.packets = src.case.packets.slice(0, -1);
    src.case.packets.push(pkt(100, seg('>', 'R', 1, 0), true), pkt(120, seg('>', 'S.', 12345, 1_100_003)));
    const r = exportCase(src);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.script).toMatch(/\/\/ the lab crafted 'R' seq 1 as the server/);
    expect(body(r.script).at(-1)).toBe("+0.001 `ss -Htn state syn-recv 'sport = :8080' | grep -q .`");
    expect(body(r.script).some((l) => l.includes('> R'))).toBe(false);
    expect(parseScript(r.script).problems).toEqual([]);
  });

  it('writes a read that waited for the FIN as blocking, and takes the FIN/close ACK race out', () => {
    const src = source();
    const [syn, synAck, ack] = src.case.packets;
    src.case.packets = [syn!, synAck!, ack!,
      pkt(50, seg('<', 'F.', 1_000_001, 3_000_000_001, ts(510, 7000))),
      // The kernel waited and put its ACK of the FIN on its own FIN (the run's way; it may go the other).
      pkt(52, seg('>', 'F.', 3_000_000_001, 1_000_002, ts(7040, 510))),
      pkt(53, seg('<', '.', 1_000_002, 3_000_000_002, ts(511, 7040))),
    ];
    src.case.peerCalls = [src.case.peerCalls![0]!, src.case.peerCalls![1]!,
      call(30, 'recv', { sock: 2, timeoutMs: 2000 }, { data: '', bytes: 0, eof: true, timedOut: false }, 51),
      call(52, 'shutdown', { sock: 2, how: 'wr' }, {})];
    const r = exportCase(src);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(parseScript(r.script).problems).toEqual([]);
    expect(body(r.script).slice(-6)).toEqual([
      // recv() blocked from 30 ms until the FIN came at 50 ms.
      '+0.018...0.038 read(4, ..., 65536) = 0',
      '+0.02 < F. 1:1(0) ack 1 win 64240 <nop,nop,TS val 510 ecr 100>',
      '+0~+0.045 > . 1:1(0) ack 2 win 64 <nop,nop,TS val 140 ecr 510>',
      '+0.052 shutdown(4, SHUT_WR) = 0',
      '+0 > F. 1:1(0) ack 2 win 64 <nop,nop,TS val 140 ecr 510>',
      '+0.001 < . 2:2(0) ack 2 win 64240 <nop,nop,TS val 511 ecr 140>',
    ]);
  });

  it('refuses a subject that connects out, and one that talks to two remotes', () => {
    const a = source();
    a.case.peerCalls = [...a.case.peerCalls!, call(30, 'connect', { addr: CLI, port: 80, timeoutMs: 1 }, { sock: 3, localAddr: SRV, localPort: 40000 })];
    const ra = exportCase(a);
    expect(ra.ok === false && ra.why).toMatch(/connects out/);
    const b = source([pkt(130, { ...seg('<', 'S', 5, 0), sport: 33001 } as Segment)]);
    const rb = exportCase(b);
    expect(rb.ok === false && rb.why).toMatch(/2 remote endpoints/);
  });
});

describe('exportRefusal', () => {
  it('names a reason for every case it refuses, and knows every covered lab', () => {
    for (const id of EXPORT_LABS) expect(allLabs.some((l) => l.id === id)).toBe(true);
    expect(exportRefusal('reuse', 'reuse1', 'client', undefined)).toMatch(/connecting out/);
    expect(exportRefusal('reuse', 'reuse2', 'server', undefined)).toMatch(/loopback/);
    expect(exportRefusal('lastack', 'normal', 'client', undefined)).toMatch(/nftables/);
    expect(exportRefusal('lastack', 'normal', 'server', undefined)).toBeUndefined();
    expect(exportRefusal('timewait-syn', 'isn-above', 'server', 'qemu-6.1')).toMatch(/this machine's kernel/);
    expect(exportRefusal('linger', 'linger0', 'client', undefined)).toMatch(/not covered/);
  });
});

describe('parseScript', () => {
  const ok = '0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 bind(3, ..., ...) = 0\n+0 listen(3, 1) = 0\n+0 < S 0:0(0) win 100\n+0 > S. 0:0(0) ack 1 win 200 <mss 1460,nop,wscale 7>\n';
  it('accepts the subset', () => expect(parseScript(ok).problems).toEqual([]));
  it.each([
    ['flags out of order', ok.replace('> S.', '> .S'), /order/],
    ['end != start + len', ok.replace('0:0(0) win 100', '0:5(0) win 100'), /end must be/],
    ['ack without .', ok.replace('< S 0:0(0)', '< S 0:0(0) ack 5'), /ack field/],
    ['an fd never opened', ok + '+0 close(9) = 0\n', /fd 9 is not open/],
    ['an unknown TCP option', ok.replace('wscale 7', 'wsopt 7'), /not one packetdrill reads/],
    ['-1 without errno', ok + '+0 read(3, ..., 1) = -1\n', /without an errno/],
    ['an option after events', ok + '--tolerance_usecs=1\n', /at the top/],
    ['no outbound packet', ok.replace(/^.*> S\..*$/m, ''), /expects nothing/],
  ])('rejects %s', (_n, text, re) => {
    expect(parseScript(text).problems.map((p) => p.message).join('\n')).toMatch(re);
  });
});

describe('the scripts exported from real runs (docs/packetdrill/)', () => {
  const dir = join(__dirname, '..', '..', 'docs', 'packetdrill');
  const files = readdirSync(dir).filter((f) => f.endsWith('.pkt'));
  it('cover every exportable case of the five labs, for every subject a lab offers', () => {
    const expected = allLabs.filter((l) => (EXPORT_LABS as readonly string[]).includes(l.id)).flatMap((l) =>
      [...new Set([l.roles.subject, ...(l.roles.choices ?? [])])].flatMap((subject) =>
        l.cases.filter((c) => !exportRefusal(l.id, c.id, subject, undefined))
          .map((c) => (subject === l.roles.subject ? `${l.id}-${c.id}.pkt` : `${l.id}-${subject}-${c.id}.pkt`))));
    expect(expected.length).toBe(22);
    expect(expected.filter((f) => !files.includes(f))).toEqual([]);
  });
  it.each(files)('%s passes the syntax check', (f) => {
    expect(parseScript(readFileSync(join(dir, f), 'utf8')).problems).toEqual([]);
  });
});

// The catalogue of bad input: each public entry point given wrong types, out-of-range values, overflowing
// option space, unknown interfaces/namespaces, no privileges, closed objects, truncated captures, bad CLI
// flags and files, bad peer requests, bad testbed names. Each must give the named, documented error of
// docs/errors.md (a TypeError/RangeError naming the field, or an Error with a code), never a crash or hang.
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { decode, encode, encodeEthernet } from '../../src/wire/segment.js';
import { parseFlags } from '../../src/wire/flags.js';
import { Wire, WireClosedError } from '../../src/wire/wire.js';
import { openCapture } from '../../src/wire/capture.js';
import { interfaceInfo, netnsId } from '../../src/wire/netns.js';
import { openPacketSender, openRawSender } from '../../src/wire/sender.js';
import { PcapFormatError, PcapWriter, readPcap } from '../../src/wire/pcap.js';
import { encodePcapng } from '../../src/wire/pcapng.js';
import { CaptureFormatError, inspectFile, readCapture } from '../../src/inspect/index.js';
import { Testbed } from '../../src/testbed/testbed.js';
import { PeerError, type PeerClient } from '../../src/peer/client.js';
import type { SegmentSpec } from '../../src/wire/types.js';

const CLI = new URL('../../dist/src/cli.js', import.meta.url).pathname;
const FIX = new URL('../fixtures/', import.meta.url).pathname;
const spec: SegmentSpec = { src: '198.18.0.1', dst: '198.18.0.2', sport: 40000, dport: 80, seq: 1, flags: 'S' };

type ErrClass = typeof TypeError | typeof RangeError | typeof Error | (new (...a: never[]) => Error);
interface Want { cls: ErrClass; code?: string; msg: RegExp }

/** The catalogue itself: every row's id is listed in docs/errors.md (checked below). */
const seen = new Set<string>();

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, nothing was thrown');
}

function check(id: string, e: unknown, w: Want): void {
  seen.add(id);
  if (process.env.TCPLAB_CATALOGUE_DUMP) appendFileSync(process.env.TCPLAB_CATALOGUE_DUMP, `${JSON.stringify({ id, name: (e as Error)?.constructor?.name, code: (e as { code?: string })?.code, message: (e as Error)?.message })}\n`);
  expect(e, id).toBeInstanceOf(w.cls);
  const err = e as Error & { code?: string };
  if (w.cls === Error) expect([TypeError, RangeError].some((c) => e instanceof c), `${id}: a plain Error, not ${err.name}`).toBe(false);
  if (w.code !== undefined) expect(err.code, `${id}: code`).toBe(w.code);
  expect(err.message, id).toMatch(w.msg);
}

const bad = (id: string, fn: () => unknown, w: Want) => it(`${id}: ${w.msg.source}`, () => check(id, caught(fn), w));
const badAsync = (id: string, fn: () => Promise<unknown>, w: Want) => it(`${id}: ${w.msg.source}`, async () => {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  if (err === undefined) throw new Error(`${id}: expected a rejection`);
  check(id, err, w);
});

describe('segments: encode/decode/flags', () => {
  bad('encode-not-object', () => encode(null as never), { cls: TypeError, msg: /^spec: must be a SegmentSpec/ });
  bad('encode-port-type', () => encode({ ...spec, sport: 'x' as never }), { cls: TypeError, msg: /sport/ });
  bad('encode-port-range', () => encode({ ...spec, dport: 65536 }), { cls: RangeError, msg: /dport/ });
  bad('encode-seq-range', () => encode({ ...spec, seq: 2 ** 32 }), { cls: RangeError, msg: /seq/ });
  bad('encode-seq-fraction', () => encode({ ...spec, seq: 1.5 }), { cls: TypeError, msg: /^seq: must be an integer/ });
  bad('encode-addr', () => encode({ ...spec, src: '198.18.0.300' }), { cls: TypeError, msg: /src/ });
  bad('encode-family-mix', () => encode({ ...spec, dst: 'fd00::2' }), { cls: TypeError, msg: /dst|src|family/ });
  bad('encode-flags-letter', () => encode({ ...spec, flags: 'SQ' }), { cls: TypeError, msg: /^flags: .*Q/ });
  bad('encode-flags-byte', () => parseFlags(256), { cls: RangeError, msg: /^flags: must be an integer 0..255/ });
  bad('encode-options-overflow', () => encode({ ...spec, options: [{ kind: 'sack', blocks: [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]] }] }), { cls: RangeError, msg: /options/ });
  bad('encode-options-raw-overflow', () => encode({ ...spec, options: [{ kind: 'raw', type: 34, data: Buffer.alloc(39) }] }), { cls: RangeError, msg: /options/ });
  bad('encode-option-value', () => encode({ ...spec, options: [{ kind: 'mss', value: 70000 }] }), { cls: RangeError, msg: /options\[0\]/ });
  bad('encode-option-kind', () => encode({ ...spec, options: [{ kind: 'bogus' } as never] }), { cls: TypeError, msg: /options\[0\]/ });
  bad('encode-payload-type', () => encode({ ...spec, payload: 42 as never }), { cls: TypeError, msg: /payload/ });
  bad('encode-ttl', () => encode({ ...spec, ip: { ttl: 256 } }), { cls: RangeError, msg: /ttl/ });
  bad('encode-flowlabel', () => encode({ ...spec, src: 'fd00::1', dst: 'fd00::2', ip: { flowLabel: 0x100000 } }), { cls: RangeError, msg: /flowLabel/ });
  bad('encode-checksum', () => encode({ ...spec, checksum: 'wrong' as never }), { cls: TypeError, msg: /checksum/ });
  bad('encode-mac', () => encodeEthernet(spec, { srcMac: '02:00:00:00:00:01', dstMac: 'zz' }), { cls: TypeError, msg: /^dstMac: must be a MAC/ });
  it('decode-never-throws: garbage, a wrong link type, a non-buffer give an error result', () => {
    seen.add('decode-never-throws');
    expect(decode(Buffer.alloc(3), 'raw')).toMatchObject({ ok: false, layer: expect.any(String) });
    expect(decode(Buffer.alloc(60), 'fddi' as never)).toMatchObject({ ok: false, error: expect.stringMatching(/^link:/) });
    expect(decode('nope' as never, 'raw')).toMatchObject({ ok: false, error: expect.stringMatching(/frame/) });
  });
});

describe('captures: pcap writer, readers, inspect', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'tcplab-cat-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cut = (name: string, at: number) => {
    const p = join(dir, `cut-${at}-${name}`);
    const b = readFileSync(join(FIX, name));
    writeFileSync(p, b.subarray(0, at < 0 ? b.length + at : at));
    return p;
  };
  badAsync('pcapwriter-link', () => PcapWriter.open(join(dir, 'x.pcap'), { link: 'fddi' as never }), { cls: TypeError, msg: /^link: must be 'ethernet', 'sll' or 'raw'/ });
  bad('pcapng-link', () => encodePcapng({ interfaces: [{ name: 'x', link: 'fddi' as never }], packets: [] }), { cls: TypeError, msg: /^interfaces\[0\]\.link: must be 'ethernet', 'sll' or 'raw'/ });
  bad('pcapng-iface', () => encodePcapng({ interfaces: [{ name: 'x', link: 'raw' }], packets: [{ iface: 1, tsNs: 0n, data: Buffer.alloc(20) }] }), { cls: RangeError, msg: /^packets\[0\]\.iface: an index into interfaces \(0\.\.0\), got 1/ });
  bad('pcapng-ts', () => encodePcapng({ interfaces: [{ name: 'x', link: 'raw' }], packets: [{ iface: 0, tsNs: -1n, data: Buffer.alloc(20) }] }), { cls: TypeError, msg: /^packets\[0\]\.tsNs: a non-negative 64-bit bigint/ });
  bad('pcapng-comment-size', () => encodePcapng({ interfaces: [{ name: 'x', link: 'raw' }], packets: [{ iface: 0, tsNs: 0n, data: Buffer.alloc(20), comments: ['x'.repeat(70000)] }] }), { cls: RangeError, msg: /^packets\[0\]: option 1 is 70000 bytes, pcapng allows 65535/ });
  badAsync('pcapwriter-snaplen', () => PcapWriter.open(join(dir, 'x.pcap'), { link: 'raw', snaplen: 0 }), { cls: RangeError, msg: /^snaplen/ });
  it('pcapwriter-after-close: write after close', async () => {
    const w = await PcapWriter.open(join(dir, 'y.pcap'), { link: 'raw' });
    await w.close();
    check('pcapwriter-after-close', caught(() => w.write({ data: Buffer.alloc(20), tsNs: 0n })), { cls: Error, msg: /write after close/ });
  });
  it('pcapwriter-ts / pcapwriter-data: bad records', async () => {
    const w = await PcapWriter.open(join(dir, 'z.pcap'), { link: 'raw' });
    check('pcapwriter-ts', caught(() => w.write({ data: Buffer.alloc(1), tsNs: -1n })), { cls: TypeError, msg: /^tsNs: must be a non-negative bigint/ });
    check('pcapwriter-data', caught(() => w.write({ data: 'x' as never, tsNs: 0n })), { cls: TypeError, msg: /^data: must be a Uint8Array/ });
    await w.close();
  });
  badAsync('readpcap-truncated-record', () => readPcap(cut('veth-conn-v4.cap', -7)), { cls: PcapFormatError, msg: /truncated/ });
  badAsync('readpcap-pcapng', () => readPcap(join(FIX, 'inspect-twreuse.pcapng')), { cls: PcapFormatError, msg: /not a pcap file/ });
  badAsync('inspect-pcap-truncated-record', () => readCapture(cut('inspect-twreuse.cap', 100)), { cls: CaptureFormatError, msg: /truncated.*at byte offset \d+/ });
  badAsync('inspect-pcap-truncated-header', () => readCapture(cut('inspect-twreuse.cap', 30)), { cls: CaptureFormatError, msg: /truncated/ });
  badAsync('inspect-pcapng-truncated-block', () => readCapture(cut('inspect-twreuse.pcapng', 300)), { cls: CaptureFormatError, msg: /truncated: block of type .* needs \d+ bytes/ });
  badAsync('inspect-empty', () => inspectFile(cut('inspect-twreuse.cap', 0)), { cls: CaptureFormatError, msg: /empty file/ });
  badAsync('inspect-not-capture', () => { const p = join(dir, 'text.cap'); writeFileSync(p, 'hello, this is not a capture at all'); return inspectFile(p); }, { cls: CaptureFormatError, msg: /not a pcap or pcapng/ });
  badAsync('inspect-missing-file', () => inspectFile(join(dir, 'nope.pcap')), { cls: Error, code: 'ENOENT', msg: /no such file/ });
  badAsync('inspect-timewait', () => inspectFile(join(FIX, 'inspect-twreuse.cap'), { timeWaitMs: -1 }), { cls: RangeError, msg: /^timeWaitMs/ });
  badAsync('inspect-ports', () => inspectFile(join(FIX, 'inspect-twreuse.cap'), { ports: 70000 }), { cls: RangeError, msg: /^ports/ });
});

describe('CLI: flags and files (exit 2, the flag named on stderr)', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'tcplab-cli-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const cli = (id: string, args: string[], msg: RegExp) => it(`${id}: ${msg.source}`, () => {
    seen.add(id);
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(msg);
  });
  cli('cli-unknown-command', ['frobnicate'], /unknown command 'frobnicate'/);
  cli('cli-unknown-lab', ['run', 'nosuchlab'], /unknown lab 'nosuchlab' \(labs: /);
  cli('cli-unknown-flag', ['run', 'reuse', '--frobnicate'], /frobnicate/);
  cli('cli-case-needs-one-lab', ['run', 'all', '--case', 'x'], /--case needs a single lab/);
  cli('cli-tolerance-scale', ['run', 'reuse', '--tolerance-scale', '0'], /--tolerance-scale: must be a positive number/);
  cli('cli-pcap-format', ['run', 'reuse', '--pcap-format', 'erf'], /--pcap-format: unknown capture format 'erf' \(formats: pcapng, pcap\)/);
  cli('cli-width', ['run', 'reuse', '--width', '40'], /--width: an integer from 80 to 1000 \(columns of text\), got '40'/);
  cli('cli-json-and-tap', ['run', 'reuse', '--json', '--tap'], /--json and --tap/);
  cli('cli-ktap-and-json', ['run', 'reuse', '--ktap', '--json'], /--json and --ktap: choose one/);
  cli('cli-expectations-missing', ['run', 'reuse', '--expectations', '/nonexistent/x.json'], /--expectations: cannot read/);
  it('cli-expectations-not-object / cli-expectations-bad-rule: bad --expectations files', () => {
    const arr = join(dir, 'arr.json');
    writeFileSync(arr, '[1,2]');
    const rule = join(dir, 'rule.json');
    writeFileSync(rule, '{"reuse0/blocked": 5}');
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{not json');
    for (const [id, f, msg] of [['cli-expectations-not-object', arr, /\(top level\): must be object/], ['cli-expectations-bad-rule', rule, /\["reuse0\/blocked"\]: must be object/], ['cli-expectations-not-json', bad, /--expectations: .* is not JSON/]] as const) {
      seen.add(id);
      const r = spawnSync(process.execPath, [CLI, 'run', 'reuse', '--expectations', f], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status, `${id}: ${r.stderr}`).toBe(2);
      expect(r.stderr, id).toMatch(msg);
    }
  });
  cli('cli-inspect-flag', ['inspect', join(FIX, 'inspect-twreuse.cap'), '--time-wait', 'abc'], /--time-wait/);
  cli('cli-report-not-report', ['report', join(FIX, 'inspect-capture.sh'), '--html', '/tmp/tcplab-x.html'], /report: .*(not a tcplab report|cannot read|is not JSON)/);
});

describe('native and testbed entry points (root)', () => {
  requireRoot();
  let tb: Testbed;
  let peer: PeerClient;
  beforeAll(async () => {
    tb = await Testbed.create({ hosts: ['a', 'b'] });
    peer = await tb.host('b').peer();
  }, 30_000);
  afterAll(async () => { await tb?.dispose(); });
  const ifa = () => tb.host('a').iface().ifname;
  const nsa = () => tb.host('a').netns;

  bad('native-unknown-interface', () => interfaceInfo('tcplab-nosuch0'), { cls: Error, code: 'ENODEV', msg: /tcplab-nosuch0/ });
  bad('native-unknown-netns', () => netnsId('tcplab-nosuch-ns'), { cls: Error, code: 'ENOENT', msg: /tcplab-nosuch-ns/ });
  bad('rawsender-unknown-device', () => openRawSender({ device: 'tcplab-nosuch0' }), { cls: Error, code: 'ENODEV', msg: /tcplab-nosuch0/ });
  bad('rawsender-options-type', () => openRawSender({ device: 42 as never }), { cls: TypeError, msg: /device/ });
  bad('packetsender-ifname', () => openPacketSender({} as never), { cls: TypeError, msg: /ifname/ });
  bad('capture-onpackets', () => openCapture({ ifname: 'lo' } as never), { cls: TypeError, msg: /^onPackets/ });
  badAsync('wire-opts', () => Wire.open(null as never), { cls: TypeError, msg: /^opts/ });
  badAsync('wire-ifname', () => Wire.open({} as never), { cls: TypeError, msg: /^ifname: required/ });
  badAsync('wire-allow-type', () => Wire.open({ ifname: 'lo', allowAnyDestination: 'yes' as never }), { cls: TypeError, msg: /^allowAnyDestination/ });
  badAsync('wire-unknown-interface', () => Wire.open({ ifname: 'tcplab-nosuch0', netns: nsa() }), { cls: Error, code: 'ENODEV', msg: /tcplab-nosuch0/ });
  badAsync('wire-unknown-netns', () => Wire.open({ ifname: 'lo', netns: 'tcplab-nosuch-ns' }), { cls: Error, code: 'ENOENT', msg: /tcplab-nosuch-ns/ });
  it('wire-closed / wire-double-dispose / wire-send-range / wire-template-count / wire-expect-within', async () => {
    const w = await Wire.open({ ifname: ifa(), netns: nsa() });
    check('wire-send-range', caught(() => w.send({ ...spec, src: tb.host('a').addr(), dst: tb.host('b').addr(), sport: 0x10000 })), { cls: RangeError, msg: /sport/ });
    check('wire-template-count', caught(() => w.sendTemplate({ ...spec, src: tb.host('a').addr(), dst: tb.host('b').addr() }, -1)), { cls: RangeError, msg: /count/ });
    check('wire-batch-type', caught(() => w.sendBatch('x' as never)), { cls: TypeError, msg: /^segs/ });
    check('wire-frame-type', caught(() => w.sendFrame('x' as never)), { cls: TypeError, msg: /^frame/ });
    check('wire-expect-within', caught(() => w.expect({}, { within: -1 })), { cls: RangeError, msg: /^within/ });
    await w.close();
    check('wire-closed', caught(() => w.send(spec)), { cls: WireClosedError, code: 'ERR_CLOSED', msg: /send: the Wire is closed/ });
    check('wire-closed', caught(() => w.sendFrame(Buffer.alloc(60))), { cls: WireClosedError, code: 'ERR_CLOSED', msg: /sendFrame: the Wire is closed/ });
    // dispose twice: idempotent, documented as such (no error, nothing closed twice)
    seen.add('wire-double-dispose');
    expect(() => w.close()).not.toThrow();
    await expect(w[Symbol.asyncDispose]()).resolves.toBeUndefined();
    const s = openRawSender({ netns: nsa(), device: ifa() });
    s.close();
    expect(() => s.close()).not.toThrow();
    check('rawsender-closed', caught(() => s.send(encode(spec))), { cls: Error, code: 'ERR_CLOSED', msg: /^RawSender is closed/ });
  });

  badAsync('testbed-host-name', () => Testbed.create({ hosts: ['Bad Name'] }), { cls: TypeError, msg: /^hosts: 'Bad Name' must be 1-16/ });
  badAsync('testbed-host-dup', () => Testbed.create({ hosts: ['a', 'a'] }), { cls: TypeError, msg: /^hosts: names must be unique/ });
  badAsync('testbed-run-id', () => Testbed.create({ runId: 'XYZ' }), { cls: TypeError, msg: /^runId: expected 6 lowercase hex/ });
  badAsync('testbed-link', () => Testbed.create({ hosts: ['a', 'b'], links: [['a', 'c']] }), { cls: TypeError, msg: /^links: \[a, c\]/ });
  badAsync('testbed-subnet-format', () => Testbed.create({ v4Subnets: ['198.18.7.1'] }), { cls: TypeError, msg: /^v4Subnets\[0\]/ });
  badAsync('testbed-subnet-unsafe', () => Testbed.create({ v4Subnets: ['10.1.2.0'] }), { cls: RangeError, msg: /^v4Subnets\[0\].*allowUnsafeAddresses/ });
  bad('testbed-no-host', () => tb.host('zz'), { cls: Error, msg: /^testbed: no host 'zz' \(hosts: a, b\)/ });
  badAsync('sysctl-key', () => tb.host('a').sysctl.set('net.ipv4.no such', 1), { cls: TypeError, msg: /^sysctl key/ });
  badAsync('sysctl-value', () => tb.host('a').sysctl.set('net.ipv4.tcp_tw_reuse', 1.5), { cls: TypeError, msg: /^sysctl value/ });
  badAsync('impair-match-field', () => tb.host('a').impair({ dir: 'out', match: { colour: 'red' } as never }), { cls: TypeError, msg: /^match.colour: unknown field/ });
  badAsync('impair-port', () => tb.host('a').impair({ dir: 'out', match: { sport: 70000 } }), { cls: RangeError, msg: /^match.sport/ });

  badAsync('peer-unknown-op', () => peer.call('frobnicate' as never, {} as never), { cls: PeerError, code: 'EBADREQUEST', msg: /unknown operation 'frobnicate'/ });
  badAsync('peer-bad-port', () => peer.call('listen', { addr: tb.host('b').addr(), port: 70000 }), { cls: PeerError, code: 'EBADREQUEST', msg: /port: expected an integer/ });
  badAsync('peer-bad-sock', () => peer.call('close', { sock: 999 }), { cls: PeerError, code: 'EBADREQUEST', msg: /no open socket with id 999/ });

  it('missing-privileges: the same calls as an unprivileged user give EPERM with a hint', () => {
    seen.add('missing-privileges');
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-priv-'));
    chmodSync(dir, 0o755);
    const script = join(dir, 'p.mjs');
    const dist = new URL('../../dist/src/', import.meta.url).pathname;
    writeFileSync(script, `
      const { openRawSender, openCapture, netnsId } = await import('${dist}wire/index.js');
      const { Testbed } = await import('${dist}testbed/testbed.js');
      const out = {};
      const grab = async (k, f) => { try { await f(); out[k] = 'no error'; } catch (e) { out[k] = { name: e.constructor.name, code: e.code, message: e.message }; } };
      await grab('raw', () => openRawSender({}));
      await grab('capture', () => openCapture({ ifname: 'lo', countOnly: true }));
      const { Wire } = await import('${dist}wire/wire.js');
      await grab('wire', () => Wire.open({ ifname: 'lo' }));
      await grab('netns', () => netnsId('${nsa()}'));
      await grab('testbed', () => Testbed.create({ processHooks: false }));
      console.log(JSON.stringify(out));`);
    chmodSync(script, 0o644);
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', process.execPath, script], { encoding: 'utf8', timeout: 20_000 });
    rmSync(dir, { recursive: true, force: true });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, { name: string; code?: string; message: string }>;
    expect(out.raw).toMatchObject({ code: 'EPERM', message: expect.stringMatching(/socket|raw/i) });
    expect(out.capture).toMatchObject({ code: 'EPERM' });
    expect(out.netns).toMatchObject({ code: expect.stringMatching(/^E(PERM|ACCES)$/) });
    expect(out.testbed).toMatchObject({ code: expect.stringMatching(/^E(PERM|ACCES)$/), message: expect.stringMatching(/needs root/) });
    expect(out.wire).toMatchObject({ code: 'EPERM', message: expect.stringMatching(/CAP_NET_RAW/) });
  });
});

describe('docs/errors.md', () => {
  it('lists every catalogue row (one table row per id)', () => {
    const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    const missing = [...seen].filter((id) => !doc.includes(`\`${id}\``));
    expect(missing).toEqual([]);
    expect(seen.size).toBeGreaterThanOrEqual(30);
  });
});

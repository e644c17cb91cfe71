// Real-kernel captures (test/fixtures/inspect-capture.sh): snapshots of the terminal output, agreement
// between pcap and pcapng, and truncated/corrupt files giving a clear error, never a crash.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CaptureFormatError, inspectFile, inspectToJson, parsePcapng, readCapture, renderInspect } from '../../src/inspect/index.js';

const fx = (name: string) => join(import.meta.dirname, '..', 'fixtures', name);
const dir = mkdtempSync(join(tmpdir(), 'tcplab-inspectfx-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('inspect: recorded captures', () => {
  it('server TIME-WAIT, SYN accepted (pcap): ladder snapshot', async () => {
    const r = await inspectFile(fx('inspect-twserver.cap'));
    expect(r.findings.map((f) => f.kind)).toEqual(['tw-syn-accepted']);
    expect(r.connections[0]!.incarnations.map((i) => i.finalStates)).toEqual([['CLOSED', 'TIME-WAIT'], ['CLOSED', 'TIME-WAIT']]);
    await expect(renderInspect(r, { explain: true }).replace(r.file, '<file>')).toMatchFileSnapshot('../fixtures/inspect-twserver.out.txt');
  });

  it('client reuses its TIME-WAIT 4-tuple (tcp_tw_reuse): pcap and pcapng agree; snapshot', async () => {
    const a = await inspectFile(fx('inspect-twreuse.cap'));
    const b = await inspectFile(fx('inspect-twreuse.pcapng'));
    expect(a.format).toBe('pcap');
    expect(b.format).toBe('pcapng');
    expect(a.findings.map((f) => f.kind)).toEqual(['tw-reuse', 'tw-reuse']);
    const strip = (j: ReturnType<typeof inspectToJson>) => ({ ...j, file: '', format: '' });
    expect(strip(inspectToJson(b))).toEqual(strip(inspectToJson(a)));
    expect(a.connections[0]!.incarnations.map((i) => i.finalStates[0])).toEqual(['TIME-WAIT', 'TIME-WAIT', 'TIME-WAIT']);
    await expect(renderInspect(a).replace(a.file, '<file>')).toMatchFileSnapshot('../fixtures/inspect-twreuse.out.txt');
  });

  it('a SYN rejected by a real TIME-WAIT socket, then reset, then accepted (snaplen-cut capture)', async () => {
    const r = await inspectFile(fx('inspect-twreject.cap'));
    expect(r.snapped).toBe(206);
    expect(r.tcpPackets).toBe(r.frames);
    expect(r.findings.map((f) => [f.kind, f.packets.map((p) => p.frame)])).toEqual([
      ['tw-syn-rejected-ack', [318, 319]],
      ['rst-in-time-wait', [320]],
    ]);
    expect(r.findings[0]!.text).toMatch(/ISN not above the old RCV.NXT \(-\d+\): rejected \(ACK\)/);
    const [c] = r.connections;
    expect(c!.incarnations.map((i) => [i.closedBy, ...i.finalStates])).toEqual([['FIN', 'CLOSED', 'TIME-WAIT'], ['FIN', 'TIME-WAIT', 'CLOSED']]);
    // The old connection's bytes count: its RCV.NXT is the ISN + 1 + 300000 + 1 (FIN).
    const text = renderInspect(r, { maxPackets: 400 });
    expect(text).toMatch(/│◀─+ \.   seq 6 ack -?\d+ win \d+ ─┤/);
    expect(text).toMatch(/├─ R   seq \d+ win 0 ─+▶│ CLOSED/);
  });

  it('colour only adds escape codes', async () => {
    const r = await inspectFile(fx('inspect-twserver.cap'));
    const coloured = renderInspect(r, { color: true, explain: true });
    expect(coloured).toContain('\x1b[');
    expect(coloured.replace(/\x1b\[[0-9;]*m/g, '')).toBe(renderInspect(r, { explain: true }));
  });

  it('Linux cooked v2 from -i any, in pcapng', async () => {
    const r = await inspectFile(fx('inspect-twreuse-sll2.pcapng'));
    expect(r.linkTypes).toEqual(['sll2']);
    expect(r.tcpPackets).toBe(20);
    expect(r.findings.map((f) => f.kind)).toEqual(['tw-reuse']);
  });

  it('the older fixtures (ethernet v6, sll, lo) read and track', async () => {
    for (const f of ['veth-conn-v6.cap', 'any-conn-v4-sll.cap', 'lo-conn-v4-partial-csum.cap']) {
      const r = await inspectFile(fx(f), { maxConnections: 5 }); // no findings: drawn only when asked for
      expect(r.connections.length, f).toBeGreaterThanOrEqual(1);
      expect(r.connections[0]!.incarnations[0]!.closedBy, f).toBe('FIN');
    }
  });
});

it('loopback (one address at both ends): ports tell the sides apart, in text and SVG', async () => {
  const r = await inspectFile(fx('lo-conn-v4-partial-csum.cap'), { maxConnections: 1 });
  const text = renderInspect(r);
  const rows = text.split('\n').filter((l) => /[├┤]/.test(l));
  expect(rows.filter((l) => l.includes('◀')).length).toBeGreaterThanOrEqual(4);
  expect(rows.filter((l) => l.includes('▶')).length).toBeGreaterThanOrEqual(4);
  expect(rows[1]).toMatch(/│◀.* S\. /);
  const { renderHtml } = await import('../../src/report/html.js');
  const html = renderHtml(inspectToJson(r));
  const x1s = new Set([...html.matchAll(/<line class="arrow" x1="(\d+)"/g)].map((m) => m[1]));
  expect(x1s.size).toBe(2);
});

describe('inspect: truncated and corrupt files', () => {
  const expectClear = async (path: string) => {
    const e = await readCapture(path).then(() => undefined, (x: unknown) => x);
    if (e === undefined) return 'ok';
    expect(e).toBeInstanceOf(CaptureFormatError);
    const err = e as CaptureFormatError;
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/at byte offset \d+/);
    return err;
  };

  it('every cut of the pcapng fixture: complete blocks read, a cut block is named with its offset', () => {
    const buf = readFileSync(fx('inspect-twreuse.pcapng'));
    let errors = 0;
    for (let n = 1; n < buf.length; n++) {
      try {
        parsePcapng(buf.subarray(0, n), 'cut.pcapng');
      } catch (e) {
        expect(e).toBeInstanceOf(CaptureFormatError);
        expect((e as CaptureFormatError).offset).toBeLessThanOrEqual(n);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(buf.length * 0.9);
  });

  it('cuts of the pcap fixture', async () => {
    const buf = readFileSync(fx('inspect-twserver.cap'));
    const p = join(dir, 'cut.cap');
    for (const n of [1, 10, 23, 24 + 5, 24 + 16 + 3, 400, buf.length - 1]) {
      writeFileSync(p, buf.subarray(0, n));
      const err = await expectClear(p);
      expect(err, `cut at ${n}`).not.toBe('ok');
      if (n > 40 && typeof err !== 'string') expect(err.offset).toBeGreaterThanOrEqual(24);
    }
    // The offset is where the incomplete record starts: after the header and the complete records.
    writeFileSync(p, buf.subarray(0, 400));
    const e = (await expectClear(p)) as CaptureFormatError;
    const r = await readCapture(fx('inspect-twserver.cap'));
    let off = 24;
    for (const f of r.frames) { if (off + 16 + f.data.length > 400) break; off += 16 + f.data.length; }
    expect(e.offset).toBe(off);
  });

  it('corrupt files: garbage and empty are errors; damage after the header ends reading with a warning', async () => {
    const good = readFileSync(fx('inspect-twreuse.pcapng'));
    const cases: Array<[string, Buffer, RegExp]> = [
      ['garbage', Buffer.from('this is not a capture at all, just text\n'), /not a pcap or pcapng capture/],
      ['empty', Buffer.alloc(0), /empty file/],
    ];
    const badLen = Buffer.from(good);
    badLen.writeUInt32LE(7, good.readUInt32LE(4) + 4); // the IDB's length
    cases.push(['bad length', badLen, /impossible length 7/]);
    const badTrail = Buffer.from(good);
    const shbLen = good.readUInt32LE(4);
    badTrail.writeUInt32LE(999, shbLen - 4);
    cases.push(['bad trailer', badTrail, /trailing length 999/]);
    const badIface = Buffer.from(good);
    const idbLen = good.readUInt32LE(shbLen + 4);
    badIface.writeUInt32LE(5, shbLen + idbLen + 8); // first EPB's interface id
    cases.push(['bad iface', badIface, /interface 5/]);
    for (const [name, data, re] of cases) {
      const p = join(dir, `${name.replace(' ', '-')}.pcapng`);
      writeFileSync(p, data);
      const err = await expectClear(p);
      expect(err, name).not.toBe('ok');
      expect((err as Error).message, name).toMatch(re);
      if (name === 'garbage' || name === 'empty' || name === 'bad trailer') { // the last: the section header itself
        await expect(inspectFile(p), name).rejects.toThrow(CaptureFormatError);
      } else {
        // What tcpdump and tshark do: read up to the damage and say where it is.
        const r = await inspectFile(p);
        expect(r.warnings.join('\n'), name).toMatch(re);
        expect(r.warnings.join('\n'), name).toMatch(/at byte offset \d+: read the \d+ frame\(s\) before it/);
      }
    }
  });
});

describe('inspect: corrupted bytes never crash', () => {
  // A fixed-seed generator: the same corruptions every run.
  let seed = 0x7c9;
  const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };

  it('pcapng with random byte flips: a result or a CaptureFormatError', async () => {
    const good = readFileSync(fx('inspect-twreuse.pcapng'));
    let errors = 0;
    for (let i = 0; i < 300; i++) {
      const b = Buffer.from(good);
      for (let k = 0; k < 1 + rnd(4); k++) b[rnd(b.length)] = rnd(256);
      const p = join(dir, 'flip.pcapng');
      writeFileSync(p, b);
      try {
        const r = await inspectFile(p);
        renderInspect(r);
        inspectToJson(r);
      } catch (e) {
        expect(e).toBeInstanceOf(CaptureFormatError);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(0);
  });

  it('pcap with random byte flips: a result or a CaptureFormatError', async () => {
    const good = readFileSync(fx('inspect-twserver.cap'));
    for (let i = 0; i < 100; i++) {
      const b = Buffer.from(good);
      for (let k = 0; k < 1 + rnd(4); k++) b[24 + rnd(b.length - 24)] = rnd(256);
      const p = join(dir, 'flip.cap');
      writeFileSync(p, b);
      try {
        renderInspect(await inspectFile(p));
      } catch (e) {
        expect(e).toBeInstanceOf(CaptureFormatError);
      }
    }
  });
});

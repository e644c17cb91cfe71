// The runner's verdict logic on synthetic cases (no root): PASS, DIFFERS with packets, ERROR.
import { describe, expect, it } from 'vitest';
import { runLab } from '../../src/lab/runner.js';
import { toJson } from '../../src/report/json.js';
import { renderText } from '../../src/report/text.js';
import type { Lab } from '../../src/lab/types.js';
import type { PacketRecord } from '../../src/lab/packets.js';
import { decode, encode } from '../../src/wire/segment.js';

const stack = { os: 'linux' as const, release: '6.18.0-test', version: [6, 18, 0] as [number, number, number] };

function pkt(tsNs: bigint, spec: Parameters<typeof encode>[0]): PacketRecord {
  const r = decode(encode(spec), 'raw');
  if (!r.ok) throw new Error(r.error);
  return { tsNs, dir: 'in', point: 'test', segment: r.segment };
}

const syn = pkt(1_000_000_000n, { src: '198.18.0.2', dst: '198.18.0.1', sport: 40000, dport: 8080, seq: 100, flags: 'S' });
const rst = pkt(1_000_050_000n, { src: '198.18.0.1', dst: '198.18.0.2', sport: 8080, dport: 40000, seq: 0, ack: 101, flags: 'R.' });

function lab(observed: string, packets: PacketRecord[] = [syn, rst]): Lab {
  return {
    id: 'synthetic',
    title: 'synthetic',
    summary: 'runner test',
    rfcs: ['RFC 9293 §3.10.7.1'],
    roles: { all: ['client', 'server'], subject: 'server' },
    remote: 'link',
    sources: [],
    cases: [
      {
        id: 'closed-port',
        title: 'SYN to a closed port',
        async run(ctx) {
          ctx.setColumns([{ label: 'client', addrs: ['198.18.0.2'] }, { label: 'server', addrs: ['198.18.0.1'] }]);
          ctx.addCapture({ point: 'test', link: 'raw', records: () => packets, frames: () => [] });
          ctx.step('send a SYN to a port nobody listens on');
          ctx.check({
            id: 'answer',
            title: 'the answer to the SYN',
            expect: { linux: [{ versions: '>=2.6', expect: 'R.', because: 'tcp_v4_send_reset' }] },
            observed,
            packets,
          });
        },
      },
    ],
  };
}

describe('runner verdicts', () => {
  it('PASS when the observation meets the expectation for this kernel', async () => {
    const r = await runLab(lab('R.'), { stack });
    expect(r.verdict).toBe('PASS');
    expect(r.cases[0]!.checks[0]!.rule).toBe('linux >=2.6');
  });

  it('DIFFERS with the packets when the kernel did something else', async () => {
    const r = await runLab(lab('S.'), { stack });
    expect(r.verdict).toBe('DIFFERS');
    const json = toJson([r]);
    const check = json.labs[0]!.cases[0]!.checks[0]!;
    expect(check.verdict).toBe('DIFFERS');
    expect(check.evidence.packets.map((p) => p.flags)).toEqual(['S', 'R.']);
    const text = renderText(r);
    expect(text).toContain('DIFFERS');
    expect(text).toMatch(/packet: .*198\.18\.0\.1:8080 > 198\.18\.0\.2:40000 R\./);
  });

  it('an override expectation turns a PASS into DIFFERS', async () => {
    const r = await runLab(lab('R.'), { stack, overrides: { 'closed-port/answer': { linux: [{ versions: '*', expect: 'impossible' }] } } });
    expect(r.verdict).toBe('DIFFERS');
  });

  it('ERROR without evidence, without an expectation for the stack, or when the case throws', async () => {
    expect((await runLab(lab('R.', []), { stack })).verdict).toBe('ERROR');
    const bsd = { os: 'freebsd' as const, release: '14.1-RELEASE', version: [14, 1, 0] as [number, number, number] };
    expect((await runLab(lab('R.'), { stack: bsd })).verdict).toBe('ERROR');
    const broken: Lab = { ...lab('R.'), cases: [{ id: 'x', title: 'x', run: async () => { throw new Error('boom'); } }] };
    const r = await runLab(broken, { stack });
    expect(r.verdict).toBe('ERROR');
    expect(r.cases[0]!.error).toBe('boom');
  });

  it('refuses an unknown case id, naming the cases it has', async () => {
    await expect(runLab(lab('R.'), { stack, cases: ['nope'] })).rejects.toThrow(/--case: .*closed-port/);
  });

  it('the ladder shows both packets with relative numbers', async () => {
    const text = renderText(await runLab(lab('R.'), { stack }));
    expect(text).toMatch(/├─ S +seq 0 win 65535 ─+▶│/);
    expect(text).toMatch(/│◀─+ R\. +seq 0 ack 1 win 65535 ─┤/);
  });
});

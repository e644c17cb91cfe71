import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderLadder } from '../../src/lab/ladder.js';
import type { PacketRecord } from '../../src/lab/packets.js';
import { decodableFrame, readCapture } from '../../src/inspect/capture.js';
import { decode } from '../../src/wire/segment.js';
import { encode } from '../../src/wire/segment.js';

const fx = (name: string) => join(import.meta.dirname, '..', 'fixtures', name);

async function packets(name: string): Promise<PacketRecord[]> {
  const c = await readCapture(fx(name));
  return c.frames.flatMap((fr) => {
    const d = decodableFrame(fr.linkType, fr.data);
    if ('skip' in d) return [];
    const r = decode(d.data, d.link);
    return r.ok ? [{ tsNs: fr.tsNs, dir: 'in' as const, point: 'x', segment: r.segment }] : [];
  });
}

describe('terminal ladder', () => {
  it('two columns: byte for byte what the first ladder drew (relative, absolute + narrow, colour)', async () => {
    const out: string[] = [];
    for (const f of ['veth-conn-v4.cap', 'veth-conn-v6.cap']) {
      const ps = await packets(f);
      const a = ps[0]!.segment;
      const notes = [{ tsNs: ps[2]!.tsNs + 1n, who: 'client', text: 'connect() -> 0' }];
      const cols = [{ label: 'client', addrs: [a.src] }, { label: 'server', addrs: [a.dst] }] as const;
      out.push(renderLadder(ps, notes, cols), renderLadder(ps, notes, cols, { absolute: true, width: 80 }), renderLadder(ps, notes, cols, { color: true }));
    }
    // Recorded with the two-column renderer before three columns and states were added; the narrow
    // ladder re-recorded when long labels began to wrap instead of being cut with '…'.
    expect(out.join('\n\n') + '\n').toBe(readFileSync(fx('inspect-ladder2-compat.txt'), 'utf8'));
  });

  it('three columns: client, prober (ghost address), server; arrows cross the middle bar', () => {
    const mk = (src: string, dst: string, flags: string, t: number): PacketRecord => {
      const r = decode(encode({ src, dst, sport: src.endsWith('1') ? 40000 : 80, dport: dst.endsWith('1') ? 40000 : 80, seq: 100, ack: 1, flags }), 'raw');
      if (!r.ok) throw new Error(r.error);
      return { tsNs: BigInt(t), dir: 'in', point: 'x', segment: r.segment };
    };
    const ps = [
      mk('198.18.0.1', '198.18.0.2', 'S', 1000),     // client -> server (crosses the prober)
      mk('198.18.0.99', '198.18.0.2', 'R', 2000),    // prober -> server
      mk('198.18.0.2', '198.18.0.99', '.', 3000),    // server -> prober
      mk('198.18.0.2', '198.18.0.1', 'S.', 4000),    // server -> client
    ];
    const text = renderLadder(ps, [], [
      { label: 'client', addrs: ['198.18.0.1'] },
      { label: 'prober', addrs: ['198.18.0.99'] },
      { label: 'server', addrs: ['198.18.0.2'] },
    ], { width: 90 });
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/client \(198\.18\.0\.1\) .* prober \(198\.18\.0\.99\) .* server \(198\.18\.0\.2\)/);
    const rows = lines.slice(2);
    const bar = (l: string, i: number) => [...l].map((ch, k) => (/[│├┤┼▶◀]/.test(ch) ? k : -1)).filter((k) => k >= 0)[i];
    // Every row has three bars at the same places; the first arrow crosses the middle one.
    const mid = [...lines[1]!].indexOf('│', [...lines[1]!].indexOf('│') + 1);
    expect(rows[0]).toMatch(/├─ S .*┼.*▶│$/);
    expect([...rows[0]!][mid]).toBe('┼');
    expect([...rows[1]!][mid]).toBe('├');
    expect(rows[1]).toMatch(/├─ R .*▶│$/);
    expect([...rows[2]!][mid]).toBe('│');
    expect(rows[2]).toMatch(/│◀.* \. .*─┤$/);
    expect(rows[3]).toMatch(/^ *\+0\.001  │◀.*┼.* S\. .*─┤$/);
    expect(bar(rows[3]!, 0)).toBe(bar(lines[1]!, 0));
  });

  it('states beside the bars, printed where they change', async () => {
    const ps = await packets('veth-conn-v4.cap');
    const st = new Map(ps.map((p, i) => [p, [i < 2 ? 'SYN-SENT' : 'ESTABLISHED', i < 1 ? 'LISTEN' : 'ESTABLISHED'] as const]));
    const a = ps[0]!.segment;
    const text = renderLadder(ps, [], [{ label: 'client', addrs: [a.src] }, { label: 'server', addrs: [a.dst] }], { states: (p) => st.get(p) });
    // Packet rows (a long label's other lines follow its row without a time).
    const rows = text.split('\n').slice(2).filter((l) => /\+\d/.test(l));
    expect(rows[0]).toMatch(/^ +\+0\.000 +SYN-SENT ├─ S .*▶│ LISTEN$/);
    expect(rows[1]).toMatch(/┤ ESTABLISHED$/);
    expect(rows[2]).toMatch(/ESTABLISHED ├─/);
    expect(rows[3]).not.toMatch(/ESTABLISHED/);
  });

  it('rejects a ladder of one or four columns', () => {
    expect(() => renderLadder([], [], [{ label: 'a', addrs: [] }])).toThrow(RangeError);
  });
});

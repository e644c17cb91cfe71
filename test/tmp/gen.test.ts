import { it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { renderLadder } from './ladder-orig.js';
import { readCapture, decodableFrame } from '../../src/inspect/capture.js';
import { decode } from '../../src/wire/segment.js';
it('gen', async () => {
  const out: string[] = [];
  for (const f of ['veth-conn-v4.cap', 'veth-conn-v6.cap']) {
    const c = await readCapture('test/fixtures/' + f);
    const ps = c.frames.flatMap((fr) => { const d = decodableFrame(fr.linkType, fr.data); if ('skip' in d) return []; const r = decode(d.data, d.link); return r.ok ? [{ tsNs: fr.tsNs, dir: 'in' as const, point: 'x', segment: r.segment }] : []; });
    const a = ps[0]!.segment;
    const notes = [{ tsNs: ps[2]!.tsNs + 1n, who: 'client', text: 'connect() -> 0' }];
    const cols = [{ label: 'client', addrs: [a.src] }, { label: 'server', addrs: [a.dst] }] as const;
    out.push(renderLadder(ps, notes, cols), renderLadder(ps, notes, cols, { absolute: true, width: 80 }), renderLadder(ps, notes, cols, { color: true }));
  }
  writeFileSync('test/fixtures/inspect-ladder2-compat.txt', out.join('\n\n') + '\n');
});

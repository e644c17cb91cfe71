// CI fuzz run: 10^6 random and mutated frames through decode() (+ encode of what decoded) and 5000 mutated
// pcap/pcapng files through inspectFile(), in two child processes. Bigger runs: node dist-test/test/fuzz/run.js.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { CHILD, runFuzz, summary } from '../fuzz/run.js';
import { checkShape, fuzzOneFrame } from '../fuzz/harness.js';
import { decode, encode } from '../../src/wire/segment.js';
import { buildCorpus } from '../fuzz/corpus.js';
import type { LinkType } from '../../src/wire/types.js';

describe('decoder and inspect fuzzing', () => {
  it('the corpus holds real captured frames of all three link types and both families', () => {
    const c = buildCorpus();
    expect(c.files.length).toBeGreaterThanOrEqual(10);
    const links = new Set(c.frames.filter((f) => f.origin !== 'encode').map((f) => f.link));
    expect([...links].sort()).toEqual(expect.arrayContaining(['ethernet', 'sll']));
    expect(c.frames.some((f) => f.origin !== 'encode' && (f.data[f.link === 'raw' ? 0 : f.link === 'sll' ? 16 : 14]! >> 4) === 6)).toBe(true);
  });

  it('the shape check can fail: it flags impossible fields and a payload longer than the frame', () => {
    const r = decode(encode({ src: '198.18.0.1', dst: '198.18.0.2', sport: 1, dport: 2, seq: 3, flags: 'S' }), 'raw');
    if (!r.ok) throw new Error(r.error);
    expect(checkShape(r, Buffer.alloc(40))).toBeUndefined();
    expect(checkShape({ ...r, segment: { ...r.segment, sport: 70000 } }, Buffer.alloc(40))).toMatch(/uint16/);
    expect(checkShape({ ...r, segment: { ...r.segment, payload: Buffer.alloc(41) } }, Buffer.alloc(40))).toMatch(/payload/);
    expect(checkShape({ ok: false, error: '', layer: 'ipv4' }, Buffer.alloc(40))).toMatch(/error/);
    expect(fuzzOneFrame(Buffer.alloc(60), 'token-ring' as LinkType, false)).toEqual({ ok: false }); // an error result, not a throw
  });

  it('10^6 frames and 5000 capture files: no crash, no hang, no escaping exception, each input within its bound', async () => {
    expect(existsSync(CHILD), `${CHILD}: run npx tsc -p tsconfig.fuzz.json (npm test does)`).toBe(true);
    const r = await runFuzz({ frames: 1_000_000, files: 5000, workers: 2, seed: Number(process.env.TCPLAB_FUZZ_SEED ?? 1) });
    console.log(summary(r));
    expect(r.deaths).toEqual([]);
    expect(r.failures).toEqual([]);
    expect(r.inputs).toEqual({ frames: 1_000_000, files: 5000 });
    // the mutations must reach past the first length checks, and some files must still be readable
    expect(r.decodedOk).toBeGreaterThan(100_000);
    expect(r.filesRefused).toBeLessThan(5000);
    expect(r.framesDecoded).toBeGreaterThan(1_000_000);
  }, 120_000);
});

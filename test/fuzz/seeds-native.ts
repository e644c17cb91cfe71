// Writes the in-node fuzzer's frame corpus (test/fuzz/corpus.ts: real captures + encoder output) as seeds
// for the libFuzzer harness native/fuzz/parse_fuzz.cc: one file per frame, byte 0 the link (0 ethernet,
// 1 sll, 2 raw), then the frame. Usage: node dist-test/test/fuzz/seeds-native.js DIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCorpus } from './corpus.js';

const LINK_BYTE = { ethernet: 0, sll: 1, raw: 2 } as const;

const dir = process.argv[2];
if (!dir) throw new TypeError('usage: seeds-native.js DIR (the libFuzzer seed corpus to write)');
mkdirSync(dir, { recursive: true });
const { frames } = buildCorpus();
frames.forEach((fr, i) => {
  writeFileSync(join(dir, `seed-${String(i).padStart(5, '0')}`), Buffer.concat([Buffer.from([LINK_BYTE[fr.link]]), fr.data]));
});
console.log(`seeds-native: ${frames.length} seeds in ${dir}`);

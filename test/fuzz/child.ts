// One fuzz child process: runs the chunks it is given (argv[2], JSON) and prints one JSON line of
// ChunkStats per chunk, so the parent knows which chunk was running if this process dies or hangs.
import { buildCorpus } from './corpus.js';
import { runFileChunk, runFrameChunk, type ChunkJob } from './harness.js';

const jobs = JSON.parse(process.argv[2] ?? '[]') as ChunkJob[];
const corpus = buildCorpus();
for (const job of jobs) {
  process.stdout.write(`${JSON.stringify({ start: job.seed })}\n`);
  const st = job.kind === 'frames' ? runFrameChunk(job, corpus) : await runFileChunk(job, corpus);
  process.stdout.write(`${JSON.stringify(st)}\n`);
}

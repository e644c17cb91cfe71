// The fuzz loops: frames through decode() (and encode(toSpec()) when decode says ok), capture files through
// inspectFile() + its JSON and text renderings. Every input is regenerated from (seed, index), so a failure
// report names what to replay. A failure is: an exception escaping decode, a result of the wrong shape,
// an exception other than CaptureFormatError escaping inspect, or one input over its time bound.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CaptureFormatError, inspectFile, inspectToJson, renderInspect } from '../../src/inspect/index.js';
import { BatchLink, decodeBatch, O, OUT_STRIDE } from '../../src/wire/batch.js';
import { decode, encode, toSpec } from '../../src/wire/segment.js';
import type { DecodeResult, LinkType } from '../../src/wire/types.js';
import type { Corpus } from './corpus.js';
import { mutateBytes, mutateFile, mutateHeaders, randomFrame } from './mutate.js';
import { Rng } from './rng.js';

export interface ChunkJob {
  kind: 'frames' | 'files';
  seed: number;
  count: number;
  /** Per-input time bound. */
  boundMs: number;
  tmpDir: string;
}

export interface Failure {
  kind: 'frames' | 'files';
  seed: number;
  index: number;
  what: string;
  /** The input (hex), cut to 256 bytes for frames; the file size for files. */
  input: string;
}

export interface ChunkStats {
  kind: 'frames' | 'files';
  seed: number;
  inputs: number;
  /** Frames that went through decode(): the inputs themselves, or every frame of each readable file. */
  framesDecoded: number;
  decodedOk: number;
  decodeRejected: number;
  /** Files refused with a CaptureFormatError (the documented outcome for corrupt captures). */
  filesRefused: number;
  maxInputMs: number;
  totalMs: number;
  failures: Failure[];
}

const LINKS: readonly LinkType[] = ['ethernet', 'sll', 'raw'];
const now = () => Number(process.hrtime.bigint()) / 1e6;

export function checkShape(r: DecodeResult, frame: Uint8Array): string | undefined {
  if (r === null || typeof r !== 'object' || typeof r.ok !== 'boolean') return `decode returned ${typeof r}`;
  if (!r.ok) return typeof r.error === 'string' && r.error.length > 0 && typeof r.layer === 'string' ? undefined : 'error result without error/layer';
  const s = r.segment;
  const u16 = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0xffff;
  const u32 = (v: number) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
  if (!u16(s.sport) || !u16(s.dport) || !u16(s.window) || !u16(s.urg)) return 'port/window/urg out of uint16';
  if (!u32(s.seq) || !u32(s.ack)) return 'seq/ack out of uint32';
  if (s.family !== 4 && s.family !== 6) return `family ${String(s.family)}`;
  if (!(s.payload instanceof Uint8Array) || s.payload.length > frame.length) return 'payload longer than the frame';
  if (!Array.isArray(s.options) || !Array.isArray(r.warnings)) return 'options/warnings not arrays';
  return undefined;
}

const batchOut = new Uint32Array(OUT_STRIDE);

/** The batch decoder (inspect's hot path) on the same frame: never reads outside it; agrees where decode() succeeds. */
function batchDisagrees(frame: Uint8Array, link: LinkType, r: DecodeResult): string | undefined {
  const code = link === 'ethernet' ? BatchLink.ethernet : link === 'sll' ? BatchLink.sll : BatchLink.raw;
  decodeBatch(frame, new Uint32Array([0, frame.length, code]), 1, batchOut);
  if (!r.ok) return undefined;
  const s = r.segment;
  const got = [batchOut[O.status], batchOut[O.sport], batchOut[O.dport], batchOut[O.seq], batchOut[O.ack], batchOut[O.flags], batchOut[O.len]];
  const want = [0, s.sport, s.dport, s.seq, s.ack, s.flagBits, s.payload.length];
  return got.every((v, i) => v === want[i]) ? undefined : `decodeBatch ${JSON.stringify(got)} != decode ${JSON.stringify(want)}`;
}

/** One frame: decode must return a well-formed result; a decoded segment must encode again. */
export function fuzzOneFrame(frame: Uint8Array, link: LinkType, offloaded: boolean): { ok: boolean; problem?: string } {
  let r: DecodeResult;
  try {
    r = decode(frame, link, { offloaded });
  } catch (e) {
    return { ok: false, problem: `decode threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` };
  }
  const bad = checkShape(r, frame) ?? batchDisagrees(frame, link, r);
  if (bad) return { ok: false, problem: bad };
  if (r.ok) {
    try {
      encode(toSpec(r.segment));
    } catch (e) {
      return { ok: true, problem: `encode(toSpec(decoded)) threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` };
    }
  }
  return { ok: r.ok };
}

export function frameInput(rng: Rng, corpus: Corpus): { frame: Buffer; link: LinkType; offloaded: boolean } {
  const roll = rng.int(100);
  const seed = rng.pick(corpus.frames);
  let link = seed.link;
  let frame: Buffer;
  if (roll < 10) {
    frame = randomFrame(rng);
    link = rng.pick(LINKS);
  } else if (roll < 45) {
    frame = mutateHeaders(rng, link, seed.data);
    if (rng.chance(0.3)) frame = mutateBytes(rng, frame);
  } else {
    frame = mutateBytes(rng, seed.data, rng.pick(corpus.frames).data);
  }
  if (rng.chance(0.02)) link = rng.pick(LINKS); // the wrong link type for the bytes
  return { frame, link, offloaded: rng.chance(0.1) };
}

export function runFrameChunk(job: ChunkJob, corpus: Corpus): ChunkStats {
  const st = blank(job);
  const t0 = now();
  const rng = new Rng(job.seed);
  for (let i = 0; i < job.count; i++) {
    const { frame, link, offloaded } = frameInput(rng, corpus);
    const a = now();
    const r = fuzzOneFrame(frame, link, offloaded);
    let ms = now() - a;
    // Wall time includes GC and the scheduler (2 cores, other jobs): an input over the bound is timed
    // again and counts by its best time, so only an input that is slow by itself fails.
    for (let k = 0; k < 2 && ms > job.boundMs; k++) {
      const b = now();
      fuzzOneFrame(frame, link, offloaded);
      ms = Math.min(ms, now() - b);
    }
    st.inputs++;
    st.framesDecoded++;
    if (r.ok) st.decodedOk++;
    else st.decodeRejected++;
    if (ms > st.maxInputMs) st.maxInputMs = ms;
    const what = r.problem ?? (ms > job.boundMs ? `took ${ms.toFixed(1)} ms (bound ${job.boundMs} ms)` : undefined);
    if (what && st.failures.length < 20) st.failures.push({ kind: 'frames', seed: job.seed, index: i, what: `${link}: ${what}`, input: frame.subarray(0, 256).toString('hex') });
  }
  st.totalMs = now() - t0;
  return st;
}

export async function runFileChunk(job: ChunkJob, corpus: Corpus): Promise<ChunkStats> {
  const st = blank(job);
  const t0 = now();
  const rng = new Rng(job.seed);
  for (let i = 0; i < job.count; i++) {
    const seed = rng.pick(corpus.files);
    const data = mutateFile(rng, seed.format, seed.data);
    const path = join(job.tmpDir, `fuzz-${job.seed}-${i}.${seed.format}`);
    writeFileSync(path, data);
    let a = now();
    let what: string | undefined;
    try {
      let rep = await inspectFile(path);
      if (now() - a > job.boundMs) { // timed again, as for frames
        a = now();
        rep = await inspectFile(path);
      }
      st.framesDecoded += rep.frames;
      st.decodedOk += rep.tcpPackets;
      st.decodeRejected += rep.frames - rep.tcpPackets;
      JSON.stringify(inspectToJson(rep));
      renderInspect(rep, { explain: true });
    } catch (e) {
      if (e instanceof CaptureFormatError) st.filesRefused++;
      else what = `inspect threw ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack}` : String(e)}`;
    } finally {
      rmSync(path, { force: true });
    }
    const ms = now() - a;
    st.inputs++;
    if (ms > st.maxInputMs) st.maxInputMs = ms;
    what ??= ms > job.boundMs ? `took ${ms.toFixed(1)} ms (bound ${job.boundMs} ms)` : undefined;
    if (what && st.failures.length < 20) st.failures.push({ kind: 'files', seed: job.seed, index: i, what: `${seed.name}: ${what}`, input: data.length <= 4096 ? data.toString('hex') : `${data.length} bytes` });
  }
  st.totalMs = now() - t0;
  return st;
}

function blank(job: ChunkJob): ChunkStats {
  return { kind: job.kind, seed: job.seed, inputs: 0, framesDecoded: 0, decodedOk: 0, decodeRejected: 0, filesRefused: 0, maxInputMs: 0, totalMs: 0, failures: [] };
}

#!/usr/bin/env node
// Re-takes the case excerpts of labs/README.md from real runs (root): for every `$ npm run lab:X` block,
// each case section that shows a ladder is replaced by the same case of a fresh run, cut down as the
// README had it (the same number of packet rows before a "[... trimmed ...]" marker, the same checks).
//   sudo node scripts/readme-ladders.mjs [--only LAB] [--dry-run]
// Needs `npm run build` first. Sections without a ladder (checks only) are left as they are.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const readme = join(root, 'labs', 'README.md');
const cli = join(root, 'dist', 'src', 'cli.js');
const args = process.argv.slice(2);
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
const dry = args.includes('--dry-run');

const isRow = (l) => /^ *(\d+ +)?\+[\d.]+s? /.test(l); // a packet row: frame number, Δt
const isMarker = (l) => /^\s*\[\.\.\. .* trimmed \.\.\.\]$/.test(l);
const isCheck = (l) => /^ {2}(PASS|DIFFERS|ERROR) {1,4}\S/.test(l);

/** A case section: header (case line, sysctls, steps), ladder lines, check blocks, the verdict line. */
function split(lines) {
  const verdictAt = lines.findIndex((l) => l.startsWith('  case verdict:'));
  const body = lines.slice(0, verdictAt);
  const ladderStart = body.findIndex((l, i) => i > 0 && body[i - 1] === '' && /^ {8,}\S/.test(l) && !isCheck(l));
  const checkStart = body.findIndex((l) => isCheck(l));
  const head = body.slice(0, ladderStart < 0 ? (checkStart < 0 ? body.length : checkStart) : ladderStart);
  const ladder = ladderStart < 0 ? [] : body.slice(ladderStart, checkStart < 0 ? body.length : checkStart);
  while (ladder.length && ladder[ladder.length - 1] === '') ladder.pop();
  const checks = [];
  for (const l of checkStart < 0 ? [] : body.slice(checkStart)) {
    if (isCheck(l)) checks.push([l]);
    else if (checks.length) checks[checks.length - 1].push(l);
  }
  return { head, ladder, checks, verdict: lines[verdictAt] };
}

/** The legend lines at the end of a fresh ladder (from column 0) and the ladder before them. */
function legendOf(ladder) {
  let k = ladder.length;
  while (k > 0 && (/^\S/.test(ladder[k - 1]) || (/^ {2}\S/.test(ladder[k - 1]) && k > 1))) k--;
  while (k < ladder.length && !/^\S/.test(ladder[k])) k++; // a legend starts at column 0
  return { body: ladder.slice(0, k), legend: ladder.slice(k) };
}

/** The legend entries a kept part of a ladder needs. */
function legendFor(kept, legend) {
  const entries = [];
  for (const l of legend) (/^\S/.test(l) ? entries.push([l]) : entries[entries.length - 1]?.push(l));
  return entries.filter((e) => (e[0].startsWith('(old rcv_nxt') ? kept.some((l) => l.includes('(old rcv_nxt')) : kept.some((l) => /(seq|ack) -\d/.test(l)))).flat();
}

/** The fresh ladder cut as the old one was: rows before its first marker, or around its first RST. */
function trim(freshLadder, old) {
  const markers = old.filter(isMarker);
  const { body: fresh, legend } = legendOf(freshLadder);
  if (!markers.length) return freshLadder;
  const bar = fresh.find((l) => l.includes('│'))?.indexOf('│') ?? 0;
  const mark = (m) => ' '.repeat(bar) + m.trim();
  const firstRow = fresh.findIndex(isRow);
  const heading = fresh.slice(0, firstRow);
  const rowsOf = (ls) => ls.filter(isRow).length;
  const lastMark = old.map(isMarker).lastIndexOf(true);
  const firstMark = old.findIndex(isMarker);
  // Notes after the old ladder's last marker were the ladder's closing notes: keep the fresh ones.
  const lastRow = fresh.map(isRow).lastIndexOf(true);
  const closing = old.slice(lastMark + 1).some((l) => l.trim()) ? ['', ...fresh.slice(lastRow + 1).filter((l) => !l.includes('│'))] : [];
  // Lines from packet row `start` (0-based) for n rows, with their wrapped parts and notes.
  const rowsFrom = (start, n) => {
    const out = [];
    let r = -1;
    for (const l of fresh.slice(firstRow)) {
      if (isRow(l)) r++;
      if (r >= start + n) break;
      if (r >= start) out.push(l);
    }
    return out;
  };
  let kept;
  if (rowsOf(old.slice(0, firstMark)) > 0) {
    kept = [mark(markers[0])];
    kept.unshift(...rowsFrom(0, rowsOf(old.slice(0, firstMark))));
  } else {
    // "[... earlier ... trimmed ...]" first: the same rows around the first RST (the point of that excerpt).
    const mid = old.slice(firstMark + 1, lastMark);
    const before = Math.max(0, mid.filter(isRow).findIndex((l) => /─ R /.test(l)));
    const freshR = Math.max(0, fresh.filter(isRow).findIndex((l) => /─ R /.test(l)));
    kept = [mark(markers[0]), ...rowsFrom(Math.max(0, freshR - before), rowsOf(mid)), ...(markers.length > 1 ? [mark(markers[markers.length - 1])] : [])];
  }
  return [...heading, ...kept, ...closing, ...legendFor([...kept, ...closing], legend)];
}

/** Two check titles that share most of their words. */
function alike(a, b) {
  const wa = a.trim().split(/\s+/);
  const wb = new Set(b.trim().split(/\s+/));
  return wa.filter((w) => wb.has(w)).length >= 0.75 * Math.max(wa.length, wb.size);
}

const text = readFileSync(readme, 'utf8');
const lines = text.split('\n');
const out = [];
let i = 0;
let changed = 0;
while (i < lines.length) {
  const l = lines[i];
  const m = /^\$ npm run lab:(\S+)(?: -- (.*?))?(\s+#.*)?$/.exec(l);
  if (!m) {
    out.push(l);
    i++;
    continue;
  }
  const lab = m[1];
  const extra = (m[2] ?? '').split(/\s+/).filter(Boolean);
  const end = lines.indexOf('```', i);
  const block = lines.slice(i, end);
  // Case sections with a ladder.
  const starts = block.flatMap((b, k) => (b.startsWith('== case ') ? [k] : []));
  const sections = starts.map((s, k) => {
    const stop = block.findIndex((b, q) => q > s && b.startsWith('  case verdict:'));
    return { s, e: stop, id: /^== case (\S+):/.exec(block[s])[1] };
  }).filter((x) => x.e > 0 && split(block.slice(x.s, x.e + 1)).ladder.some(isRow));
  if ((only && only !== lab) || !sections.length) {
    out.push(...block);
    i = end;
    continue;
  }
  const caseArgs = extra.includes('--case') ? extra : [...extra, ...sections.flatMap((x) => ['--case', x.id])];
  process.stderr.write(`run ${lab} ${caseArgs.join(' ')}\n`);
  // An excerpt chosen for a racy event (an RST) waits for a run that shows it again.
  const wantRst = sections.some((x) => block.slice(x.s, x.e).some((b) => isRow(b) && /─ R /.test(b)));
  let r;
  for (let attempt = 1; attempt <= 15; attempt++) {
    r = spawnSync(process.execPath, [cli, 'run', lab, ...caseArgs, '--no-pcap', '--width', '100'], { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0 || !wantRst || r.stdout.split('\n').some((f) => isRow(f) && /─ R /.test(f))) break;
    process.stderr.write(`  attempt ${attempt}: no RST this time, again\n`);
  }
  if (r.status !== 0) {
    process.stderr.write(`  exit ${r.status}: kept the old excerpt\n${r.stderr.slice(-1500)}\n`);
    out.push(...block);
    i = end;
    continue;
  }
  const fresh = r.stdout.split('\n');
  let k = 0;
  for (const x of sections) {
    out.push(...block.slice(k, x.s));
    const fs = fresh.findIndex((f) => f.startsWith(`== case ${x.id}:`));
    const fe = fresh.findIndex((f, q) => q > fs && f.startsWith('  case verdict:'));
    const o = split(block.slice(x.s, x.e + 1));
    const f = split(fresh.slice(fs, fe + 1));
    // The checks the excerpt showed, with as many of their lines (a title can have been reworded since).
    const checks = o.checks.flatMap((c) => {
      const same = f.checks.find((n) => n[0].trim() === c[0].trim()) ?? f.checks.find((n) => alike(n[0], c[0]));
      return same ? [same.slice(0, c.length)] : [];
    });
    out.push(...f.head, ...trim(f.ladder, o.ladder), '', ...checks.flat(), f.verdict);
    k = x.e + 1;
    changed++;
  }
  out.push(...block.slice(k));
  i = end;
}
const result = out.join('\n');
process.stderr.write(`${changed} case excerpt(s) re-taken; lines cut with "…" left: ${(result.match(/…/g) ?? []).length}\n`);
if (!dry) writeFileSync(readme, result);

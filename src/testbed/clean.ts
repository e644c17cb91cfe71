// cleanLeftovers(): removes what a killed run left behind, found by the `tcplab-` prefix: namespaces
// (after killing their processes), links and nft tables in the root namespace, and journals (restoring
// their root-namespace sysctls). Runs whose owning process is still alive are left alone.
import { readdirSync, rmSync } from 'node:fs';
import { must, run } from './exec.js';
import { isAlive, readJournals } from './journal.js';
import { PREFIX, RUN_DIR, journalPath, runIdOf } from './names.js';
import { writeSync } from './sysctl.js';
import { killAll } from './testbed.js';

export interface CleanOptions {
  /** Only these run ids (default: every tcplab- leftover). */
  runIds?: readonly string[];
  /** Also remove runs whose owning process is still alive. */
  force?: boolean;
}

export interface CleanReport {
  namespaces: string[];
  killedPids: number[];
  links: string[];
  nftTables: string[];
  sysctlsRestored: Array<{ key: string; value: string }>;
  journals: string[];
  /** Skipped because their process still runs. */
  skippedLive: string[];
  errors: string[];
}

export async function listNamespaces(): Promise<string[]> {
  const out = await must('ip', ['netns', 'list']);
  return out.split('\n').map((l) => l.split(/\s+/)[0]!).filter((n) => n.startsWith(PREFIX));
}

export async function listRootLinks(): Promise<string[]> {
  const links = JSON.parse(await must('ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>;
  return links.map((l) => l.ifname).filter((n) => n.startsWith(PREFIX));
}

export async function listRootNftTables(): Promise<Array<{ family: string; name: string }>> {
  const r = await run('nft', ['-j', 'list', 'tables']);
  if (r.code !== 0) return [];
  const doc = JSON.parse(r.stdout) as { nftables?: Array<{ table?: { family: string; name: string } }> };
  return (doc.nftables ?? []).flatMap((x) => (x.table && x.table.name.startsWith(PREFIX) ? [x.table] : []));
}

export async function cleanLeftovers(opts: CleanOptions = {}): Promise<CleanReport> {
  const rep: CleanReport = { namespaces: [], killedPids: [], links: [], nftTables: [], sysctlsRestored: [], journals: [], skippedLive: [], errors: [] };
  const journals = readJournals();
  const liveRuns = new Set(journals.filter((j) => j.pid !== process.pid && isAlive(j.pid)).map((j) => j.runId));
  const wanted = (name: string): boolean => {
    const id = runIdOf(name);
    if (opts.runIds && (!id || !opts.runIds.includes(id))) return false;
    if (id && liveRuns.has(id) && !opts.force) {
      rep.skippedLive.push(name);
      return false;
    }
    return true;
  };

  for (const ns of await listNamespaces()) {
    if (!wanted(ns)) continue;
    rep.killedPids.push(...(await killAll(ns)));
    const r = await run('ip', ['netns', 'del', ns]);
    if (r.code === 0) rep.namespaces.push(ns);
    else rep.errors.push(`netns ${ns}: ${r.stderr.trim()}`);
  }
  for (const l of await listRootLinks()) {
    if (!wanted(l)) continue;
    const r = await run('ip', ['link', 'del', l]);
    if (r.code === 0) rep.links.push(l);
    // deleting one end of a veth pair takes the other with it
    else if (!/Cannot find device/.test(r.stderr)) rep.errors.push(`link ${l}: ${r.stderr.trim()}`);
  }
  for (const t of await listRootNftTables()) {
    if (!wanted(t.name)) continue;
    const r = await run('nft', ['delete', 'table', t.family, t.name]);
    if (r.code === 0) rep.nftTables.push(`${t.family} ${t.name}`);
    else rep.errors.push(`nft table ${t.name}: ${r.stderr.trim()}`);
  }
  for (const j of journals) {
    if (!wanted(`${PREFIX}${j.runId}`)) continue;
    // Root-namespace entries are restored; namespaced ones went away with their namespace.
    for (const e of [...j.sysctls].reverse()) {
      if (e.netns !== null) continue;
      if (writeSync(e)) rep.sysctlsRestored.push({ key: e.key, value: e.before });
      else rep.errors.push(`sysctl ${e.key}: could not restore '${e.before}'`);
    }
    rmSync(journalPath(j.runId), { force: true });
    rep.journals.push(journalPath(j.runId));
  }
  // Stray temp files of interrupted journal writes.
  try {
    for (const f of readdirSync(RUN_DIR)) {
      const id = f.slice(0, 6);
      if (/\.json\.tmp-\d+$/.test(f) && (!opts.runIds || opts.runIds.includes(id)) && (!liveRuns.has(id) || opts.force)) {
        rmSync(`${RUN_DIR}/${f}`, { force: true });
      }
    }
  } catch {
    // no run dir: nothing to do
  }
  return rep;
}

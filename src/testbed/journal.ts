// The restore journal: every sysctl change is written here BEFORE it is made, so a killed run's changes
// can still be undone (`tcplab clean`). One file per run: /run/tcplab/<runId>.json.
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { journalPath, RUN_DIR } from './names.js';

export interface SysctlEntry {
  /** null: the root namespace. */
  netns: string | null;
  key: string;
  before: string;
}

export interface JournalData {
  runId: string;
  pid: number;
  startedAt: string;
  namespaces: string[];
  sysctls: SysctlEntry[];
}

export class Journal {
  private readonly data: JournalData;

  constructor(readonly runId: string) {
    this.data = { runId, pid: process.pid, startedAt: new Date().toISOString(), namespaces: [], sysctls: [] };
    try {
      mkdirSync(RUN_DIR, { recursive: true, mode: 0o700 });
      this.flush();
    } catch (e) {
      // Not root: the first thing a testbed does is this journal, so say what is missing, keeping the code.
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EPERM') throw e;
      throw Object.assign(new Error(`testbed: cannot write its restore journal in ${RUN_DIR} (${code}): a testbed needs root ` +
        '(network namespaces, veths, sysctls); run as root, e.g. sudo'), { code });
    }
  }

  get path(): string {
    return journalPath(this.runId);
  }

  get sysctls(): readonly SysctlEntry[] {
    return this.data.sysctls;
  }

  addNamespace(ns: string): void {
    this.data.namespaces.push(ns);
    this.flush();
  }

  addSysctl(e: SysctlEntry): void {
    this.data.sysctls.push(e);
    this.flush();
  }

  /** Drops the entry once it has been restored. */
  removeSysctl(e: SysctlEntry): void {
    const i = this.data.sysctls.lastIndexOf(e);
    if (i >= 0) this.data.sysctls.splice(i, 1);
    this.flush();
  }

  remove(): void {
    rmSync(this.path, { force: true });
  }

  // Atomic replace: a kill mid-write leaves the previous, complete journal.
  private flush(): void {
    const tmp = `${this.path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(this.data, null, 1), { mode: 0o600 });
    renameSync(tmp, this.path);
  }
}

export function readJournals(): JournalData[] {
  let files: string[];
  try {
    files = readdirSync(RUN_DIR);
  } catch {
    return [];
  }
  const out: JournalData[] = [];
  for (const f of files) {
    if (!/^[0-9a-f]{6}\.json$/.test(f)) continue;
    try {
      out.push(JSON.parse(readFileSync(`${RUN_DIR}/${f}`, 'utf8')) as JournalData);
    } catch {
      // half-written or foreign file: ignore
    }
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

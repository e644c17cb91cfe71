// sysctl get/set inside a namespace, every change journaled before it is made and undone on dispose.
import { Journal, type SysctlEntry } from './journal.js';
import { inNetns, must, run, runSync } from './exec.js';

const KEY = /^[a-z0-9_][a-z0-9_\-]*(?:[./][a-z0-9_][a-z0-9_\-]*)+$/i;

/** 'net.ipv4.tcp_tw_reuse' or 'net/ipv4/tcp_tw_reuse' -> /proc/sys/net/ipv4/tcp_tw_reuse */
export function sysctlPath(key: string): string {
  if (!KEY.test(key)) throw new TypeError(`sysctl key: '${key}' is not a sysctl name like net.ipv4.tcp_tw_reuse`);
  return `/proc/sys/${key.replace(/\./g, '/')}`;
}

export type SysctlValue = string | number | readonly number[];

function format(v: SysctlValue): string {
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new TypeError(`sysctl value: ${v} is not an integer`);
    return String(v);
  }
  if (typeof v === 'string') return v;
  return v.join('\t');
}

/** Whitespace-normalized, so '4096 131072' and '4096\t131072' compare equal. */
export function normalize(v: string): string {
  return v.trim().split(/\s+/).join(' ');
}

export class Sysctl {
  constructor(private readonly netns: string | null, private readonly journal: Journal) {}

  async get(key: string): Promise<string> {
    const [cmd, args] = inNetns(this.netns ?? undefined, 'cat', [sysctlPath(key)]);
    return normalize(await must(cmd, args));
  }

  async getInt(key: string): Promise<number> {
    const v = await this.get(key);
    const n = Number(v);
    if (!Number.isInteger(n)) throw new TypeError(`sysctl ${key}: '${v}' is not a single integer`);
    return n;
  }

  /** Sets key; the previous value is journaled first and restored on dispose. */
  async set(key: string, value: SysctlValue): Promise<void> {
    const path = sysctlPath(key);
    const text = format(value);
    const before = await this.get(key);
    this.journal.addSysctl({ netns: this.netns, key, before });
    await write(this.netns, path, text);
  }

  /** Restores this host's journaled values, newest first (so the oldest original value wins). */
  async restore(): Promise<void> {
    const mine = this.journal.sysctls.filter((e) => e.netns === this.netns).reverse();
    for (const e of mine) {
      await write(this.netns, sysctlPath(e.key), e.before);
      this.journal.removeSysctl(e);
    }
  }

  restoreSync(): void {
    const mine = this.journal.sysctls.filter((e) => e.netns === this.netns).reverse();
    for (const e of mine) {
      writeSync(e);
      this.journal.removeSysctl(e);
    }
  }
}

async function write(netns: string | null, path: string, text: string): Promise<void> {
  const [cmd, args] = inNetns(netns ?? undefined, 'tee', [path]);
  const r = await run(cmd, args, { input: text + '\n' });
  if (r.code !== 0) throw new Error(`sysctl: cannot write '${text}' to ${path}${netns ? ` in ${netns}` : ''}: ${r.stderr.trim()}`);
}

/** Used by the exit hook and by clean: restores one journal entry without the event loop. */
export function writeSync(e: SysctlEntry): boolean {
  const [cmd, args] = inNetns(e.netns ?? undefined, 'tee', [sysctlPath(e.key)]);
  return runSync(cmd, args, e.before + '\n').code === 0;
}

// Files a run writes under sudo belong to the user who ran sudo (SUDO_UID/SUDO_GID), as tcpdump -Z does:
// otherwise pcaps and reports in their own folder are root's and they cannot delete them.
import { chownSync, existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

type Env = Readonly<Record<string, string | undefined>>;

/** The invoking user behind sudo, when running as root under sudo; else undefined (nothing to do). */
export function invoker(env: Env = process.env, uid = process.getuid?.()): { uid: number; gid: number } | undefined {
  if (uid !== 0) return undefined;
  const u = Number(env.SUDO_UID);
  const g = Number(env.SUDO_GID);
  if (!Number.isInteger(u) || !Number.isInteger(g) || u <= 0 || g < 0 || env.SUDO_UID === '' || env.SUDO_GID === '') return undefined;
  return { uid: u, gid: g };
}

/**
 * Gives `paths` (files, or folders walked recursively) to the invoking user: only entries that root owns
 * and that changed since `sinceMs` (what this run wrote), never following symbolic links. Returns what
 * was changed.
 */
export function giveToInvoker(paths: readonly (string | undefined)[], sinceMs: number, who = invoker()): string[] {
  if (!who) return [];
  const done: string[] = [];
  const visit = (p: string): void => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    if (st.isSymbolicLink()) return;
    if (st.uid === 0 && st.mtimeMs >= sinceMs - 1000) {
      chownSync(p, who.uid, who.gid);
      done.push(p);
    }
    if (st.isDirectory()) for (const e of readdirSync(p)) visit(join(p, e));
  };
  for (const p of paths) if (p !== undefined && existsSync(p)) visit(p);
  return done;
}

// Snapshots of the booted QEMU guest, so a run restores a guest in well under a second instead of
// booting Linux under TCG. The guest is booted once (cold), and as soon as its peer says it is ready, and
// before anything per-run is configured (no address, no sysctl), QEMU migrates its state into a file of
// the guest cache: snapshot-<key>. Later starts run QEMU with the same devices and `-incoming` from that
// file: each run gets its own QEMU process and its own copy of a freshly booted kernel, which nothing
// has touched since boot. The key hashes everything that determines the state (the QEMU binary and its
// firmware, kernel, initramfs and the argv minus the per-run parts), so a changed input makes a new one.
//
// What restored guests share: everything the kernel drew from its RNG during boot (stack canaries, hash
// seeds, the IP ID table, KASLR, which PVH boot does not use anyway) and the boot itself (the same uptime
// at restore, the same console log). The RNG is re-seeded from the host right after the restore (/reseed:
// RNDADDENTROPY + RNDRESEEDCRNG), and the TCP secrets (net_secret for ISNs and ephemeral ports, the
// timestamp offset key, the syncookie and ehash secrets) are drawn lazily on the first TCP use, which
// comes after that; so each run's ISNs, timestamp offsets and ports are its own. (Merely writing to
// /dev/urandom would not do: the crng reseeds from it only later, and secrets drawn once never re-key.)
// The labs look at TCP behaviour, which none of the shared state changes.
import { isAlive } from '../testbed/journal.js';
import { createHash } from 'node:crypto';
import { createWriteStream, lstatSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';

/** Files whose content decides the guest state; big ones (the 66 MB vmlinux) count by size and mtime. */
const HASH_LIMIT = 16 << 20;

function which(cmd: string): string | undefined {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(d, cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function fileDigest(h: ReturnType<typeof createHash>, path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    h.update(`${path}:missing\n`);
    return;
  }
  h.update(`${path}:${st.size}:`);
  if (st.size <= HASH_LIMIT) h.update(readFileSync(path));
  else h.update(`${st.mtimeMs}:${st.ino}`);
  h.update('\n');
}

/**
 * The snapshot key: the QEMU binary (and the firmware it loads from /usr/share/qemu), the files named in
 * the argv, and the argv itself (with per-run values already replaced by placeholders by the caller).
 */
export function snapshotKey(qemu: string, argv: readonly string[], files: readonly string[]): string {
  const h = createHash('sha256');
  h.update('tcplab-qemu-snapshot v1\n');
  fileDigest(h, which(qemu) ?? qemu);
  for (const rom of ['qboot.rom', 'pvh.bin', 'linuxboot_dma.bin', 'efi-virtio.rom']) fileDigest(h, join('/usr/share/qemu', rom));
  for (const f of files) fileDigest(h, f);
  h.update(JSON.stringify(argv));
  return h.digest('hex').slice(0, 24);
}

export function snapshotPath(dir: string, key: string): string {
  return join(dir, `snapshot-${key}`);
}

/** A failed restore of a just-built snapshot leaves this, so later starts boot cold instead of rebuilding. */
export function failedMarker(dir: string, key: string): string {
  return join(dir, `snapshot-${key}.failed`);
}

/** Why snapshots of this key are not used (with how to retry), or undefined. */
export function readFailedMarker(dir: string, key: string): string | undefined {
  try {
    return `${readFileSync(failedMarker(dir, key), 'utf8').trim()} (remove ${failedMarker(dir, key)} to retry)`;
  } catch {
    return undefined;
  }
}

/** The boot console of the snapshot's guest, copied into each restored run's console log. */
export function consolePath(dir: string, key: string): string {
  return join(dir, `snapshot-${key}.console`);
}

/** A minimal QMP client (JSON lines over QEMU's unix socket): one command at a time, events ignored. */
export class Qmp {
  private waiter: { resolve: (v: unknown) => void; reject: (e: Error) => void } | undefined;
  private greeted!: Promise<void>;
  private constructor(private readonly sock: Socket) {}

  static async connect(path: string, timeoutMs = 10_000): Promise<Qmp> {
    const t0 = Date.now();
    for (;;) {
      try {
        const sock = await new Promise<Socket>((res, rej) => {
          const s = connect(path);
          s.once('connect', () => res(s));
          s.once('error', rej);
        });
        const q = new Qmp(sock);
        q.listen();
        await q.greeted;
        await q.execute('qmp_capabilities');
        return q;
      } catch (e) {
        // QEMU creates the socket while it starts; retry until it listens.
        if (Date.now() - t0 > timeoutMs) throw new Error(`qmp ${path}: ${(e as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  private listen(): void {
    let greet!: () => void;
    let fail!: (e: Error) => void;
    this.greeted = new Promise((res, rej) => ((greet = res), (fail = rej)));
    const rl = createInterface({ input: this.sock });
    rl.on('line', (line) => {
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if ('QMP' in msg) return greet();
      const w = this.waiter;
      if (!w || !('return' in msg || 'error' in msg)) return;
      this.waiter = undefined;
      if ('error' in msg) w.reject(new Error(`qmp: ${JSON.stringify(msg.error)}`));
      else w.resolve(msg.return);
    });
    const gone = (e?: Error) => {
      const err = e ?? new Error('qmp: connection closed');
      fail(err);
      this.waiter?.reject(err);
      this.waiter = undefined;
    };
    this.sock.on('error', gone);
    this.sock.on('close', () => gone());
  }

  execute(cmd: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.waiter) return Promise.reject(new Error('qmp: one command at a time'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.sock.write(JSON.stringify(args ? { execute: cmd, arguments: args } : { execute: cmd }) + '\n');
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

/** The fd a restoring QEMU reads the snapshot from (spawn stdio[3], `-incoming fd:3`). */
export const SNAPSHOT_FD = 3;

/** A temp name next to `file`: parallel starts each write their own, the last rename wins, both are whole. */
export function tempFor(file: string): string {
  return `${file}.tmp-${process.pid}-${Date.now().toString(36)}`;
}

/**
 * Migrates the running guest into `file`: QEMU sends its state to a unix socket of ours (`sock`), which
 * we write to a temp file and rename into place once QEMU says the migration completed and the stream
 * ended. (With an exec: URI, `cat > file`, finishing the file would be up to a child that QEMU may signal
 * when it closes the channel; and QEMU 7.2 takes no `fd:` number for an outgoing migration.)
 * The guest keeps running while its RAM is copied (an idle guest: a few ms of stop-and-copy at the
 * end) and is paused when this returns.
 */
export async function saveSnapshot(qmp: Qmp, sock: string, file: string, timeoutMs = 60_000): Promise<void> {
  const tmp = tempFor(file);
  rmSync(sock, { force: true });
  const server = createServer();
  let written: Promise<void> | undefined;
  server.on('connection', (c) => {
    if (written) return void c.destroy();
    const out = createWriteStream(tmp, { mode: 0o644 });
    written = pipeline(c, out);
    written.catch(() => undefined); // awaited below; a write error must not be an unhandled rejection before that
  });
  await new Promise<void>((res, rej) => server.listen(sock, res).once('error', rej));
  try {
    // The default bandwidth cap (128 MiB/s) would make a 70 MB snapshot take half a second for nothing.
    await qmp.execute('migrate-set-parameters', { 'max-bandwidth': 1e12, 'downtime-limit': 2000 });
    await qmp.execute('migrate', { uri: `unix:${sock}` });
    const t0 = Date.now();
    for (;;) {
      const r = (await qmp.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
      if (r.status === 'completed') break;
      if (r.status === 'failed' || r.status === 'cancelled') throw new Error(`snapshot: migration ${r.status} ${r['error-desc'] ?? ''}`.trim());
      if (Date.now() - t0 > timeoutMs) throw new Error(`snapshot: migration not done within ${timeoutMs} ms (${r.status})`);
      await new Promise((res) => setTimeout(res, 20));
    }
    if (!written) throw new Error('snapshot: QEMU never connected');
    await written;
    const size = statSync(tmp).size;
    if (size < 1 << 20) throw new Error(`snapshot: only ${size} bytes`);
    renameSync(tmp, file);
  } finally {
    server.close();
    rmSync(tmp, { force: true });
    rmSync(sock, { force: true });
  }
}


/**
 * Removes snapshots (and their side files) of other keys, which a changed kernel, initramfs or QEMU made
 * stale, and temp files of writers that died (a start killed while it saved a snapshot).
 */
export function removeStale(dir: string, key: string): void {
  for (const n of listDir(dir)) {
    const m = /^snapshot-([0-9a-f]{24})(\.console|\.failed)?$/.exec(n);
    if (m && m[1] !== key) rmSync(join(dir, n), { force: true });
  }
  removeDeadTemps(dir);
}

/**
 * Removes snapshot temp files whose writer died (for `tcplab clean` too); returns their paths. Looks one
 * level down as well: the guest cache holds a guest per kernel (<cache>/guest/<target id>/, kernels.ts).
 */
export function removeDeadTemps(dir: string, depth = 1): string[] {
  const removed: string[] = [];
  for (const n of listDir(dir)) {
    const t = /^snapshot-[0-9a-f]{24}(?:\.console|\.failed)?\.tmp-(\d+)-/.exec(n);
    if (!t) {
      if (depth > 0 && isDir(join(dir, n))) removed.push(...removeDeadTemps(join(dir, n), depth - 1));
      continue;
    }
    if (isAlive(Number(t[1]))) continue;
    rmSync(join(dir, n), { force: true });
    removed.push(join(dir, n));
  }
  return removed;
}

function isDir(p: string): boolean {
  try {
    return lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export function writeAtomic(path: string, data: string): void {
  const tmp = tempFor(path);
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

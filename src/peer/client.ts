// PeerClient: spawns the peer program (optionally inside a network namespace) and talks JSON lines.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../wire/native.js';
import { notePeerCall, realtimeNowNs } from './record.js';
import type { PeerFailure, PeerOp, PeerOps, PeerOutcome, PeerResponse } from './protocol.js';

export class PeerError extends Error {
  readonly code: string;
  readonly errno: number | undefined;
  readonly syscall: string | undefined;
  constructor(op: string, f: PeerFailure) {
    super(`peer ${op}: ${f.message}`);
    this.name = 'PeerError';
    this.code = f.code;
    this.errno = f.errno;
    this.syscall = f.syscall;
  }
}

export interface PeerSpawnOptions {
  /** Network namespace to run in (via `ip netns exec`); the current one when absent. */
  netns?: string;
  /** The compiled peer script; default <package>/dist/src/peer/main.js. */
  script?: string;
  /** Extra ms allowed on top of a request's own timeoutMs before the client gives up. Default 5000. */
  slackMs?: number;
}

type Args<K extends PeerOp> = PeerOps[K]['args'];
type Result<K extends PeerOp> = { ok: true } & PeerOps[K]['result'];

export function peerScript(): string {
  return join(packageRoot(), 'dist', 'src', 'peer', 'main.js');
}

export class PeerClient implements AsyncDisposable {
  private readonly pending = new Map<number, { resolve: (r: PeerResponse) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextId = 1;
  private exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exitPromise: Promise<void>;
  private stderr = '';

  private constructor(private readonly child: ChildProcess, private readonly slackMs: number, readonly netns: string | undefined) {
    this.exitPromise = new Promise((res) => {
      child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(`peer exited (code ${code}, signal ${signal}) before answering${this.stderr ? `: ${this.stderr.trim()}` : ''}`));
        }
        this.pending.clear();
        res();
      });
    });
    // A peer that died mid-write gives EPIPE here; the exit handler already rejects what is pending.
    child.stdin?.on('error', () => undefined);
    child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    const rl = createInterface({ input: child.stdout! });
    rl.on('line', (line) => {
      let msg: PeerResponse;
      try {
        msg = JSON.parse(line) as PeerResponse;
      } catch {
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      clearTimeout(p.timer);
      p.resolve(msg);
    });
  }

  /** Starts the peer and waits until it answers a ping. */
  static async spawn(opts: PeerSpawnOptions = {}): Promise<PeerClient> {
    const script = opts.script ?? peerScript();
    if (!existsSync(script)) {
      throw new Error(`tcplab: the peer program is not built (${script} is missing). Run \`npm run build:ts\`.`);
    }
    const cmd = opts.netns ? ['ip', ['netns', 'exec', opts.netns, process.execPath, script]] as const : [process.execPath, [script]] as const;
    const child = spawn(cmd[0], [...cmd[1]], { stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise<void>((res, rej) => {
      child.once('spawn', () => res());
      child.once('error', rej);
    });
    return PeerClient.ready(new PeerClient(child, opts.slackMs ?? 5000, opts.netns));
  }

  /**
   * A peer behind another transport (a VM's control port, see src/targets/guest-channel.ts): `child`
   * only needs stdin/stdout/stderr streams, an 'exit' event and kill(). Waits until it answers a ping.
   */
  static async attach(child: ChildProcess, opts: { slackMs?: number } = {}): Promise<PeerClient> {
    return PeerClient.ready(new PeerClient(child, opts.slackMs ?? 5000, undefined));
  }

  /** Resolves with `c` once it answers a ping; disposes it when it does not. */
  private static async ready(c: PeerClient): Promise<PeerClient> {
    try {
      await c.ping();
    } catch (e) {
      await c.dispose();
      throw e;
    }
    return c;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Sends one request; resolves with the outcome (failures are values). Rejects only if the peer is gone. */
  try<K extends PeerOp>(op: K, args: Args<K>): Promise<PeerOutcome<K>> {
    if (this.exited) return Promise.reject(new Error(`peer already exited (code ${this.exited.code})`));
    const id = this.nextId++;
    const own = (args as { timeoutMs?: number }).timeoutMs ?? 5000; // the peer's own default for send
    const startNs = realtimeNowNs();
    return new Promise<PeerOutcome<K>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`peer ${op}: no answer within ${own + this.slackMs} ms`));
      }, own + this.slackMs);
      this.pending.set(id, {
        resolve: (r) => {
          const { id: _id, ...rest } = r;
          notePeerCall(this, this.netns, op, args as Record<string, unknown>, rest, startNs);
          resolve(rest as unknown as PeerOutcome<K>);
        },
        reject,
        timer,
      });
      this.child.stdin!.write(JSON.stringify({ id, op, ...args }) + '\n');
    });
  }

  /** Like try(), but a failure throws PeerError carrying .code ('EADDRINUSE'...). */
  async call<K extends PeerOp>(op: K, args: Args<K>): Promise<Result<K>> {
    const r = await this.try(op, args);
    if (!r.ok) throw new PeerError(op, r);
    return r as Result<K>;
  }

  ping() { return this.call('ping', {}); }
  listen(a: Args<'listen'>) { return this.call('listen', a); }
  accept(a: Args<'accept'>) { return this.call('accept', a); }
  connect(a: Args<'connect'>) { return this.call('connect', a); }
  send(a: Args<'send'>) { return this.call('send', a); }
  recv(a: Args<'recv'>) { return this.call('recv', a); }
  shutdown(a: Args<'shutdown'>) { return this.call('shutdown', a); }
  close(a: Args<'close'>) { return this.call('close', a); }
  closeLinger(a: Args<'closeLinger'>) { return this.call('closeLinger', a); }
  setsockopt(a: Args<'setsockopt'>) { return this.call('setsockopt', a); }
  info(a: Args<'info'>) { return this.call('info', a); }

  /** Immediate SIGKILL (the synchronous exit path); prefer dispose(). */
  kill(): void {
    if (!this.exited) this.child.kill('SIGKILL');
  }

  /** Closes stdin (the peer closes its sockets and exits); kills it if it has not exited within 2 s. */
  async dispose(): Promise<void> {
    if (this.exited) return;
    this.child.stdin?.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), 2000);
    await this.exitPromise;
    clearTimeout(t);
  }
  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}

// One JSON-lines control line to a guest peer program (guest/peer.c), shared by the host side's admin
// calls (files, commands) and any number of PeerClients. Each PeerClient gets a channel number the guest
// echoes back ("ch"), so answers are routed to the right client and a client's dispose closes only its
// own sockets ("closeAll"), like a Node peer process exiting.
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { PeerClient } from '../peer/client.js';

export interface GuestExec {
  code: number;
  stdout: string;
  stderr: string;
}

type Pending = { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

export class GuestError extends Error {
  constructor(readonly op: string, readonly code: string, message: string) {
    super(`guest ${op}: ${message}`);
    this.name = 'GuestError';
  }
}

export class GuestChannel {
  private readonly pending = new Map<number, Pending>();
  private readonly channels = new Map<number, PassThrough>();
  private nextId = 1;
  private nextCh = 1;
  private closed: Error | undefined;
  private readyResolve!: () => void;
  /** Resolves on the guest's first line ({"id":0,"ready":true}). */
  readonly ready: Promise<void>;

  constructor(input: Readable, private readonly output: NodeJS.WritableStream, readonly label: string) {
    this.ready = new Promise((res) => (this.readyResolve = res));
    const rl = createInterface({ input });
    rl.on('line', (line) => this.onLine(line));
  }

  private onLine(line: string): void {
    const start = line.indexOf('{');
    if (start < 0) return;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line.slice(start)) as Record<string, unknown>;
    } catch {
      return;
    }
    if (msg.id === 0 && msg.ready === true) {
      this.readyResolve();
      return;
    }
    if (typeof msg.ch === 'number' && msg.ch > 0) {
      this.channels.get(msg.ch)?.write(JSON.stringify(msg) + '\n');
      return;
    }
    const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
    if (!p) return;
    this.pending.delete(msg.id as number);
    clearTimeout(p.timer);
    p.resolve(msg);
  }

  /** Fails every pending call and every channel: the guest is gone. */
  fail(err: Error): void {
    if (this.closed) return;
    this.closed = err;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    for (const c of this.channels.values()) c.end();
    this.channels.clear();
  }

  private write(obj: Record<string, unknown>): void {
    if (this.closed) throw this.closed;
    this.output.write(JSON.stringify(obj) + '\n');
  }

  /** An admin call (channel 0); a failure answer throws GuestError. */
  async call(op: string, args: Record<string, unknown> = {}, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    if (this.closed) throw this.closed;
    const id = this.nextId++;
    const r = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.label}: no answer to ${op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      try {
        this.write({ id, op, ...args });
      } catch (e) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(e as Error);
      }
    });
    if (r.ok !== true) throw new GuestError(op, String(r.code), String(r.message));
    return r;
  }

  async read(path: string): Promise<string> {
    return String((await this.call('read', { path })).data);
  }

  async writeFile(path: string, data: string): Promise<void> {
    await this.call('write', { path, data });
  }

  async exec(argv: readonly string[], timeoutMs = 15_000): Promise<GuestExec> {
    const r = await this.call('exec', { argv, timeoutMs }, timeoutMs + 5000);
    return { code: Number(r.code), stdout: String(r.stdout), stderr: String(r.stderr) };
  }

  /** Like exec, but a non-zero exit throws with the command's stderr. */
  async must(argv: readonly string[]): Promise<string> {
    const r = await this.exec(argv);
    if (r.code !== 0) throw new Error(`${this.label}: \`${argv.join(' ')}\` failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    return r.stdout;
  }

  /**
   * A PeerClient speaking to the guest peer on a channel of its own. The "process" it drives is a
   * stand-in: stdin lines get the channel number, end() closes the channel's sockets in the guest.
   */
  async peer(slackMs = 5000): Promise<PeerClient> {
    const ch = this.nextCh++;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const proc = new EventEmitter() as EventEmitter & { stdin: Writable; stdout: Readable; stderr: Readable; pid: undefined; kill: () => boolean };
    let exited = false;
    const exit = (code: number) => {
      if (exited) return;
      exited = true;
      this.channels.delete(ch);
      stdout.end();
      stderr.end();
      setImmediate(() => proc.emit('exit', code, null));
    };
    const closeAll = () => {
      if (this.closed) return exit(1);
      this.call('closeAll', { of: ch }).then(() => exit(0), () => exit(1));
    };
    const stdin = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        try {
          for (const line of chunk.toString().split('\n')) {
            if (!line.trim()) continue;
            this.write({ ...(JSON.parse(line) as Record<string, unknown>), ch });
          }
          cb();
        } catch (e) {
          cb(e as Error);
        }
      },
      final: (cb) => {
        closeAll();
        cb();
      },
    });
    stdin.on('error', () => exit(1));
    Object.assign(proc, { stdin, stdout, stderr, pid: undefined, kill: () => (closeAll(), true) });
    this.channels.set(ch, stdout);
    return PeerClient.attach(proc as unknown as ChildProcess, { slackMs });
  }
}

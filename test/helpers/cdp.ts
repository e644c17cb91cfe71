// A minimal Chrome DevTools Protocol client over --remote-debugging-pipe (fds 3 and 4, NUL-separated
// JSON): enough to drive headless Chromium in tests without a new dependency.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

type Params = Record<string, unknown>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Result = any;

export class Cdp {
  private id = 0;
  private readonly pending = new Map<number, { resolve: (v: Result) => void; reject: (e: Error) => void; method: string }>();
  private readonly listeners: Array<(method: string, params: Result, sessionId?: string) => void> = [];
  private buf = '';
  stderr = '';

  private constructor(readonly proc: ChildProcess, private readonly out: Writable, inp: Readable) {
    inp.setEncoding('utf8');
    inp.on('data', (chunk: string) => {
      this.buf += chunk;
      let i;
      while ((i = this.buf.indexOf('\0')) >= 0) {
        const msg = JSON.parse(this.buf.slice(0, i)) as { id?: number; result?: Result; error?: { message: string }; method?: string; params?: Result; sessionId?: string };
        this.buf = this.buf.slice(i + 1);
        if (msg.id !== undefined) {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) p?.reject(new Error(`${p.method}: ${msg.error.message}`));
          else p?.resolve(msg.result);
        } else if (msg.method) {
          for (const l of this.listeners) l(msg.method, msg.params, msg.sessionId);
        }
      }
    });
  }

  static launch(chromium: string, profile: string): Cdp {
    const args = [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--no-default-browser-check', '--disable-extensions', `--user-data-dir=${profile}`,
      '--hide-scrollbars', '--remote-debugging-pipe', 'about:blank',
    ];
    const proc = spawn(chromium, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    const cdp = new Cdp(proc, proc.stdio[3] as Writable, proc.stdio[4] as Readable);
    proc.stderr!.on('data', (d: Buffer) => (cdp.stderr += d.toString()));
    return cdp;
  }

  send(method: string, params: Params = {}, sessionId?: string): Promise<Result> {
    const id = ++this.id;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, method });
      this.out.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  }

  on(fn: (method: string, params: Result, sessionId?: string) => void): void {
    this.listeners.push(fn);
  }

  /** A page (tab) session: the commands for it carry its session id. */
  async page(): Promise<(method: string, params?: Params) => Promise<Result>> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    return (method, params = {}) => this.send(method, params, sessionId);
  }

  async close(): Promise<void> {
    const gone = new Promise((r) => this.proc.once('exit', r));
    await this.send('Browser.close').catch(() => {});
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (this.proc.exitCode === null) this.proc.kill('SIGKILL');
  }
}

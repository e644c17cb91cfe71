// The bench's world: a two-host testbed (tcplab- namespaces, one veth pair, removed on exit or Ctrl-C),
// the C baselines compiled into build/bench/, and helpers to run programs inside a namespace.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Testbed } from '../src/testbed/index.js';
import { packageRoot } from '../src/wire/native.js';

export interface BenchEnv {
  tb: Testbed;
  /** Sender side. */
  tx: { netns: string; ifname: string; addr: string; mac: string };
  /** Receiver side. */
  rx: { netns: string; ifname: string; addr: string; mac: string };
  /**
   * An address on the link that no kernel owns, which tx resolves to rx's MAC: rx receives and counts
   * what is sent there and drops it in routing (no forwarding), silently and cheaply, so valid SYNs can
   * be flooded without answers.
   */
  sink: string;
  /** Compiled C baselines: name -> path. */
  c: Record<'sendmmsg' | 'tpacket_v3' | 'synprobe', string>;
}

/** Compiles bench/c/NAME.c into build/bench/NAME unless the binary is newer than the source. */
export function compileC(name: string): string {
  const root = packageRoot();
  const src = join(root, 'bench', 'c', `${name}.c`);
  const dir = join(root, 'build', 'bench');
  const out = join(dir, name);
  mkdirSync(dir, { recursive: true });
  let fresh = false;
  try {
    fresh = statSync(out).mtimeMs > statSync(src).mtimeMs;
  } catch {
    // not built yet
  }
  if (!fresh) execFileSync('cc', ['-O2', '-Wall', '-o', out, src], { stdio: 'inherit' });
  return out;
}

export async function createEnv(): Promise<BenchEnv> {
  const c = { sendmmsg: compileC('sendmmsg'), tpacket_v3: compileC('tpacket_v3'), synprobe: compileC('synprobe') };
  const tb = await Testbed.create({ hosts: ['tx', 'rx'] });
  const side = (name: string) => {
    const h = tb.host(name);
    const i = h.iface();
    return { netns: h.netns, ifname: i.ifname, addr: i.v4, mac: i.mac };
  };
  const sink = (await tb.ghost('rx', 'tx')).addr;
  return { tb, tx: side('tx'), rx: side('rx'), sink, c };
}

/** rx_packets of an interface inside a namespace (the kernel's own count of what arrived). */
export function rxPackets(netns: string, ifname: string): Promise<number> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['-s', '-j', '-n', netns, 'link', 'show', ifname], { encoding: 'utf8' }, (err, out) => {
      if (err) return reject(err);
      const j = JSON.parse(out) as Array<{ stats64: { rx: { packets: number } } }>;
      resolve(j[0]!.stats64.rx.packets);
    });
  });
}

/** Runs a program inside a namespace to completion; resolves its stdout, rejects on a non-zero exit. */
export function runIn(netns: string, cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn('ip', ['netns', 'exec', netns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr.on('data', (d: Buffer) => (err += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${err.trim()}`))));
  });
}

/** A program running in a namespace until stopped with SIGINT; `ready` resolves on its first output line. */
export interface Background {
  child: ChildProcess;
  ready: Promise<void>;
  /** SIGINT, then resolves stdout and stderr once it has exited. */
  stop(): Promise<{ out: string; err: string }>;
}
export function startIn(netns: string, cmd: string, args: readonly string[], readyOn: 'stdout' | 'stderr' | 'none' = 'stdout'): Background {
  // exec replaces ip(8), so the signal reaches the program itself.
  const child = spawn('ip', ['netns', 'exec', netns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((r) => (markReady = r));
  if (readyOn === 'none') markReady();
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (readyOn === 'stdout') markReady();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (readyOn === 'stderr') markReady();
  });
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  child.on('exit', () => markReady());
  return {
    child,
    ready,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
      await exited;
      return { out, err };
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** True if `cmd` is on PATH. */
export function installed(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// Runs an exported script with real packetdrill inside a network namespace of its own
// (tcplab-pd-<id>): packetdrill makes a tun device there and addresses from 198.18.0.0/15, and the
// namespace goes away afterwards, also on Ctrl-C (src/testbed/hooks.ts).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { must, run, runSync } from '../../testbed/exec.js';
import { track, untrack } from '../../testbed/hooks.js';

/** Addresses packetdrill is given (its defaults are 192.168.0.0/16 ones): RFC 2544's benchmarking range. */
export const PD_ADDRS = { local: '198.18.77.1', gateway: '198.18.77.2', remote: '198.19.77.1', netmask: '255.255.255.0' } as const;

export interface VerifyResult {
  ok: boolean;
  exitCode: number | null;
  ms: number;
  /** packetdrill's stderr/stdout (its error names the line that failed). */
  output: string;
  netns: string;
}

/** The packetdrill binary named by TCPLAB_PACKETDRILL (or `bin`), checked; undefined when unset. */
export function packetdrillBinary(bin = process.env.TCPLAB_PACKETDRILL): string | undefined {
  if (bin === undefined || bin === '') return undefined;
  if (!existsSync(bin)) throw new Error(`TCPLAB_PACKETDRILL: ${bin} does not exist (build it as docs/packetdrill.md shows)`);
  return bin;
}

export async function verifyScript(bin: string, script: string, timeoutMs = 60_000): Promise<VerifyResult> {
  const netns = `tcplab-pd-${randomBytes(3).toString('hex')}`;
  await must('ip', ['netns', 'add', netns]);
  const res = { dispose: async () => void (await run('ip', ['netns', 'del', netns])), disposeSync: () => void runSync('ip', ['netns', 'del', netns]) };
  track(res);
  const t = performance.now();
  try {
    await must('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    const args = ['netns', 'exec', netns, bin, `--local_ip=${PD_ADDRS.local}`, `--gateway_ip=${PD_ADDRS.gateway}`, `--remote_ip=${PD_ADDRS.remote}`, `--netmask_ip=${PD_ADDRS.netmask}`, script];
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
      const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', reject);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve({ code: c, output });
      });
    });
    return { ok: code === 0, exitCode: code, ms: performance.now() - t, output: output.trim(), netns };
  } finally {
    await res.dispose();
    untrack(res);
  }
}

// The Vagrant path end to end (guest/vagrant/e2e.sh): a slow lane, opt-in, never in `npm test`
// (vitest.config.ts takes test/**/*.test.ts; this file is *.vm.ts and has a config of its own):
//   TCPLAB_VM_E2E=1 sudo -E npm run test:vm
// It runs the script twice in a row (the second run must work on what the first left), checks the exit
// codes, the verdicts of lab:reuse inside the VM and of timewait-syn over ssh:linux, and that nothing
// is left: no namespace, no libvirtd, no qemu, qemu.conf as it was, no box, no .vagrant machine.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const logs = join(root, '.cache', 'vagrant', 'e2e-logs');
const hash = (f: string) => (existsSync(f) ? createHash('sha256').update(readFileSync(f)).digest('hex') : 'missing');
const plain = (f: string) => readFileSync(f, 'utf8').replace(/\x1b\[[0-9;]*m/g, '');

function leftovers(): string[] {
  const out: string[] = [];
  const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  if (/^tcplab-[0-9a-f]{6}-vagrant\b/m.test(ns)) out.push('namespace tcplab-<id>-vagrant');
  if (existsSync(join(root, '.cache', 'vagrant', 'state'))) out.push('.cache/vagrant/state');
  if (existsSync(join(root, '.vagrant', 'machines', 'linux'))) out.push('.vagrant/machines/linux');
  if (existsSync(join(root, '.cache', 'vagrant', 'home'))) out.push('.cache/vagrant/home (the box)');
  // Only ours: other work on this machine may run QEMU of its own.
  for (const [what, args] of [['libvirtd', ['-x', 'libvirtd']], ['qemu of tcplab-linux', ['-f', 'guest=tcplab-linux']]] as const) {
    const p = spawnSync('pgrep', [...args], { encoding: 'utf8' }).stdout.trim();
    if (p) out.push(`${what} ${p}`);
  }
  return out;
}

describe.skipIf(process.env.TCPLAB_VM_E2E !== '1')('Vagrant + libvirt end to end (TCPLAB_VM_E2E=1)', () => {
  // The baseline after a clean-up: a VM kept from an earlier run (TCPLAB_E2E_KEEP=1) has our settings in it.
  let qconf = '';
  beforeAll(() => {
    expect(spawnSync('bash', [join(root, 'guest', 'vagrant', 'e2e.sh'), 'clean']).status).toBe(0);
    qconf = hash('/etc/libvirt/qemu.conf');
  }, 120_000);

  for (const round of [1, 2]) {
    it(`e2e.sh run ${round}: up, lab:reuse in the VM, timewait-syn and reuse over ssh:linux, destroy`, () => {
      const r = spawnSync('bash', [join(root, 'guest', 'vagrant', 'e2e.sh')], { cwd: root, encoding: 'utf8', timeout: 60 * 60_000 });
      const times = readFileSync(join(root, '.cache', 'vagrant', 'e2e-times.txt'), 'utf8');
      expect(r.status, `${times.slice(-3000)}\n${r.stderr.slice(-4000)}`).toBe(0);
      expect(plain(join(logs, 'lab-reuse.log'))).toMatch(/^verdict: PASS/m);
      const rep = JSON.parse(readFileSync(join(logs, 'timewait-syn-ssh.json'), 'utf8')) as { verdict: string };
      expect(rep.verdict).toBe('PASS');
      expect(plain(join(logs, 'timewait-syn-ssh.log'))).toMatch(/^kernel: linux 6\.1\./m);
      // two hosts over ssh: the VM's kernel is the client, this machine's namespace the server
      const reuse = JSON.parse(readFileSync(join(logs, 'reuse-ssh.json'), 'utf8')) as { verdict: string; labs: Array<{ cases: Array<{ verdict: string }> }> };
      expect(reuse.verdict).toBe('PASS');
      expect(reuse.labs[0]!.cases.map((c) => c.verdict)).toEqual(Array(7).fill('PASS'));
      expect(plain(join(logs, 'reuse-ssh.log'))).toMatch(/^kernel: linux 6\.1\./m);
      expect(leftovers()).toEqual([]);
      expect(hash('/etc/libvirt/qemu.conf')).toBe(qconf);
    }, 65 * 60_000);
  }

  it('Ctrl-C during `vagrant up`: the script cleans up on its way out, and `e2e.sh clean` finds nothing left', async () => {
    // A process group of its own, like a shell job: Ctrl-C reaches bash and vagrant together.
    const child = spawn('bash', [join(root, 'guest', 'vagrant', 'e2e.sh')], { cwd: root, stdio: 'ignore', detached: true });
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    const t0 = Date.now();
    // Interrupt once the domain exists (vagrant up is under way), as a user's Ctrl-C would (SIGINT to the whole group).
    while (!/tcplab-linux/.test(spawnSync('sh', ['-c', 'ls /run/libvirt/qemu/ 2>/dev/null'], { encoding: 'utf8' }).stdout)) {
      if (child.exitCode !== null || Date.now() - t0 > 15 * 60_000) throw new Error('vagrant up never started a domain');
      await new Promise((res) => setTimeout(res, 500));
    }
    process.kill(-child.pid!, 'SIGINT');
    expect(await exited).toBe(130);
    expect(leftovers()).toEqual([]);
    expect(spawnSync('bash', [join(root, 'guest', 'vagrant', 'e2e.sh'), 'clean']).status).toBe(0);
    expect(leftovers()).toEqual([]);
    expect(hash('/etc/libvirt/qemu.conf')).toBe(qconf);
  }, 20 * 60_000);

  it('e2e.sh clean twice in a row on a clean machine', () => {
    for (let i = 0; i < 2; i++) expect(spawnSync('bash', [join(root, 'guest', 'vagrant', 'e2e.sh'), 'clean']).status).toBe(0);
    expect(leftovers()).toEqual([]);
    expect(hash('/etc/libvirt/qemu.conf')).toBe(qconf);
  });
});

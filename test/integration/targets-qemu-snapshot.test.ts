// The QEMU target's snapshot restore (src/targets/qemu-snapshot.ts): restored guests are ready fast and
// sound (their clock runs at the real rate, timers fire, the control port and the tap work, each draws its
// own randomness), and a bad snapshot or TCPLAB_QEMU_COLD=1 means a cold boot that works, not a failure.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { guestDir, qemuSnapshotPath, QemuTarget } from '../../src/targets/qemu.js';
import { requireRoot } from '../helpers/root.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function uptime(t: QemuTarget): Promise<number> {
  return parseFloat(await t.host.channel.read('/proc/uptime'));
}

/** The guest reaches the prober's end of the tap (ARP and ICMP both ways through the tap). */
async function pingsTap(t: QemuTarget): Promise<void> {
  const r = await t.host.channel.exec(['ping', '-c', '1', '-W', '3', `${t.net}.1`]);
  expect(r.stdout + r.stderr).toMatch(/1 packets received/);
}

function gone(t: QemuTarget): void {
  expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(t.netns);
  let pids = '';
  try {
    pids = execFileSync('pgrep', ['-f', `qemu-system-x86_64.*tcplab-${t.tb.runId}`], { encoding: 'utf8' });
  } catch {
    // none
  }
  expect(pids).toBe('');
}

describe('linux-6.1-qemu snapshot restore', () => {
  requireRoot();

  it('two consecutive starts restore a fresh guest each: fast, own randomness, real-rate clock, working tap', async () => {
    const bootIds: string[] = [];
    for (let i = 0; i < 2; i++) {
      const t = await QemuTarget.start();
      try {
        // The first start of a clean cache builds the snapshot (a cold boot) and then restores it too.
        expect(t.boot.mode, t.boot.note).toBe('restored');
        expect(existsSync(qemuSnapshotPath())).toBe(true);
        if (i === 1) {
          expect(t.boot.built).toBe(false);
          expect(t.boot.ms).toBeLessThan(4000);
        }
        // boot_id is drawn on first read, after the host re-seeded the guest's RNG.
        bootIds.push((await t.host.channel.read('/proc/sys/kernel/random/boot_id')).trim());
        // The guest's clock: as much uptime as host time passes (TCG's virtual clock resumed, not frozen
        // at the snapshot and not catching up on the time the snapshot lay in the cache).
        const [u1, h1] = [await uptime(t), Date.now()];
        await sleep(2000);
        const [u2, h2] = [await uptime(t), Date.now()];
        const rate = (u2 - u1) / ((h2 - h1) / 1000);
        expect(rate).toBeGreaterThan(0.9);
        expect(rate).toBeLessThan(1.15);
        // Guest timers fire on time: a 1 s sleep in the guest takes about 1 s here.
        const s0 = Date.now();
        await t.host.channel.must(['sleep', '1']);
        expect(Date.now() - s0).toBeGreaterThanOrEqual(950);
        expect(Date.now() - s0).toBeLessThan(3000);
        // The kernel's TCP timers too: a SYN to an address that never answers is retransmitted after the
        // initial RTO, 1 s, as the tap shows.
        {
          await using s = await t.probe({ port: 9 });
          const p = await s.peer();
          const since = BigInt(Date.now()) * 1_000_000n;
          const syn = { src: s.addr, dst: s.ghost, dport: 9, flags: { set: 'S', unset: '.' } } as const;
          const connecting = p.call('connect', { addr: s.ghost, port: 9, timeoutMs: 1600 }).catch((e: Error) => e);
          const first = await s.wire.expect(syn, { since, within: 3000 });
          const again = await s.wire.expect(syn, { since: first.tsNs + 1n, within: 3000 });
          const rto = Number(again.tsNs - first.tsNs) / 1e6;
          expect(rto).toBeGreaterThan(950);
          expect(rto).toBeLessThan(1400);
          expect(String(await connecting)).toMatch(/ETIMEDOUT|timed out/i);
        }
        // The wall clock was set from the host's.
        const guestNow = Number((await t.host.channel.must(['date', '+%s'])).trim());
        expect(Math.abs(guestNow - Date.now() / 1000)).toBeLessThan(5);
        await pingsTap(t);
      } finally {
        await t.dispose();
      }
      gone(t);
    }
    expect(bootIds[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(bootIds[1]).not.toBe(bootIds[0]);
  }, 240_000);

  it('a snapshot QEMU refuses is dropped and the guest boots cold; TCPLAB_QEMU_COLD=1 boots cold', async () => {
    // A guest dir of its own (the same files, linked): its own snapshot key, the shared cache stays as it is.
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-qemu-snap-'));
    try {
      for (const f of ['vmlinux', 'vmlinuz', 'initramfs', 'release']) {
        if (existsSync(join(guestDir(), f))) symlinkSync(join(guestDir(), f), join(dir, f));
      }
      const snap = qemuSnapshotPath({ guestDir: dir });
      writeFileSync(snap, 'QEVM this is not a migration stream\n'.repeat(100));
      const t = await QemuTarget.start({ guestDir: dir });
      try {
        expect(t.boot.mode).toBe('cold');
        expect(t.boot.note).toMatch(/restore failed/);
        expect(existsSync(snap)).toBe(false);
        expect(t.stack.release).toMatch(/^6\.1\.0-\d+-amd64$/);
        await pingsTap(t);
        expect(t.console()).toMatch(/restored from/); // the failed attempt, then the cold boot's lines
      } finally {
        await t.dispose();
      }
      gone(t);

      process.env.TCPLAB_QEMU_COLD = '1';
      const c = await QemuTarget.start({ guestDir: dir }).finally(() => delete process.env.TCPLAB_QEMU_COLD);
      try {
        expect(c.boot).toMatchObject({ mode: 'cold', built: false, note: 'TCPLAB_QEMU_COLD=1' });
        expect(existsSync(snap)).toBe(false); // a forced cold boot builds no snapshot
        expect(await uptime(c)).toBeGreaterThan(0);
        await pingsTap(c);
      } finally {
        await c.dispose();
      }
      gone(c);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 240_000);
});

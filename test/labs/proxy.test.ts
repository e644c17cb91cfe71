// lab:proxy run as a user runs it (the CLI, as root), checked through its JSON report. Needs Debian's
// nginx (apt-get install nginx-light).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { requireRoot } from '../helpers/root.js';
import { runLabChecked } from '../helpers/labrun.js';

describe('lab:proxy (root)', () => {
  requireRoot();
  it('passes on this kernel, every check has evidence, nginx and its files do not outlive the lab', () => {
    // Only this run's nginx dirs count: a killed run elsewhere (fault injection) may have left its own.
    const ours = () => readdirSync(tmpdir()).filter((f) => f.startsWith('tcplab-nginx-'));
    const before = ours();
    const { check } = runLabChecked('proxy', ['--no-pcap'], 2);
    expect(check('http10-upstream', 'upstream-connections').observed).toBe(200);
    // 200, plus one per simultaneous close (both ends hold a TIME-WAIT); the lab's check counts those from the packets.
    expect(check('http10-upstream', 'time-wait').observed as number).toBeGreaterThanOrEqual(200);
    expect(check('keepalive-upstream', 'upstream-connections').observed).toBe('1/200');
    expect(check('keepalive-upstream', 'time-wait').observed).toBe('0/0');
    const left = ours().filter((f) => !before.includes(f));
    expect(left).toEqual([]);
    // pgrep prints nothing when no nginx master runs from a temp dir this run created.
    const running = spawnSync('pgrep', ['-af', 'tcplab-nginx-'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l && !before.some((b) => l.includes(b)));
    expect(running).toEqual([]);
  }, 90_000);
});

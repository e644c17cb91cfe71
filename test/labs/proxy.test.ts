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
    const { check } = runLabChecked('proxy', ['--no-pcap'], 2);
    expect(check('http10-upstream', 'upstream-connections').observed).toBe(200);
    expect(check('http10-upstream', 'time-wait').observed).toBe(200);
    expect(check('keepalive-upstream', 'upstream-connections').observed).toBe('1/200');
    expect(check('keepalive-upstream', 'time-wait').observed).toBe('0/0');
    // pgrep exits 1 when nothing matches: no nginx master started from a tcplab temp dir is left.
    expect(spawnSync('pgrep', ['-f', 'tcplab-nginx-'], { encoding: 'utf8' }).stdout).toBe('');
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('tcplab-nginx-'))).toEqual([]);
  }, 90_000);
});

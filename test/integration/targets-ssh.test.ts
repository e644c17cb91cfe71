// SshHost through a stand-in `ssh` on PATH that runs the remote command here (inside a testbed
// namespace), so the ssh plumbing (quoting, uname, ss, /proc, sysctl with journal, the peer over the
// session's stdio) is exercised without a VM. Real VMs: see the Vagrantfile.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshHost } from '../../src/testbed/ssh-host.js';
import { Testbed } from '../../src/testbed/testbed.js';
import { packageRoot } from '../../src/wire/native.js';
import { requireRoot } from '../helpers/root.js';

describe('SshHost (stand-in ssh)', () => {
  requireRoot();
  let dir: string;
  let tb: Testbed;
  let host: SshHost;
  const path = process.env.PATH;
  beforeAll(async () => {
    tb = await Testbed.create({ hosts: ['vm'], links: [] });
    dir = mkdtempSync(join(tmpdir(), 'tcplab-ssh-'));
    // ssh [-F f] -o X -o Y DEST 'remote command': run the command in the namespace; sudo is a no-op.
    writeFileSync(join(dir, 'ssh'), `#!/bin/sh\nwhile [ $# -gt 2 ]; do shift; done\n[ "$1" = vm ] || { echo "bad dest $1" >&2; exit 255; }\nexec ip netns exec ${tb.host('vm').netns} sh -c "sudo() { \\"\\$@\\"; }; $2"\n`);
    chmodSync(join(dir, 'ssh'), 0o755);
    process.env.PATH = `${dir}:${path}`;
    host = new SshHost({ dest: 'vm', remoteRoot: packageRoot() });
  }, 30_000);
  afterAll(async () => {
    await host?.dispose();
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
    await tb?.dispose();
  });

  it('quotes remote arguments for the remote shell', () => {
    expect(host.sshArgs(['echo', "it's", 'a b', 'x=1']).at(-1)).toBe(`echo 'it'\\''s' 'a b' x=1`);
    expect(() => new SshHost({ dest: 'a b' })).toThrow(/dest/);
  });

  it('reads the kernel, sysctls (set, journaled, put back), sockets and counters, and runs the peer', async () => {
    expect(await host.kernel()).toBe('linux');
    const before = await host.sysctl.getInt('net.ipv4.tcp_fin_timeout');
    await host.sysctl.set('net.ipv4.tcp_fin_timeout', before + 7);
    expect(await host.sysctl.getInt('net.ipv4.tcp_fin_timeout')).toBe(before + 7);
    const p = await host.peer();
    const l = await p.call('listen', { addr: '127.0.0.1', port: 8090 });
    expect(l.port).toBe(8090);
    const socks = await host.sockets({ state: 'LISTEN', localPort: 8090 });
    expect(socks).toHaveLength(1);
    const c = await host.counters();
    expect(typeof c.Tcp.PassiveOpens).toBe('number');
    await host.dispose();
    expect(await host.sysctl.getInt('net.ipv4.tcp_fin_timeout')).toBe(before);
    expect(await host.sockets({ state: 'LISTEN', localPort: 8090 })).toEqual([]);
  }, 30_000);
});

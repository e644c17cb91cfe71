// The ssh target's FreeBSD command paths without FreeBSD: a stand-in `ssh` on PATH runs the remote
// command here with fake FreeBSD tools first on PATH (uname, id, sudo, sysctl, ifconfig, arp, netstat)
// that print the recorded-format fixtures (test/fixtures/freebsd-*.txt), keep sysctl and ARP state in a
// temp dir, refuse writes without sudo (the login is not root), and log every call. The local side is
// real: a testbed link whose far end answers for the address the fake ifconfig reports.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshTarget } from '../../src/targets/ssh.js';
import { UnsupportedTargetError } from '../../src/targets/target.js';
import { Testbed } from '../../src/testbed/testbed.js';
import { requireRoot } from '../helpers/root.js';

/** Files of live remote guards (/tmp/tcplab-undo.*) whose undo command mentions `what`. */
const undoFiles = (what: string): string[] =>
  execFileSync('sh', ['-c', 'grep -rlF -- "$1" /tmp/tcplab-undo.* 2>/dev/null || true', '_', what], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);

const fixture = (name: string) => readFileSync(join(import.meta.dirname, '..', 'fixtures', name), 'utf8');

describe('ssh target on a FreeBSD host (stand-in ssh and tools)', () => {
  requireRoot();
  let tb: Testbed;
  let dir: string;
  let vmAddr: string;
  let net: string;
  const path = process.env.PATH;
  const state = (k: string) => readFileSync(join(dir, 'state', k), 'utf8').trim();
  const log = () => readFileSync(join(dir, 'log'), 'utf8');

  beforeAll(async () => {
    tb = await Testbed.create({ hosts: ['prober', 'vm'] });
    vmAddr = tb.host('vm').addr('prober');
    net = vmAddr.replace(/\.\d+$/, '');
    dir = mkdtempSync(join(tmpdir(), 'tcplab-fakebsd-'));
    for (const d of ['bin', 'bsd', 'state', 'arp']) mkdirSync(join(dir, d));
    // The fixtures are recorded for 198.18.250.0/24 (the Vagrantfile's network): moved to this link's /24.
    const moved = (s: string) => s.replaceAll('198.18.250.11', vmAddr).replaceAll('198.18.250.', `${net}.`);
    writeFileSync(join(dir, 'ifconfig.txt'), moved(fixture('freebsd-ifconfig.txt')));
    writeFileSync(join(dir, 'netstat-an.txt'), moved(fixture('freebsd-netstat-an.txt')));
    writeFileSync(join(dir, 'netstat-s.txt'), fixture('freebsd-netstat-s.txt'));
    writeFileSync(join(dir, 'state', 'net.inet.tcp.rfc1323'), '2\n');
    writeFileSync(join(dir, 'state', 'net.inet.tcp.msl'), '30000\n');
    const tool = (name: string, body: string) => {
      writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(dir, name), 0o755);
    };
    const L = `echo "$(basename "$0") $*" >> ${dir}/log`;
    const needRoot = `[ -n "$FAKE_ROOT" ] || { echo "$(basename "$0"): Operation not permitted" >&2; exit 1; }`;
    tool('bin/ssh', [
      'master=; check=',
      'while [ $# -gt 0 ]; do case "$1" in -F|-o|-S) shift 2 ;; -O) check=1; shift 2 ;; -M) master=1; shift ;; -N) shift ;; *) break ;; esac; done',
      '[ "$1" = bsd ] || { echo "ssh: Could not resolve hostname $1: Name or service not known" >&2; exit 255; }',
      '[ -n "$check" ] && exit 0',
      '[ -n "$master" ] && exec sleep 1000000',
      `exec env PATH=${dir}/bsd:$PATH sh -c "$2"`,
    ].join('\n'));
    tool('bsd/uname', 'case "$1" in -s) echo FreeBSD ;; -r) echo 14.0-RELEASE ;; *) echo FreeBSD ;; esac');
    tool('bsd/id', 'echo 1001');
    tool('bsd/sudo', `${L}\n[ "$1" = -n ] || { echo "sudo: a terminal is required" >&2; exit 1; }\nshift\nFAKE_ROOT=1 exec "$@"`);
    tool('bsd/sysctl', [L,
      `if [ "$1" = -n ]; then shift; for k; do [ -f ${dir}/state/$k ] || { echo "sysctl: unknown oid '$k'" >&2; exit 1; }; cat ${dir}/state/$k; done; exit 0; fi`,
      `for kv; do k=\${kv%%=*}; [ -f ${dir}/state/$k ] || { echo "sysctl: unknown oid '$k'" >&2; exit 1; }; ${needRoot}; echo "\${kv#*=}" > ${dir}/state/$k; done`].join('\n'));
    tool('bsd/ifconfig', `${L}\ncat ${dir}/ifconfig.txt`);
    tool('bsd/arp', [L, needRoot,
      `case "$1" in -S) echo "$3" > ${dir}/arp/$2 ;; -d) [ -f ${dir}/arp/$2 ] || { echo "arp: delete: cannot locate $2" >&2; exit 1; }; rm ${dir}/arp/$2 ;; *) exit 1 ;; esac`].join('\n'));
    tool('bsd/netstat', `${L}\ncase "$*" in "-an -p tcp") cat ${dir}/netstat-an.txt ;; "-s -p tcp") cat ${dir}/netstat-s.txt ;; *) exit 1 ;; esac`);
    writeFileSync(join(dir, 'log'), '');
    writeFileSync(join(dir, 'ssh_config'), '# the stand-in ignores -F\n');
    process.env.PATH = `${join(dir, 'bin')}:${path}`;
  }, 30_000);

  afterAll(async () => {
    process.env.PATH = path;
    await tb?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('learns FreeBSD and its lab address from ifconfig, sets a static ARP entry per session with sudo -n, translates sysctls, reads netstat', async () => {
    const t = await SshTarget.start({ dest: 'bsd', sshConfig: join(dir, 'ssh_config'), netns: tb.host('prober').netns });
    const proberMac = tb.host('prober').iface('vm').mac;
    try {
      expect(t.stack).toEqual({ os: 'freebsd', release: '14.0-RELEASE', version: [14, 0, 0] });
      expect(t.remote).toEqual({ ifname: 'em1', addr: vmAddr, prefixLen: 24, mac: '08:00:27:d1:4c:66' });
      expect(t.local).toEqual({ ifname: tb.host('prober').iface('vm').ifname, addr: tb.host('prober').addr('vm'), mac: proberMac });

      const s = await t.probe({ port: 8080 });
      expect(s.addr).toBe(vmAddr);
      expect(log()).toContain(`sudo -n arp -S ${s.ghost} ${proberMac}`);
      expect(readFileSync(join(dir, 'arp', s.ghost), 'utf8').trim()).toBe(proberMac);

      // Linux names in FreeBSD terms: timestamps on = rfc1323 1; FreeBSD's own names as they are.
      await s.sysctl.set('net.ipv4.tcp_timestamps', 1);
      await s.sysctl.set('net.inet.tcp.msl', 5000);
      expect(state('net.inet.tcp.rfc1323')).toBe('1');
      expect(state('net.inet.tcp.msl')).toBe('5000');
      expect(await s.sysctl.get('net.ipv4.tcp_timestamps')).toBe('1');
      expect(await s.sysctl.getInt('net.inet.tcp.msl')).toBe(5000);
      expect(log()).toContain('sudo -n sysctl net.inet.tcp.rfc1323=1'); // name=value, no -w
      await expect(s.sysctl.set('net.ipv4.tcp_tw_reuse', 1)).rejects.toThrow(UnsupportedTargetError);
      await expect(s.sysctl.set('net.inet.tcp.nosuch', 1)).rejects.toThrow(/unknown oid 'net\.inet\.tcp\.nosuch'/);
      // While the session lives, the remote guard holds the undo commands (files in its temp dir).
      expect(undoFiles(`arp -d ${s.ghost}`)).toHaveLength(1);
      expect(undoFiles('net.inet.tcp.rfc1323=2')).toHaveLength(1);

      const tw = await t.host.sockets({ state: 'TIME-WAIT' });
      expect(tw).toHaveLength(1);
      expect(tw[0]).toMatchObject({ local: { addr: vmAddr, port: 8080 }, peer: { addr: `${net}.253`, port: 33000 } });
      expect((await t.host.counters()).Tcp).toMatchObject({ PassiveOpens: 9, ActiveOpens: 12 });

      await s.dispose();
      expect(existsSync(join(dir, 'arp', s.ghost))).toBe(false);
      expect(log()).toContain(`sudo -n arp -d ${s.ghost}`);
      expect(state('net.inet.tcp.rfc1323')).toBe('2');
      expect(state('net.inet.tcp.msl')).toBe('30000');
      expect(log()).toContain('sudo -n sysctl net.inet.tcp.rfc1323=2');
    } finally {
      await t.dispose();
    }
    // The guard ended with nothing left to undo (its temp dir went with it), and so did the nft table.
    expect(undoFiles(`${net}.`)).toEqual([]);
    expect(execFileSync('ip', ['netns', 'exec', tb.host('prober').netns, 'nft', 'list', 'tables'], { encoding: 'utf8' })).not.toContain(t.table);
  }, 60_000);

  it('an unknown host: unavailable() names it and the Vagrant fix', async () => {
    const { sshFactory } = await import('../../src/targets/ssh.js');
    expect(await sshFactory('ssh:nosuchvm', { sshConfig: join(dir, 'ssh_config') }).unavailable()).toMatch(/cannot reach nosuchvm over ssh \(ssh: Could not resolve hostname nosuchvm.*\); for a Vagrant VM: vagrant up nosuchvm/);
  });
});

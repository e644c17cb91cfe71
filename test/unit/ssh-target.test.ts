// The ssh target's pure parts: target ids, where the ssh config comes from, `ip -j addr` parsing,
// ghost candidates at the top of the VM's subnet, and the remote shell quoting.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExecResult } from '../../src/testbed/exec.js';
import { findStack, STACKS } from '../../src/targets/registry.js';
import { ghostCandidates, orderProbeLinks, parseLinuxIpAddr, parseSshTarget, resolveSshConfig, sameSubnet, sshFactory } from '../../src/targets/ssh.js';
import { SshHost, shellQuote } from '../../src/testbed/ssh-host.js';

describe('ssh target ids', () => {
  it('ssh:NAME and ssh:user@host; the name after ssh: is required and may not look like an option', () => {
    expect(parseSshTarget('ssh:freebsd')).toBe('freebsd');
    expect(parseSshTarget('ssh:vagrant@198.18.250.11')).toBe('vagrant@198.18.250.11');
    expect(() => parseSshTarget('ssh:')).toThrow(RangeError);
    expect(() => parseSshTarget('ssh:', '--stacks')).toThrow(/^--stacks: 'ssh:' needs a host after it/);
    expect(() => parseSshTarget('ssh:-oProxyCommand=touch /tmp/x')).toThrow(/not an ssh host/);
    expect(() => parseSshTarget('ssh:a b')).toThrow(/not an ssh host/);
    expect(() => new SshHost({ dest: '-oProxyCommand=x' })).toThrow(/^dest: /);
  });
  it('findStack makes ssh stacks on demand; they are not in the default list', () => {
    expect(STACKS.some((s) => s.id.startsWith('ssh:'))).toBe(false);
    expect(findStack('ssh:freebsd').id).toBe('ssh:freebsd');
    expect(sshFactory('linux').id).toBe('ssh:linux');
    expect(() => findStack('nope', STACKS, '--target')).toThrow(/^--target: unknown stack 'nope'.*ssh:NAME/);
  });
});

describe('ssh config resolution', () => {
  it('TCPLAB_SSH_CONFIG, else ./.vagrant/ssh-NAME, else the default config', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'tcplab-sshcfg-'));
    try {
      expect(resolveSshConfig('freebsd', {}, cwd)).toBeUndefined();
      mkdirSync(join(cwd, '.vagrant'));
      writeFileSync(join(cwd, '.vagrant', 'ssh-freebsd'), 'Host freebsd\n');
      expect(resolveSshConfig('freebsd', {}, cwd)).toBe(join(cwd, '.vagrant', 'ssh-freebsd'));
      expect(resolveSshConfig('linux', {}, cwd)).toBeUndefined();
      expect(resolveSshConfig('freebsd', { TCPLAB_SSH_CONFIG: 'my.conf' }, cwd)).toBe(join(cwd, 'my.conf'));
      expect(sshFactory('freebsd', { sshConfig: '/x/cfg' }).title).toContain('ssh -F /x/cfg');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
  it('a named config that does not exist makes the stack unavailable, saying which file', async () => {
    const f = sshFactory('ssh:freebsd', { sshConfig: '/nonexistent/tcplab-ssh-config' });
    expect(await f.unavailable()).toMatch(/ssh config \/nonexistent\/tcplab-ssh-config does not exist.*vagrant ssh-config freebsd/);
  });
});

describe('remote addresses and ghosts', () => {
  const IP_J = JSON.stringify([
    { ifindex: 1, ifname: 'lo', link_type: 'loopback', address: '00:00:00:00:00:00', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }, { family: 'inet6', local: '::1', prefixlen: 128 }] },
    { ifindex: 2, ifname: 'eth0', link_type: 'ether', address: '52:54:00:12:34:56', addr_info: [{ family: 'inet', local: '10.0.2.15', prefixlen: 24 }] },
    { ifindex: 3, ifname: 'eth1', link_type: 'ether', address: '08:00:27:aa:bb:cc', addr_info: [{ family: 'inet', local: '198.18.250.10', prefixlen: 24 }, { family: 'inet6', local: 'fe80::1', prefixlen: 64 }] },
    { ifindex: 4, ifname: 'down0', link_type: 'ether', address: '08:00:27:aa:bb:cd' },
  ]);
  it('ip -j addr show: IPv4 addresses with prefix and the Ethernet MAC', () => {
    expect(parseLinuxIpAddr(IP_J)).toEqual([
      { ifname: 'lo', addr: '127.0.0.1', prefixLen: 8 },
      { ifname: 'eth0', addr: '10.0.2.15', prefixLen: 24, mac: '52:54:00:12:34:56' },
      { ifname: 'eth1', addr: '198.18.250.10', prefixLen: 24, mac: '08:00:27:aa:bb:cc' },
    ]);
    expect(parseLinuxIpAddr('not json')).toEqual([]);
    expect(parseLinuxIpAddr('{}')).toEqual([]);
  });
  it('ghosts come from the top of the subnet, skipping the VM, us, and anything outside the lab range', () => {
    const vm = { ifname: 'em1', addr: '198.18.250.11', prefixLen: 24 };
    expect(ghostCandidates(vm, ['198.18.250.11', '198.18.250.1'], 3)).toEqual(['198.18.250.254', '198.18.250.253', '198.18.250.252']);
    expect(ghostCandidates(vm, ['198.18.250.254'], 2)).toEqual(['198.18.250.253', '198.18.250.252']);
    expect(ghostCandidates({ ...vm, addr: '198.18.250.9', prefixLen: 30 }, ['198.18.250.9'], 5)).toEqual(['198.18.250.10']);
    expect(ghostCandidates({ ...vm, prefixLen: 31 }, [], 5)).toEqual([]);
    // a /14 around the lab range: only lab-range addresses are ever candidates
    expect(ghostCandidates({ ...vm, prefixLen: 14 }, [], 2)).toEqual(['198.19.255.254', '198.19.255.253']);
    expect(ghostCandidates({ ifname: 'x', addr: '198.20.0.1', prefixLen: 24 }, [], 2)).toEqual([]);
  });
  it('sameSubnet', () => {
    expect(sameSubnet('198.18.250.1', '198.18.250.11', 24)).toBe(true);
    expect(sameSubnet('198.18.251.1', '198.18.250.11', 24)).toBe(false);
    expect(sameSubnet('198.18.251.1', '198.18.250.11', 16)).toBe(true);
  });
});

describe('remote shell quoting', () => {
  it('quotes what a POSIX shell would split or expand, one line', () => {
    expect(shellQuote(['sysctl', '-w', 'net.ipv4.ip_local_port_range=40000 40009'])).toBe(`sysctl -w 'net.ipv4.ip_local_port_range=40000 40009'`);
    expect(shellQuote(['echo', "it's", '$HOME', 'a;b'])).toBe(`echo 'it'\\''s' '$HOME' 'a;b'`);
  });
});

describe('orderProbeLinks', () => {
  const mgmt = { ifname: 'eth0', addr: '198.18.248.63', prefixLen: 24 };
  const lab = { ifname: 'eth1', addr: '198.18.250.10', prefixLen: 24 };
  it('puts the link of the ssh session (vagrant-libvirt management network) last', () => {
    expect(orderProbeLinks([mgmt, lab], '198.18.248.1 52344 198.18.248.63 22')).toEqual([lab, mgmt]);
  });
  it('keeps the order when ssh arrives elsewhere, or SSH_CONNECTION is empty', () => {
    expect(orderProbeLinks([mgmt, lab], '10.0.2.2 5000 10.0.2.15 22')).toEqual([mgmt, lab]);
    expect(orderProbeLinks([mgmt, lab], '')).toEqual([mgmt, lab]);
  });
  it('a single link that carries ssh too is still used', () => {
    expect(orderProbeLinks([lab], '198.18.250.1 4000 198.18.250.10 22')).toEqual([lab]);
  });
});

describe('SshHost.sysctlRead', () => {
  it('reads with sbin appended to PATH: a non-root login (the vagrant user on Debian) has no sbin in its PATH', async () => {
    const h = new SshHost({ dest: 'linux' });
    const seen: string[][] = [];
    h.exec = async (cmd: string, args: readonly string[]) => (seen.push([cmd, ...args]), { code: 0, stdout: '1\n', stderr: '' } as ExecResult);
    expect(await h.sysctlRead(['net.ipv4.tcp_timestamps'])).toEqual(['1']);
    expect(seen).toEqual([['sh', '-c', 'PATH="$PATH:/sbin:/usr/sbin" exec sysctl "$@"', 'sysctl', '-n', 'net.ipv4.tcp_timestamps']]);
  });
});

// `--target ssh:NAME` end to end against a REAL sshd, without a VM: a testbed with 'prober' and 'vm' on
// one link; OpenSSH's sshd runs inside the vm namespace on its 198.18 address (throwaway host and client
// keys in a tcplab- temp dir; /run/sshd, which sshd insists on, is a tmpfs in a private mount namespace,
// so nothing of the machine's /etc/ssh or /run changes). The target's prober side lives in the prober
// namespace (TCPLAB_SSH_NETNS). A third namespace, 'bare', has no lab address: its sshd is reached
// through a ProxyCommand (sshd -i), and the target must refuse it.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timewaitSynLab } from '../../labs/timewait-syn.js';
import { rfc1337Lab } from '../../labs/rfc1337.js';
import { lastackSynLab } from '../../labs/lastack-syn.js';
import { pawsLab } from '../../labs/paws.js';
import { abortLab } from '../../labs/abort.js';
import { reuseLab } from '../../labs/reuse.js';
import { runOnTarget } from '../../src/cli/matrix.js';
import { runMatrix } from '../../src/matrix/matrix.js';
import { findStack, STACKS } from '../../src/targets/registry.js';
import { runLab } from '../../src/lab/runner.js';
import { cleanSshLeftovers, SshTarget, sshFactory } from '../../src/targets/ssh.js';
import { cleanLeftovers } from '../../src/testbed/clean.js';
import { readJournals } from '../../src/testbed/journal.js';
import { RUN_DIR } from '../../src/testbed/names.js';
import { Testbed } from '../../src/testbed/testbed.js';
import { packageRoot } from '../../src/wire/native.js';
import { checkTargetContract } from '../helpers/target-contract.js';
import { requireRoot } from '../helpers/root.js';

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });
// sshd refuses to start without its privilege separation directory: give it one in a private /run.
const privateRun = (cmd: string) => `mount -t tmpfs tcplab-sshd /run && mkdir -m 755 /run/sshd && exec ${cmd}`;

describe('ssh target against a real sshd (ssh:vm)', () => {
  requireRoot();
  let tb: Testbed;
  let dir: string;
  let sshd: ChildProcess | undefined;
  let vmNs: string;
  let proberNs: string;
  let vmAddr: string;
  let busy: string; // an address at the top of the subnet that the vm answers ARP for
  const env = { ...process.env };

  beforeAll(async () => {
    if (!existsSync('/usr/sbin/sshd')) throw new Error('sshd is missing: apt-get install openssh-server (guest/ci-setup.sh installs it)');
    tb = await Testbed.create({ hosts: ['prober', 'vm', 'bare', 'far'], links: [['prober', 'vm']] });
    vmNs = tb.host('vm').netns;
    proberNs = tb.host('prober').netns;
    vmAddr = tb.host('vm').addr('prober');
    busy = vmAddr.replace(/\.\d+$/, '.254');
    sh('ip', ['-n', vmNs, 'addr', 'add', `${busy}/24`, 'dev', tb.host('vm').iface('prober').ifname]);
    // 'far' has a lab address, but on no link the prober shares
    sh('ip', ['-n', tb.host('far').netns, 'addr', 'add', '198.19.254.7/24', 'dev', 'lo']);
    dir = mkdtempSync(join(tmpdir(), 'tcplab-sshd-'));
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_ed25519')]);
    sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'id_ed25519')]);
    writeFileSync(join(dir, 'authorized_keys'), sh('cat', [join(dir, 'id_ed25519.pub')]));
    const common = [
      `HostKey ${join(dir, 'host_ed25519')}`, `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`, 'PidFile none',
      'PermitRootLogin prohibit-password', 'PasswordAuthentication no', 'KbdInteractiveAuthentication no', 'UsePAM no',
      'StrictModes no', 'UseDNS no', 'PrintMotd no', 'MaxSessions 64', 'MaxStartups 64',
    ];
    writeFileSync(join(dir, 'sshd_config'), [`ListenAddress ${vmAddr}`, 'Port 22', ...common].join('\n') + '\n');
    writeFileSync(join(dir, 'sshd_bare'), common.join('\n') + '\n');
    const client = (host: string, lines: string[]) => [`Host ${host}`, ...lines, '  User root', `  IdentityFile ${join(dir, 'id_ed25519')}`, '  IdentitiesOnly yes',
      '  StrictHostKeyChecking no', '  UserKnownHostsFile /dev/null', '  LogLevel ERROR'].join('\n');
    writeFileSync(join(dir, 'ssh_config'), [
      client('vm', [`  HostName ${vmAddr}`]),
      client('refused', [`  HostName ${vmAddr}`, '  Port 2222']),
      ...['bare', 'far'].map((h) => client(h, [`  HostName ${h}`, `  ProxyCommand ip netns exec ${tb.host(h).netns} unshare -m --propagation private sh -c '${privateRun(`/usr/sbin/sshd -i -f ${join(dir, 'sshd_bare')}`)}'`])),
    ].join('\n') + '\n');

    sshd = spawn('ip', ['netns', 'exec', vmNs, 'unshare', '-m', '--propagation', 'private', 'sh', '-c',
      privateRun(`setpriv --pdeathsig KILL -- /usr/sbin/sshd -D -e -f ${join(dir, 'sshd_config')}`)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    sshd.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const t0 = Date.now();
    while (!/Server listening/.test(log)) {
      if (sshd.exitCode !== null || Date.now() - t0 > 10_000) throw new Error(`sshd did not start: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // The target finds its config, prober namespace and remote checkout the way the CLI does.
    process.env.TCPLAB_SSH_CONFIG = join(dir, 'ssh_config');
    process.env.TCPLAB_SSH_NETNS = proberNs;
    process.env.TCPLAB_SSH_REMOTE_ROOT = packageRoot();
  }, 60_000);

  afterAll(async () => {
    for (const k of ['TCPLAB_SSH_CONFIG', 'TCPLAB_SSH_NETNS', 'TCPLAB_SSH_REMOTE_ROOT']) {
      if (env[k] === undefined) delete process.env[k];
      else process.env[k] = env[k];
    }
    if (sshd && sshd.exitCode === null) {
      const gone = new Promise((r) => sshd!.once('exit', r));
      sshd.kill('SIGKILL');
      await gone;
    }
    await tb?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
    expect(sh('ip', ['netns', 'list'])).not.toContain(tb.runId);
  }, 30_000);

  it('bad input: an empty ssh: target and a dest that looks like an option are refused, naming the field', () => {
    expect(() => findStack('ssh:', STACKS, '--target')).toThrow(RangeError);
    expect(() => findStack('ssh:', STACKS, '--target')).toThrow(/--target: 'ssh:' needs a host/);
    expect(() => findStack('ssh:-oProxyCommand=x', STACKS, '--stacks')).toThrow(/--stacks: .*not an ssh host/);
  });

  it('an unreachable host: unavailable() says why and how to fix it, start() fails fast and leaves nothing', async () => {
    const f = findStack('ssh:refused', STACKS, '--target');
    const t0 = Date.now();
    expect(await f.unavailable()).toMatch(/cannot reach refused over ssh \(.*Connection refused.*vagrant up refused/);
    await expect(runOnTarget('ssh:refused', async () => 0)).rejects.toThrow(/--target ssh:refused: unavailable here: cannot reach refused/);
    await expect(f.start()).rejects.toThrow(/ssh:refused: cannot connect .*Connection refused/);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(sh('ls', [RUN_DIR]).split('\n').filter((n) => n.endsWith('.ssh'))).toEqual([]);
  }, 30_000);

  it('a host without a 198.18.0.0/15 address is refused, naming the fix', async () => {
    const f = sshFactory('ssh:bare');
    expect(await f.unavailable()).toBeUndefined();
    const journals = readJournals().filter((j) => j.pid === process.pid).length;
    await expect(f.start()).rejects.toThrow(/ssh:bare: the remote host has no IPv4 address in 198\.18\.0\.0\/15 \(it has lo 127\.0\.0\.1\/8\).*private_network/);
    // the failed start took its journal, shared connection and guard with it
    expect(readJournals().filter((j) => j.pid === process.pid)).toHaveLength(journals);
    expect(sh('ls', [RUN_DIR]).split('\n').filter((n) => n.endsWith('.ssh'))).toEqual([]);
  }, 30_000);

  it('a host whose lab address is on no link the prober shares is refused, naming the fix', async () => {
    await expect(sshFactory('ssh:far').start()).rejects.toThrow(/ssh:far: no local interface shares a 198\.18\.0\.0\/15 link with it \(198\.19\.254\.7: .*unreachable.*\).*host-only network/);
  }, 30_000);

  it('runs lab:timewait-syn on the vm kernel over ssh: every case PASSes with linux expectations, and nothing is left behind', async () => {
    sh('ip', ['netns', 'exec', vmNs, 'sysctl', '-q', '-w', 'net.ipv4.tcp_timestamps=0']);
    const f = findStack('ssh:vm', STACKS, '--target');
    expect(f.id).toBe('ssh:vm');
    expect(await f.unavailable()).toBeUndefined();
    const t = (await f.start()) as SshTarget;
    let runId = '';
    try {
      runId = t.runId;
      const own = sh('uname', ['-r']).trim();
      expect(t.stack).toMatchObject({ os: 'linux', release: own });
      expect(t.stack.version.slice(0, 2)).toEqual([6, 18]);
      expect(t.remote).toMatchObject({ addr: vmAddr, prefixLen: 24 });
      expect(t.local).toMatchObject({ ifname: tb.host('prober').iface('vm').ifname, addr: tb.host('prober').addr('vm') });
      // The vm answers ARP for `busy`: never a ghost. The rest come from the top of the /24.
      expect(t.ghosts).not.toContain(busy);
      expect(t.ghosts[0]).toBe(vmAddr.replace(/\.\d+$/, '.253'));
      expect(sh('ip', ['netns', 'exec', proberNs, 'nft', 'list', 'tables'])).toContain(t.table);

      const r = await runLab(timewaitSynLab, { target: t });
      const summary = r.cases.map((c) => `${c.id}: ${c.verdict} ${c.error ?? ''} ${c.checks.map((k) => `${k.id}=${JSON.stringify(k.observed)}:${k.verdict}`).join(' ')}`);
      expect(r.cases.length).toBe(timewaitSynLab.cases.length);
      for (const c of r.cases) {
        expect(c.error, summary.join('\n')).toBeUndefined();
        expect(c.verdict, summary.join('\n')).toBe('PASS');
        // The socket table came over ssh (ss), and the sysctl went through the session.
        expect(c.checks.find((k) => k.id === 'server-time-wait')?.observed, c.id).toBe('TIME-WAIT');
        expect(c.sysctls['vm:net.ipv4.tcp_timestamps']).toBe('1');
      }
      // the vm's answers were captured on the prober's link, from the vm's address to the ghosts
      expect(r.cases.every((c) => c.packets.some((p) => p.segment.src === vmAddr && t.ghosts.includes(p.segment.dst) && p.segment.flags === 'S.'))).toBe(true);
      // While the run is on, the ghosts' permanent entries are gone again (each session removed its own).
      expect(sh('ip', ['-n', vmNs, 'neigh', 'show', 'nud', 'permanent'])).toBe('');
      // The other labs that run on any stack, on the same target: the RST at rcv_nxt kills the TIME-WAIT
      // only with tcp_rfc1337=0 (set over ssh), the LAST-ACK answers a reused 4-tuple's SYN with a challenge ACK,
      // and PAWS drops data with an older timestamp.
      for (const lab of [rfc1337Lab, lastackSynLab, pawsLab, abortLab]) {
        const o = await runLab(lab, { target: t });
        const lines = o.cases.map((c) => `${c.id}: ${c.verdict} ${c.error ?? ''} ${c.checks.map((k) => `${k.id}=${JSON.stringify(k.observed)}:${k.verdict}`).join(' ')}`);
        for (const c of o.cases) expect(c.verdict, lines.join('\n')).toBe('PASS');
      }
    } finally {
      await t.dispose();
    }
    expect(sh('ip', ['netns', 'exec', vmNs, 'sysctl', '-n', 'net.ipv4.tcp_timestamps']).trim()).toBe('0');
    expect(sh('ip', ['-n', vmNs, 'neigh', 'show', 'nud', 'permanent'])).toBe('');
    expect(sh('ip', ['netns', 'exec', proberNs, 'nft', 'list', 'tables'])).not.toContain(t.table);
    expect(existsSync(join(RUN_DIR, `${runId}.ssh`))).toBe(false);
    expect(existsSync(join(RUN_DIR, `${runId}.json`))).toBe(false);
    // no ssh of this run is left: the shared connection and the peers' sessions are gone
    expect(sh('ps', ['-eo', 'args']).split('\n').filter((l) => l.includes(`${runId}.ssh`))).toEqual([]);
  }, 240_000);

  it('keeps the target contract every kind of target keeps (test/helpers/target-contract.ts)', async () => {
    const t = (await findStack('ssh:vm', STACKS, '--target').start()) as SshTarget;
    try {
      await checkTargetContract(t);
    } finally {
      await t.dispose();
    }
  }, 120_000);

  it('runs the two-host lab reuse with the vm kernel as its subject: the partner is a namespace on the link, gone afterwards', async () => {
    const t = (await findStack('ssh:vm', STACKS, '--target').start()) as SshTarget;
    const before = sh('ip', ['netns', 'exec', proberNs, 'ip', '-j', 'link', 'show']);
    let partnerNs = '';
    try {
      const r = await runLab(reuseLab, { target: t });
      const summary = r.cases.map((c) => `${c.id}: ${c.verdict} ${c.error ?? ''} ${c.checks.filter((k) => k.verdict !== 'PASS').map((k) => `${k.id}=${JSON.stringify(k.observed)}:${k.verdict}`).join(' ')}`);
      expect(r.subject).toBe('client');
      expect(r.cases.map((c) => c.verdict), summary.join('\n')).toEqual(reuseLab.cases.map(() => 'PASS'));
      // The client (subject) is the vm: its address on the link; the server is the partner, a free address
      // of the same /24 that is neither the vm's, the prober's nor a ghost.
      for (const c of r.cases) {
        const syn = c.packets.find((p) => p.segment.flags === 'S');
        expect(syn?.segment.src, c.id).toBe(vmAddr);
        expect([vmAddr, t.local.addr, ...t.ghosts]).not.toContain(syn?.segment.dst);
      }
      // The partner's namespace hangs off the prober's link by a macvlan here (a veth on a bridge for libvirt).
      partnerNs = sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!).find((n) => /^tcplab-[0-9a-f]{6}-partner$/.test(n) && n !== proberNs) ?? '';
      expect(partnerNs).not.toBe('');
      expect(sh('ip', ['-n', partnerNs, '-d', 'link', 'show'])).toMatch(/macvlan mode bridge/);
    } finally {
      await t.dispose();
    }
    expect(sh('ip', ['netns', 'list'])).not.toContain(partnerNs);
    expect(sh('ip', ['netns', 'exec', proberNs, 'ip', '-j', 'link', 'show'])).toBe(before);
    // the vm's sysctls are back (the lab set ip_local_port_range and tcp_tw_reuse over ssh)
    expect(sh('ip', ['netns', 'exec', vmNs, 'sysctl', '-n', 'net.ipv4.tcp_tw_reuse']).trim()).toBe('2');
    expect(sh('ip', ['netns', 'exec', vmNs, 'sysctl', '-n', 'net.ipv4.ip_local_port_range']).trim()).toMatch(/^32768\s+60999$/);
  }, 240_000);

  it('behind a bridge with br_netfilter on (as libvirt sets it up): the ghosts still get their answers, the partner joins by a veth', async () => {
    // The prober's end of the link moves into a bridge, its address onto the bridge: the shape of virbrN.
    const veth = tb.host('prober').iface('vm').ifname;
    const addr = tb.host('prober').addr('vm');
    const br = `tcplab-${tb.runId}br`;
    const ipn = (...a: string[]) => sh('ip', ['-n', proberNs, ...a]);
    ipn('link', 'add', br, 'type', 'bridge');
    ipn('addr', 'del', `${addr}/24`, 'dev', veth);
    ipn('link', 'set', veth, 'master', br);
    ipn('addr', 'add', `${addr}/24`, 'dev', br);
    ipn('link', 'set', br, 'up');
    sh('ip', ['netns', 'exec', proberNs, 'sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1']);
    try {
      const t = (await findStack('ssh:vm', STACKS, '--target').start()) as SshTarget;
      try {
        expect(t.local.ifname).toBe(br);
        const probe = await runLab(timewaitSynLab, { target: t, cases: ['isn-above'] });
        expect(probe.cases.map((c) => `${c.id}: ${c.verdict} ${c.error ?? ''}`)).toEqual(['isn-above: PASS ']);
        const links: string[] = [];
        const two = await runLab(reuseLab, {
          target: t,
          cases: ['reuse0'],
          onProgress: () => void links.push(ipn('-d', 'link', 'show', 'master', br)),
        });
        expect(two.cases.map((c) => `${c.id}: ${c.verdict} ${c.error ?? ''}`)).toEqual(['reuse0: PASS ']);
        // the partner's veth end is a port of the bridge while the case runs
        expect(links.join('\n')).toMatch(/tcplab-[0-9a-f]{6}o@/);
      } finally {
        await t.dispose();
      }
      expect(ipn('link', 'show', 'master', br)).not.toMatch(/tcplab-[0-9a-f]{6}o@/);
    } finally {
      ipn('addr', 'del', `${addr}/24`, 'dev', br);
      ipn('link', 'del', br);
      ipn('addr', 'add', `${addr}/24`, 'dev', veth);
      ipn('link', 'set', veth, 'up');
    }
  }, 180_000);

  /** `tcplab run timewait-syn --target ssh:vm` in a child; resolves once the vm holds a ghost's entry and the lab's sysctl. */
  async function cliMidRun(): Promise<{ child: ChildProcess; runId: string; exited: Promise<number | null>; log: () => string }> {
    const cli = join(packageRoot(), 'dist', 'src', 'cli.js');
    const child = spawn(process.execPath, [cli, 'run', 'timewait-syn', '--target', 'ssh:vm', '--no-pcap'], { stdio: ['ignore', 'ignore', 'pipe'], env: process.env });
    let log = '';
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const t0 = Date.now();
    for (;;) {
      const neigh = sh('ip', ['-n', vmNs, 'neigh', 'show', 'nud', 'permanent']);
      const ts = sh('ip', ['netns', 'exec', vmNs, 'sysctl', '-n', 'net.ipv4.tcp_timestamps']).trim();
      if (neigh.includes('PERMANENT') && ts === '1') break;
      if (child.exitCode !== null || Date.now() - t0 > 30_000) throw new Error(`the run did not get going: ${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const runId = readJournals().find((j) => j.pid === child.pid)?.runId;
    if (!runId) throw new Error(`no journal for pid ${child.pid}: ${log}`);
    return { child, runId, exited, log: () => log };
  }

  const vmClean = () => ({
    neigh: sh('ip', ['-n', vmNs, 'neigh', 'show', 'nud', 'permanent']),
    timestamps: sh('ip', ['netns', 'exec', vmNs, 'sysctl', '-n', 'net.ipv4.tcp_timestamps']).trim(),
    // undo commands of live guards that concern this vm (the guard of another test file may be live)
    undoDirs: sh('sh', ['-c', 'grep -rlF -- "$1" /tmp/tcplab-undo.* 2>/dev/null || true', '_', vmAddr.replace(/\.\d+$/, '.')]).trim(),
  });

  it('Ctrl-C in the middle of a run: exit 130, the vm sysctl and neighbour entry, the nft table, journal and ssh all go', async () => {
    sh('ip', ['netns', 'exec', vmNs, 'sysctl', '-q', '-w', 'net.ipv4.tcp_timestamps=0']);
    const { child, runId, exited, log } = await cliMidRun();
    child.kill('SIGINT');
    expect(await exited, log()).toBe(130);
    expect(vmClean()).toEqual({ neigh: '', timestamps: '0', undoDirs: '' });
    expect(sh('ip', ['netns', 'exec', proberNs, 'nft', 'list', 'tables'])).not.toContain(`tcplab-${runId}s`);
    expect(existsSync(join(RUN_DIR, `${runId}.json`))).toBe(false);
    expect(existsSync(join(RUN_DIR, `${runId}.ssh`))).toBe(false);
    expect(sh('ps', ['-eo', 'args']).split('\n').filter((l) => l.includes(`${runId}.ssh`))).toEqual([]);
  }, 60_000);

  it('SIGKILL in the middle of a run: the remote guard puts the vm back; clean removes the local rest', async () => {
    sh('ip', ['netns', 'exec', vmNs, 'sysctl', '-q', '-w', 'net.ipv4.tcp_timestamps=0']);
    const { child, runId, exited } = await cliMidRun();
    child.kill('SIGKILL');
    await exited;
    // The guard runs its undo list when its ssh (killed with the run: pdeathsig) goes away.
    const t0 = Date.now();
    while (JSON.stringify(vmClean()) !== JSON.stringify({ neigh: '', timestamps: '0', undoDirs: '' }) && Date.now() - t0 < 10_000) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(vmClean()).toEqual({ neigh: '', timestamps: '0', undoDirs: '' });
    expect(sh('ps', ['-eo', 'args']).split('\n').filter((l) => l.includes(`${runId}.ssh`))).toEqual([]);
    // Locally: the journal (tcplab clean) and the dead connection socket; the nft table is in the
    // prober namespace here and goes with it (in the root namespace, clean removes it by its name).
    expect(readJournals().some((j) => j.runId === runId)).toBe(true);
    const rep = await cleanLeftovers({ runIds: [runId] });
    expect(rep.errors).toEqual([]);
    expect(cleanSshLeftovers()).toEqual([join(RUN_DIR, `${runId}.ssh`)]);
    sh('ip', ['netns', 'exec', proberNs, 'nft', 'delete', 'table', 'netdev', `tcplab-${runId}s`]);
  }, 60_000);

  it('tcplab matrix --stacks ssh:vm,ssh:refused: the ssh column runs, the unreachable one says why', async () => {
    const stacks = ['ssh:vm', 'ssh:refused'].map((id) => findStack(id));
    const m = await runMatrix([timewaitSynLab], stacks, { cases: ['isn-above'] });
    expect(m.stacks.map((s) => s.id)).toEqual(['ssh:vm', 'ssh:refused']);
    expect(m.stacks[0]!.unavailable).toBeUndefined();
    expect(m.stacks[0]!.stack?.os).toBe('linux');
    expect(m.stacks[1]!.unavailable).toMatch(/cannot reach refused/);
    const answer = m.rows.find((r) => r.case === 'isn-above' && r.check === 'answer')!;
    expect(answer.cells['ssh:vm']).toMatchObject({ observed: 'SYN-ACK', verdict: 'PASS' });
  }, 120_000);
});

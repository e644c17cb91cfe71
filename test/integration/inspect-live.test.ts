// Captures made now by real kernels (two throwaway tcplab- namespaces on 198.18.0.0/15, tcpdump, editcap):
// inspect must see the same TIME-WAIT events the recorded fixtures show, in pcap and pcapng alike.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectFile } from '../../src/inspect/index.js';
import { requireRoot } from '../helpers/root.js';

const dir = mkdtempSync(join(tmpdir(), 'tcplab-inspectlive-'));
const suffix = `t${process.pid % 100000}`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('inspect on live captures', () => {
  requireRoot();

  it('client TIME-WAIT reuse, server TIME-WAIT SYN accepted and rejected, as pcap and pcapng', async () => {
    execFileSync('sh', [join(import.meta.dirname, '..', 'fixtures', 'inspect-capture.sh'), dir], {
      env: { ...process.env, TCPLAB_SUFFIX: suffix, TCPLAB_REJECT_BYTES: '1000000' }, stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000,
    });
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`tcplab-ins${suffix}`);

    const reuse = await inspectFile(join(dir, 'inspect-twreuse.cap'));
    expect(reuse.findings.map((f) => f.kind)).toEqual(['tw-reuse', 'tw-reuse']);
    expect(reuse.connections).toHaveLength(1);
    expect(reuse.connections[0]!.incarnations.map((i) => i.finalStates)).toEqual([
      ['TIME-WAIT', 'CLOSED'], ['TIME-WAIT', 'CLOSED'], ['TIME-WAIT', 'CLOSED'],
    ]);
    const ng = await inspectFile(join(dir, 'inspect-twreuse.pcapng'));
    expect(ng.format).toBe('pcapng');
    expect(ng.findings.map((f) => [f.kind, f.packets.map((p) => p.frame)])).toEqual(reuse.findings.map((f) => [f.kind, f.packets.map((p) => p.frame)]));

    const server = await inspectFile(join(dir, 'inspect-twserver.cap'));
    expect(server.findings.map((f) => f.kind)).toEqual(['tw-syn-accepted']);
    expect(server.findings[0]!.text).toMatch(/TSval newer than TS.Recent/);

    const reject = await inspectFile(join(dir, 'inspect-twreject.cap'));
    expect(reject.findings.map((f) => f.kind)).toEqual(['tw-syn-rejected-ack', 'rst-in-time-wait']);
    // Incarnation 2 closes from both ends at once, in an order the scheduler picks: only its start is fixed.
    const incs = reject.connections[0]!.incarnations;
    expect(incs.map((i) => i.closedBy)).toEqual(['FIN', 'FIN']);
    expect(incs[0]!.finalStates).toEqual(['CLOSED', 'TIME-WAIT']);
    expect(incs[1]!.finalStates.filter((s) => s === 'TIME-WAIT').length, String(incs[1]!.finalStates)).toBeGreaterThanOrEqual(1);
    expect(incs[1]!.finalStates.every((s) => s === 'TIME-WAIT' || s === 'CLOSED')).toBe(true);

    const sll2 = await inspectFile(join(dir, 'inspect-twreuse-sll2.pcapng'));
    expect(sll2.linkTypes).toEqual(['sll2']);
    expect(sll2.findings.map((f) => f.kind)).toEqual(['tw-reuse']);
  }, 90_000);
});

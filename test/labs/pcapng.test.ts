// The annotated pcapng a lab run writes (issue 16), read back by tshark and by tcplab inspect, and the
// ladder's frame numbers checked against Wireshark's numbering of the same file.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { requireRoot } from '../helpers/root.js';
import { CLI, runLabChecked } from '../helpers/labrun.js';
import { expectAnnotatedPcapng, tsharkFrames } from '../helpers/pcapng.js';

interface ReportPacket { point: string; frame?: number; seq: number; flags: string }

describe('lab pcapng (root)', () => {
  requireRoot();
  const dir = mkdtempSync(join(tmpdir(), 'tcplab-pcapng-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('timewait-syn: every case writes a pcapng tshark reads, with comments, interface names and matching frame numbers', () => {
    const { cases } = runLabChecked('timewait-syn', ['--pcap', join(dir, 'tw')], 5);
    for (const c of cases) {
      const packets = (c as unknown as { packets: ReportPacket[] }).packets;
      const frames = expectAnnotatedPcapng(c.pcap!, packets.map((p) => p.point));
      const byNo = new Map(frames.map((f) => [f.frame, f]));
      // The report's (and the ladder's) frame number names the frame tshark shows with that number.
      for (const p of packets) {
        expect(p.frame, `${c.id}: packet without a frame number`).toBeGreaterThan(0);
        const f = byNo.get(p.frame!)!;
        expect(f.iface).toBe(p.point);
        expect(f.seq).toBe(p.seq);
      }
      // The new SYN is commented with the step that sent it and the check it is evidence for.
      const syns = frames.filter((f) => f.flags === '0x0002');
      expect(syns.at(-1)!.comment, c.id).toMatch(/step \d+: prober sends a new SYN/);
      expect(syns.at(-1)!.comment, c.id).toMatch(/evidence for check answer \(what the server answers to the new SYN\): PASS/);
      // tcplab inspect reads what the lab wrote.
      const r = spawnSync(process.execPath, [CLI, 'inspect', c.pcap!, '--json'], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout).frames).toBe(frames.length);
    }
  }, 90_000);

  it('reuse2: two capture points (the veth and the client\'s loopback) are two interfaces; findings are commented', () => {
    const { cases } = runLabChecked('reuse', ['--pcap', join(dir, 'reuse'), '--case', 'reuse2'], 1);
    const c = cases[0]!;
    const points = (c as unknown as { packets: ReportPacket[] }).packets.map((p) => p.point);
    expect(new Set(points).size).toBe(2);
    const frames = expectAnnotatedPcapng(c.pcap!, points);
    expect(frames.some((f) => f.iface.endsWith(':lo') && /inspect ⚑ tw-reuse: /.test(f.comment))).toBe(true);
  }, 60_000);

  it('--pcap-format pcap keeps classic (nanosecond) pcap: no comments, read by tshark', () => {
    const { cases } = runLabChecked('timewait-syn', ['--pcap', join(dir, 'classic'), '--pcap-format', 'pcap', '--case', 'isn-above'], 1);
    const file = cases[0]!.pcap!;
    expect(file).toMatch(/\.pcap$/);
    const r = spawnSync('capinfos', ['-t', file], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/File type:\s+Wireshark\/tcpdump\/\.\.\. - nanosecond pcap/);
    const frames = tsharkFrames(file);
    expect(frames.length).toBeGreaterThan(5);
    expect(frames.every((f) => f.comment === '')).toBe(true);
  }, 60_000);
});

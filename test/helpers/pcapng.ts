// What every pcapng a lab writes must give Wireshark: tshark reads it, packets carry comments (the step
// behind them at least) and each frame names the capture point that saw it.
import { expect } from 'vitest';
import { spawnSync } from 'node:child_process';

export interface TsharkFrame {
  frame: number;
  iface: string;
  seq: number | undefined;
  flags: string;
  comment: string;
}

export function tsharkFrames(file: string, filter?: string): TsharkFrame[] {
  const r = spawnSync('tshark', ['-r', file, ...(filter ? ['-Y', filter] : []), '-T', 'fields', '-E', 'separator=\t',
    '-e', 'frame.number', '-e', 'frame.interface_name', '-e', 'tcp.seq_raw', '-e', 'tcp.flags', '-e', 'frame.comment'], { encoding: 'utf8' });
  expect(r.error, 'tshark must be installed (apt-get install tshark)').toBeUndefined();
  expect(r.status, `tshark -r ${file}: ${r.stderr}`).toBe(0);
  return r.stdout.split('\n').filter(Boolean).map((l) => {
    const [frame, iface, seq, flags, comment] = l.split('\t');
    return { frame: Number(frame), iface: iface ?? '', seq: seq ? Number(seq) : undefined, flags: flags ?? '', comment: comment ?? '' };
  });
}

/** The checks of issue 16 on one lab pcapng; `points` are the capture points the report names. */
export function expectAnnotatedPcapng(file: string, points: readonly string[]): TsharkFrame[] {
  expect(file).toMatch(/\.pcapng$/);
  const all = tsharkFrames(file);
  expect(all.length).toBeGreaterThan(0);
  const commented = tsharkFrames(file, 'frame.comment');
  expect(commented.length, `${file}: no frame.comment`).toBeGreaterThan(0);
  expect(commented.some((f) => /step \d+: /.test(f.comment))).toBe(true);
  expect(commented.some((f) => /state after: /.test(f.comment))).toBe(true);
  expect(commented.some((f) => /evidence for check [\w-]+ \(.*\): (PASS|DIFFERS|ERROR)/.test(f.comment))).toBe(true);
  expect([...new Set(all.map((f) => f.iface))].sort()).toEqual([...new Set(points)].sort());
  return all;
}

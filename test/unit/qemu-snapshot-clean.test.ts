// tcplab clean removes snapshot temp files of writers that died, and nothing else.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { removeDeadTemps } from '../../src/targets/qemu-snapshot.js';

describe('removeDeadTemps', () => {
  it('removes temp files of dead writers only', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tcplab-snap-'));
    try {
      const key = '0123456789abcdef01234567';
      const files = [`snapshot-${key}`, `snapshot-${key}.console`, `snapshot-${key}.tmp-${process.pid}-x`, `snapshot-${key}.tmp-999999-y`, `snapshot-${key}.console.tmp-999998-z`, 'vmlinux'];
      for (const f of files) writeFileSync(join(dir, f), '');
      expect(removeDeadTemps(dir).map((p) => p.slice(dir.length + 1)).sort()).toEqual([`snapshot-${key}.console.tmp-999998-z`, `snapshot-${key}.tmp-999999-y`]);
      expect(readdirSync(dir).sort()).toEqual([`snapshot-${key}`, `snapshot-${key}.console`, `snapshot-${key}.tmp-${process.pid}-x`, 'vmlinux']);
      expect(removeDeadTemps(join(dir, 'missing'))).toEqual([]);
      // A guest per kernel lives one level down (<cache>/guest/<target id>/); two levels down is not looked at.
      mkdirSync(join(dir, 'linux-5.10-qemu', 'modules'), { recursive: true });
      writeFileSync(join(dir, 'linux-5.10-qemu', `snapshot-${key}.tmp-999997-a`), '');
      writeFileSync(join(dir, 'linux-5.10-qemu', `snapshot-${key}`), '');
      writeFileSync(join(dir, 'linux-5.10-qemu', 'modules', `snapshot-${key}.tmp-999996-b`), '');
      expect(removeDeadTemps(dir)).toEqual([join(dir, 'linux-5.10-qemu', `snapshot-${key}.tmp-999997-a`)]);
      expect(readdirSync(join(dir, 'linux-5.10-qemu')).sort()).toEqual(['modules', `snapshot-${key}`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

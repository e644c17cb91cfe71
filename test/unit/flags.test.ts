import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { flagNames, formatFlags, hasFlags, parseFlags } from '../../src/wire/flags.js';
import { native } from '../../src/wire/native.js';
import { FLAG_BITS } from '../../src/wire/types.js';

describe('flags', () => {
  it('formats in tcpdump order', () => {
    expect(formatFlags(0x02)).toBe('S');
    expect(formatFlags(0x12)).toBe('S.');
    expect(formatFlags(0x11)).toBe('F.');
    expect(formatFlags(0x04)).toBe('R');
    expect(formatFlags(0x14)).toBe('R.');
    expect(formatFlags(0x18)).toBe('P.');
    expect(formatFlags(0x19)).toBe('FP.');
    expect(formatFlags(0xc2)).toBe('SEW');
    expect(formatFlags(0x30)).toBe('.U');
    expect(formatFlags(0)).toBe('none');
    expect(formatFlags(0xff)).toBe('FSRP.UEW');
  });

  it('parse(format(b)) === b for all 256 bytes, and the C++ notation is the same', () => {
    for (let b = 0; b < 256; b++) {
      expect(parseFlags(formatFlags(b))).toBe(b);
      expect(native().formatFlags(b)).toBe(formatFlags(b));
      expect(parseFlags(flagNames(b))).toBe(b);
    }
  });

  it('accepts letters in any order, names and bytes', () => {
    expect(parseFlags('.S')).toBe(0x12);
    expect(parseFlags('')).toBe(0);
    expect(parseFlags('none')).toBe(0);
    expect(parseFlags(['SYN', 'ACK'])).toBe(FLAG_BITS.SYN | FLAG_BITS.ACK);
    expect(parseFlags(['FIN', 'FIN'])).toBe(1);
    expect(parseFlags(0x29)).toBe(0x29);
    expect(hasFlags(0x12, 'S')).toBe(true);
    expect(hasFlags(0x02, 'S.')).toBe(false);
  });

  it('rejects unknown letters and names with a TypeError naming flags', () => {
    for (const bad of ['X', 'S.x', 's', 'e', 'SYN']) {
      expect(() => parseFlags(bad)).toThrow(TypeError);
      expect(() => parseFlags(bad)).toThrow(/^flags: unknown flag letter/);
    }
    expect(() => parseFlags(['SYN', 'syn' as 'SYN'])).toThrow(/^flags: unknown flag name 'syn'/);
    expect(() => parseFlags(1.5)).toThrow(TypeError);
    expect(() => parseFlags(256)).toThrow(RangeError);
    expect(() => parseFlags(-1)).toThrow(/^flags:/);
    expect(() => parseFlags({} as unknown as string)).toThrow(/^flags:/);
    expect(() => formatFlags(256)).toThrow(RangeError);
  });

  it("matches tcpdump's own printing of the fixture flags", () => {
    // tcpdump -r on the real capture prints "Flags [S]", "[S.]", "[.]", "[P.]", "[F.]"
    const out = execFileSync('tcpdump', ['-nr', new URL('../fixtures/veth-conn-v4.cap', import.meta.url).pathname], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'],
    });
    const printed = [...out.matchAll(/Flags \[([^\]]+)\]/g)].map((m) => m[1]);
    expect(printed.slice(0, 3)).toEqual(['S', 'S.', '.']);
    expect(printed).toContain('P.');
    expect(printed).toContain('F.');
    for (const p of printed) expect(formatFlags(parseFlags(p!))).toBe(p);
  });
});

import { describe, expect, it } from 'vitest';
import { inRange, parseVersion } from '../../src/lab/kernel.js';
import { describeExpected, resolveExpectation, satisfies, type Expectation } from '../../src/lab/expect.js';
import { checkGap, toleranceScale } from '../../src/lab/timing.js';

describe('kernel version ranges', () => {
  it('parses uname -r', () => {
    expect(parseVersion('6.18.44-fc-v669')).toEqual([6, 18, 44]);
    expect(parseVersion('5.10.0-28-amd64')).toEqual([5, 10, 0]);
    expect(parseVersion('14.1-RELEASE')).toEqual([14, 1, 0]);
    expect(parseVersion('weird')).toEqual([0, 0, 0]);
  });
  it('matches ranges clause by clause', () => {
    expect(inRange([6, 18, 44], '>=5.6')).toBe(true);
    expect(inRange([5, 4, 0], '>=5.6')).toBe(false);
    expect(inRange([5, 6, 0], '>=5.6 <6.1')).toBe(true);
    expect(inRange([6, 1, 0], '>=5.6 <6.1')).toBe(false);
    expect(inRange([4, 12, 0], '*')).toBe(true);
  });
  it('refuses a range it cannot read', () => {
    expect(() => inRange([6, 1, 0], '~6')).toThrow(RangeError);
  });
});

describe('per-stack expectations', () => {
  const e: Expectation = {
    linux: [
      { versions: '>=5.6', expect: { between: [0, 100] }, because: 'fast SYN retransmit' },
      { versions: '<5.6', expect: { between: [900, 1300] } },
    ],
    freebsd: [{ versions: '*', expect: 'SYN-ACK' }],
  };
  it('picks the rule for the running stack', () => {
    const r = resolveExpectation(e, { os: 'linux', release: '6.18.0', version: [6, 18, 0] });
    expect(r?.source).toBe('linux >=5.6');
    expect(r && satisfies(11, r.expect)).toBe(true);
    expect(r && satisfies(1000, r.expect)).toBe(false);
    const old = resolveExpectation(e, { os: 'linux', release: '4.19.0', version: [4, 19, 0] });
    expect(old && satisfies(1000, old.expect)).toBe(true);
  });
  it('has no expectation for an unknown stack unless `other` is given', () => {
    expect(resolveExpectation(e, { os: 'other', release: 'x', version: [0, 0, 0] })).toBeUndefined();
  });
  it('compares values exactly and describes them', () => {
    expect(satisfies('ACK', { oneOf: ['ACK', 'none'] })).toBe(true);
    expect(satisfies('RST', { oneOf: ['ACK', 'none'] })).toBe(false);
    expect(satisfies(5, { atLeast: 5 })).toBe(true);
    expect(satisfies('5', { atLeast: 5 })).toBe(false);
    expect(satisfies(true, true)).toBe(true);
    expect(describeExpected({ between: [1, 2] })).toBe('between 1 and 2');
  });
});

describe("packetdrill's timing rule", () => {
  it('allows max(absolute, percent of the gap)', () => {
    expect(checkGap(1_010_000_000n, 1000, { absMs: 4, pct: 0.02 }).ok).toBe(true);
    expect(checkGap(1_030_000_000n, 1000, { absMs: 4, pct: 0.02 }).ok).toBe(false);
    expect(checkGap(13_000_000n, 10, { absMs: 4, pct: 0.02 }).ok).toBe(true);
    expect(checkGap(15_000_000n, 10, { absMs: 4, pct: 0.02 }).ok).toBe(false);
  });
  it('scales with the knob', () => {
    expect(checkGap(15_000_000n, 10, { absMs: 4, pct: 0.02 }, 2).ok).toBe(true);
    expect(toleranceScale({ TCPLAB_TOLERANCE_SCALE: '3' })).toBe(3);
    expect(() => toleranceScale({ TCPLAB_TOLERANCE_SCALE: 'fast' })).toThrow(/TCPLAB_TOLERANCE_SCALE/);
  });
});

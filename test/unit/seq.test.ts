import { describe, expect, it } from 'vitest';
import {
  seqAdd, seqAfter, seqAfterEq, seqBefore, seqBeforeEq, seqBetween, seqDiff, tsAfter, tsBefore,
} from '../../src/wire/seq.js';

const MAX = 0xffffffff;

describe('seq arithmetic mod 2^32', () => {
  it('adds with wrap-around both ways', () => {
    expect(seqAdd(MAX, 1)).toBe(0);
    expect(seqAdd(MAX - 4, 10)).toBe(5);
    expect(seqAdd(3, -5)).toBe(MAX - 1);
    expect(seqAdd(0, 2 ** 32)).toBe(0);
    expect(seqAdd(7, -(2 ** 33))).toBe(7);
  });

  it('signed distance across the wrap', () => {
    expect(seqDiff(5, MAX - 4)).toBe(10);
    expect(seqDiff(MAX - 4, 5)).toBe(-10);
    expect(seqDiff(100, 100)).toBe(0);
    expect(seqDiff(2 ** 31 - 1, 0)).toBe(2 ** 31 - 1);
    expect(seqDiff(2 ** 31, 0)).toBe(-(2 ** 31)); // exactly half way: by convention "before"
  });

  it('before/after follow RFC 793 SEQ_LT/SEQ_GT', () => {
    expect(seqBefore(MAX, 0)).toBe(true);
    expect(seqAfter(0, MAX)).toBe(true);
    expect(seqBefore(0, MAX)).toBe(false);
    expect(seqBefore(1, 1)).toBe(false);
    expect(seqBeforeEq(1, 1)).toBe(true);
    expect(seqAfterEq(1, 1)).toBe(true);
    expect(seqAfter(10, 5)).toBe(true);
    for (let i = 0; i < 1000; i++) {
      const a = Math.floor(Math.random() * 2 ** 32);
      const n = 1 + Math.floor(Math.random() * (2 ** 31 - 1));
      expect(seqAfter(seqAdd(a, n), a)).toBe(true);
      expect(seqBefore(a, seqAdd(a, n))).toBe(true);
      expect(seqDiff(seqAdd(a, n), a)).toBe(n);
    }
  });

  it('between handles windows that wrap', () => {
    expect(seqBetween(5, MAX - 10, 20)).toBe(true);
    expect(seqBetween(MAX, MAX - 10, 20)).toBe(true);
    expect(seqBetween(20, MAX - 10, 20)).toBe(false);
    expect(seqBetween(MAX - 11, MAX - 10, 20)).toBe(false);
    expect(seqBetween(3, 3, 3)).toBe(false); // empty window
  });

  it('timestamps compare like PAWS', () => {
    expect(tsAfter(1, MAX)).toBe(true); // the clock wrapped: 1 is newer
    expect(tsBefore(MAX, 1)).toBe(true);
    expect(tsAfter(2 ** 31 + 5, 5)).toBe(false); // more than 2^31 ahead counts as old (PAWS)
  });

  it('rejects values outside uint32 by name', () => {
    expect(() => seqDiff(2 ** 32, 0)).toThrow(/^a: must be an integer 0\.\.4294967295, got 4294967296/);
    expect(() => seqDiff(0, -1)).toThrow(RangeError);
    expect(() => seqBefore(NaN, 0)).toThrow(TypeError);
    expect(() => seqAdd(1, 0.5)).toThrow(/^n:/);
    expect(() => seqBetween(1, 2, 2 ** 40)).toThrow(/^hi:/);
  });
});

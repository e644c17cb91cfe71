import { describe, expect, it } from 'vitest';
import { annotate } from '../../src/inspect/annotate.js';
import { renderLadder } from '../../src/lab/ladder.js';
import { sampleLabResult } from '../fixtures/inspect-labresult.js';

describe('annotate: inspect analysis on a lab case for its ladder', () => {
  it('states per column and finding notes with the rule', async () => {
    const lab = await sampleLabResult();
    const c = lab.cases[1]!; // the synthetic TIME-WAIT rejection
    // The server in the left column: the pair comes back in column order.
    const cols = [{ label: 'server', addrs: ['198.18.2.2'] }, { label: 'prober', addrs: ['198.18.2.1'] }] as const;
    const a = annotate(c.packets, cols, { explain: true });
    expect(a.findings.map((f) => f.kind)).toEqual(['tw-syn-rejected-ack', 'rst-in-time-wait']);
    expect(a.states(c.packets[0]!)).toEqual(['LISTEN', 'SYN-SENT']);
    expect(a.states(c.packets[7]!)).toEqual(['TIME-WAIT', 'CLOSED']);
    expect(a.notes).toHaveLength(4);
    expect(a.notes[1]!.text).toContain('tcp_timewait_state_process() -> TCP_TW_ACK');
    const text = renderLadder(c.packets, [...c.notes, ...a.notes], cols, { states: a.states, wrapNotes: true, width: 100 });
    expect(text).toMatch(/TIME-WAIT │◀─+ F\. +seq 5 ack 6 .*┤ LAST-ACK/);
    expect(text.indexOf('⚑ tw-syn-rejected-ack')).toBeLessThan(text.indexOf('The SYN was not newer'));
    expect(text.replace(/\n +/g, ' ')).toContain('· ⚑ tw-syn-rejected-ack: SYN from client 198.18.2.1:40000 reached server');
    // Wrapped, not cut: every word of the explanation is there, no line is wider than the ladder.
    expect(text.replace(/\n +/g, ' ')).toContain('answers it with a RST and retries the SYN after its retransmission timeout.');
    expect(Math.max(...text.split('\n').map((l) => [...l].length))).toBeLessThanOrEqual(100);
  });
});

// recordPeerCalls(): each case's log gets only its own calls, also when cases run at once (--jobs).
import { describe, expect, it } from 'vitest';
import { notePeerCall, recordPeerCalls, type PeerCallRecord } from '../../src/peer/record.js';

const tick = () => new Promise((r) => setTimeout(r, 1));

describe('recordPeerCalls', () => {
  it('keeps concurrent cases apart, numbers peers per case, skips ping and calls outside any case', async () => {
    const a: PeerCallRecord[] = [];
    const b: PeerCallRecord[] = [];
    const p1 = {};
    const p2 = {};
    notePeerCall(p1, undefined, 'close', { sock: 9 }, { ok: true }, 0n); // outside: dropped
    await Promise.all([
      recordPeerCalls(a, async () => {
        notePeerCall(p1, 'tcplab-x-a', 'listen', { port: 1 }, { ok: true, sock: 1 }, 1n);
        await tick();
        notePeerCall(p2, 'tcplab-x-b', 'ping', {}, { ok: true }, 2n);
        notePeerCall(p2, 'tcplab-x-b', 'accept', { sock: 1 }, { ok: true, sock: 2 }, 3n);
      }),
      recordPeerCalls(b, async () => {
        await tick();
        notePeerCall(p2, undefined, 'close', { sock: 2 }, { ok: true }, 4n);
      }),
    ]);
    expect(a.map((c) => [c.peer, c.op, c.netns])).toEqual([[0, 'listen', 'tcplab-x-a'], [1, 'accept', 'tcplab-x-b']]);
    expect(b.map((c) => [c.peer, c.op])).toEqual([[0, 'close']]);
    expect(a.every((c) => c.endNs >= c.startNs)).toBe(true);
  });
});

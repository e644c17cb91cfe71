// A log of the peer calls a lab case made (socket syscalls on a host), kept per case with
// AsyncLocalStorage so that cases run with --jobs N do not mix: exporters (packetdrill) replay them.
import { AsyncLocalStorage } from 'node:async_hooks';

export interface PeerCallRecord {
  /** Which peer process (one per host and lab use), numbered in order of first call. */
  peer: number;
  /** The peer's namespace when spawned locally (undefined on a target's channel). */
  netns?: string;
  op: string;
  args: Record<string, unknown>;
  /** The answer: { ok: true, ... } or { ok: false, code, ... }. */
  result: Record<string, unknown>;
  /** CLOCK_REALTIME ns when the request was written and when the answer came (the capture's clock). */
  startNs: bigint;
  endNs: bigint;
}

interface Log {
  calls: PeerCallRecord[];
  peers: WeakMap<object, number>;
  next: number;
}

const store = new AsyncLocalStorage<Log>();

/** Runs fn with every peer call made inside it (and its async continuations) appended to `calls`. */
export function recordPeerCalls<T>(calls: PeerCallRecord[], fn: () => Promise<T>): Promise<T> {
  return store.run({ calls, peers: new WeakMap(), next: 0 }, fn);
}

export function realtimeNowNs(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

/** Called by PeerClient for each answered request; does nothing outside recordPeerCalls(). */
export function notePeerCall(peer: object, netns: string | undefined, op: string, args: Record<string, unknown>, result: Record<string, unknown>, startNs: bigint): void {
  const log = store.getStore();
  if (!log || op === 'ping') return;
  let id = log.peers.get(peer);
  if (id === undefined) {
    id = log.next++;
    log.peers.set(peer, id);
  }
  log.calls.push({ peer: id, ...(netns ? { netns } : {}), op, args, result, startNs, endNs: realtimeNowNs() });
}

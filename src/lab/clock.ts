// The lab's clocks, one of each. Events (notes, a reconnect's start, a socket seen gone) are stamped on
// the capture's clock, CLOCK_REALTIME in ns as the kernel stamps packets, so they sort among packets
// and subtract from packet times. Durations use the monotonic clock and are never mixed with either.
import { realtimeNs } from '../wire/netns.js';

/** Now on the packets' clock (CLOCK_REALTIME, ns). */
export function eventNs(): bigint {
  return realtimeNs();
}

/** Monotonic milliseconds, for durations only. */
export function monoMs(): number {
  return performance.now();
}

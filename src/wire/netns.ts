// Typed face of native/netns.cc: interfaces and namespace identities, and the capture clock.
import { native } from './native.js';

export interface InterfaceInfo {
  ifindex: number;
  /** 'aa:bb:cc:dd:ee:ff' */
  mac: string;
  mtu: number;
}

/** ifindex, MAC and MTU of an interface, looked up inside `netns` (the current one when omitted). */
export function interfaceInfo(ifname: string, netns?: string): InterfaceInfo {
  return native().interfaceInfo(ifname, netns);
}

/** 'dev:inode' of the calling thread's network namespace. */
export function threadNetnsId(): string {
  return native().threadNetnsId();
}

/** 'dev:inode' of a named namespace (entered and left through the native guard). */
export function netnsId(netns: string): string {
  return native().netnsId(netns);
}

/** CLOCK_REALTIME in ns: the clock of capture timestamps (SO_TIMESTAMPNS), so the two can be compared. */
export function realtimeNs(): bigint {
  return native().realtimeNs();
}

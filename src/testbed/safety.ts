// Traffic safety: crafted traffic only ever targets benchmarking (198.18.0.0/15, RFC 2544), the IPv6
// documentation/benchmarking prefix 2001:2::/48 (RFC 5180) or a ULA (fd00::/8).
import { isIPv4, isIPv6 } from 'node:net';

export function isSafeV4(addr: string): boolean {
  if (!isIPv4(addr)) return false;
  const [a, b] = addr.split('.').map(Number) as [number, number];
  return a === 198 && (b === 18 || b === 19);
}

function v6Words(addr: string): number[] {
  const [head, tail] = addr.includes('::') ? addr.split('::') as [string, string] : [addr, undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const words = (xs: string[]) => xs.flatMap((x) => {
    if (x.includes('.')) { // embedded IPv4
      const o = x.split('.').map(Number) as [number, number, number, number];
      return [(o[0] << 8) | o[1], (o[2] << 8) | o[3]];
    }
    return [parseInt(x, 16)];
  });
  const hw = words(h);
  const tw = words(t);
  const fill = tail === undefined ? [] : new Array<number>(8 - hw.length - tw.length).fill(0);
  return [...hw, ...fill, ...tw];
}

export function isSafeV6(addr: string): boolean {
  if (!isIPv6(addr)) return false;
  const w = v6Words(addr.split('%')[0]!);
  if ((w[0]! & 0xff00) === 0xfd00) return true; // ULA fd00::/8
  return w[0] === 0x2001 && w[1] === 0x0002 && w[2] === 0x0000; // 2001:2::/48
}

export function isSafe(addr: string): boolean {
  return isSafeV4(addr) || isSafeV6(addr);
}

/** Throws unless addr is in a safe range or the caller explicitly allowed others. */
export function assertSafe(field: string, addr: string, allowUnsafe = false): void {
  if (!isIPv4(addr) && !isIPv6(addr)) throw new TypeError(`${field}: '${addr}' is not an IP address literal`);
  if (!allowUnsafe && !isSafe(addr)) {
    throw new RangeError(
      `${field}: ${addr} is outside 198.18.0.0/15, 2001:2::/48 and fd00::/8; tcplab refuses it unless you pass allowUnsafeAddresses: true`,
    );
  }
}

// What a lab needs of the process. Measured with setpriv as uid 65534 (README "Install"): CAP_NET_RAW and
// CAP_NET_ADMIN alone fail at `ip netns add` (mount --make-shared /run/netns needs CAP_SYS_ADMIN), and
// the restore journal in root's /run/tcplab needs CAP_DAC_OVERRIDE; with those four a lab runs.
import { readFileSync } from 'node:fs';

export const LAB_CAPS = { CAP_DAC_OVERRIDE: 1, CAP_NET_ADMIN: 12, CAP_NET_RAW: 13, CAP_SYS_ADMIN: 21 } as const;

/** The effective capability set of this process (from /proc/self/status), or undefined if unreadable. */
export function effectiveCaps(status?: string): bigint | undefined {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status ?? readFileSync('/proc/self/status', 'utf8'));
    return m ? BigInt(`0x${m[1]}`) : undefined;
  } catch {
    return undefined;
  }
}

/** The capabilities of LAB_CAPS missing from `caps` (none for root, whose set is full). */
export function missingCaps(caps: bigint | undefined): string[] {
  return Object.entries(LAB_CAPS).filter(([, bit]) => caps === undefined || (caps & (1n << BigInt(bit))) === 0n).map(([n]) => n);
}

/** Why this process cannot run labs, or undefined if it can (root, or the four capabilities). */
export function labPrivilegeProblem(what: string): string | undefined {
  const missing = missingCaps(effectiveCaps());
  if (!missing.length) return undefined;
  return `${what} need root, or the capabilities ${Object.keys(LAB_CAPS).join(', ')} (missing: ${missing.join(', ')}; CAP_NET_RAW and CAP_NET_ADMIN alone cannot create the namespaces): run with sudo`;
}

// Names of everything a testbed creates. All start with `tcplab-` so `tcplab clean` can find leftovers.
import { randomBytes } from 'node:crypto';

export const PREFIX = 'tcplab-';
export const RUN_DIR = '/run/tcplab';
const RUN_ID = /^[0-9a-f]{6}$/;
const HOST_NAME = /^[a-z][a-z0-9]{0,15}$/;

/** 6 random hex digits: parallel testbeds and vitest workers never collide. */
export function newRunId(): string {
  return randomBytes(3).toString('hex');
}

export function checkRunId(id: string): string {
  if (!RUN_ID.test(id)) throw new TypeError(`runId: expected 6 lowercase hex digits, got '${id}' (omit it to get a random one)`);
  return id;
}

export function checkHostName(name: string): string {
  if (!HOST_NAME.test(name)) throw new TypeError(`hosts: '${name}' must be 1-16 of [a-z0-9], starting with a letter`);
  return name;
}

export function netnsName(runId: string, host: string): string {
  return `${PREFIX}${runId}-${host}`;
}

/** Interface names max 15 chars: tcplab- + runId (6) + link index (base36) + side (a|b). */
export function vethName(runId: string, linkIndex: number, side: 'a' | 'b'): string {
  if (linkIndex < 0 || linkIndex >= 36) throw new RangeError('links: at most 36 links per testbed');
  return `${PREFIX}${runId}${linkIndex.toString(36)}${side}`;
}

export function nftTable(runId: string): string {
  return `${PREFIX}${runId}`;
}

export function journalPath(runId: string): string {
  return `${RUN_DIR}/${runId}.json`;
}

/** The run id inside a name we created (namespace, veth, nft table), or undefined. */
export function runIdOf(name: string): string | undefined {
  const m = /^tcplab-([0-9a-f]{6})/.exec(name);
  return m?.[1];
}

/** The address plan: 198.18.0.0/15 holds 512 /24s; a run's links take consecutive ones from where its id points. */
export function subnetIndex(runId: string, link = 0): number {
  return (parseInt(runId, 16) + link) % 512;
}

/** The run's `link`-th /24 as a network address, e.g. '198.19.4.0'. */
export function runSubnet(runId: string, link = 0): string {
  const n = (((198 << 24) >>> 0) + (18 << 16) + subnetIndex(runId, link) * 256) >>> 0;
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, 0].join('.');
}

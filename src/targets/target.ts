// Targets: TCP stacks other than this machine's kernel (Linux guests in QEMU, gVisor, slirp, lwIP, a VM
// over ssh) that labs can run on. A target is started once per lab run and shared by its cases; each case
// opens a session: a ProbeSession (a fresh ghost address, a Wire on the link toward the stack, peers and
// sysctls undone with the session) or, for two-host labs, a PartnerSession (src/lab/stack.ts).
// The contract lives in the lab layer; this re-export keeps the targets' imports short.
export { emptyCounters, noSysctls, UnsupportedTargetError } from '../lab/stack.js';
export type { LabHost, LabTarget, PartnerSession, ProbeSession, TargetFactory, TargetHost } from '../lab/stack.js';

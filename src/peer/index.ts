export { PeerClient, PeerError, peerScript, type PeerSpawnOptions } from './client.js';
export type { PeerOps, PeerOp, PeerOutcome, PeerFailure, ShutdownHow, SockOpt } from './protocol.js';

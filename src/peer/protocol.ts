// The JSON-lines protocol between PeerClient and the peer program: one request, one response, by id.

export type ShutdownHow = 'rd' | 'wr' | 'rdwr';
export type SockOpt = 'reuseAddr' | 'reusePort' | 'noDelay';

export interface PeerOps {
  ping: { args: Record<string, never>; result: { pid: number; sockets: number } };
  listen: {
    args: { addr: string; port: number; reuseAddr?: boolean; reusePort?: boolean; backlog?: number };
    result: { sock: number; addr: string; port: number };
  };
  accept: { args: { sock: number; timeoutMs: number }; result: { sock: number; peer: { addr: string; port: number } } };
  connect: {
    args: {
      addr: string;
      port: number;
      localAddr?: string;
      /** Fixed local port; ephemeral when absent. */
      localPort?: number;
      reuseAddr?: boolean;
      reusePort?: boolean;
      timeoutMs: number;
    };
    result: { sock: number; localAddr: string; localPort: number };
  };
  send: { args: { sock: number; data: string; timeoutMs?: number }; result: { bytes: number } };
  recv: {
    args: { sock: number; max?: number; timeoutMs: number };
    result: { data: string; bytes: number; eof: boolean; timedOut: boolean };
  };
  shutdown: { args: { sock: number; how: ShutdownHow }; result: Record<string, never> };
  close: { args: { sock: number }; result: Record<string, never> };
  /** SO_LINGER {1, secs} then close: secs 0 sends RST instead of FIN. */
  closeLinger: { args: { sock: number; secs: number }; result: Record<string, never> };
  setsockopt: { args: { sock: number; opt: SockOpt; on: boolean }; result: Record<string, never> };
  info: {
    args: { sock: number };
    result: { state: string; local: { addr: string; port: number }; remote?: { addr: string; port: number }; retransmits: number; totalRetrans: number };
  };
}
export type PeerOp = keyof PeerOps;

export type PeerRequest<K extends PeerOp = PeerOp> = { id: number; op: K } & PeerOps[K]['args'];

export interface PeerFailure {
  ok: false;
  /** errno name ('ECONNRESET'), or 'EBADREQUEST' for a malformed request, 'ETIMEDOUT' for our own timeouts. */
  code: string;
  errno?: number;
  syscall?: string;
  message: string;
  timedOut?: boolean;
}
export type PeerOutcome<K extends PeerOp> = ({ ok: true } & PeerOps[K]['result']) | PeerFailure;
export type PeerResponse = { id: number } & (({ ok: true } & Record<string, unknown>) | PeerFailure);

// The subject's peer calls (src/peer/server.ts) as the syscalls packetdrill makes: one peer op can be
// several syscalls (listen = socket, setsockopt, bind, listen). Sockets become fds 3, 4, ... in order.
import type { PeerCallRecord } from '../../peer/record.js';

const STRERROR: Readonly<Record<string, string>> = {
  EPIPE: 'Broken pipe',
  ECONNRESET: 'Connection reset by peer',
  EAGAIN: 'Resource temporarily unavailable',
  ENOTCONN: 'Transport endpoint is not connected',
  ETIMEDOUT: 'Connection timed out',
  EADDRINUSE: 'Address already in use',
};

export interface SyscallLines {
  /** When the syscalls happen: at the call, or for a call that waited and timed out, at its answer. */
  tNs: bigint;
  /**
   * Set for a call that blocked (accept, recv waiting for the peer): packetdrill's `start...end` form, so
   * the kernel sees a waiting reader as in the run (a reader blocked in poll() when the peer's FIN comes
   * changes whether the FIN is ACKed at once or with the application's own FIN).
   */
  endNs?: bigint;
  lines: string[];
  /**
   * For a call that acts (close, shutdown, send): when its answer came. The kernel did the work somewhere
   * in between; a segment it sent then dates the syscall better than the request did (the peer's latency).
   */
  answeredNs?: bigint;
}

/** A wait shorter than this is the peer's own latency, not blocking. */
const BLOCKED_NS = 2_000_000n;

export class SyscallMapper {
  private readonly fds = new Map<number, number>();
  private nextFd = 3;
  private readonly nonblocking = new Set<number>();
  /** Ports the subject listened on (packetdrill binds to its --bind_port). */
  readonly bindPorts: number[] = [];

  private fd(call: PeerCallRecord): number {
    const id = call.args.sock as number;
    const fd = this.fds.get(id);
    if (fd === undefined) throw new Error(`peer ${call.op}: socket ${id} was not opened by a call this export saw`);
    return fd;
  }

  private adopt(sock: unknown): number {
    const fd = this.nextFd++;
    this.fds.set(sock as number, fd);
    return fd;
  }

  map(call: PeerCallRecord): SyscallLines {
    const r = call.result;
    const ok = r.ok === true;
    const err = (what: string) => `${what} = -1 ${String(r.code)}${STRERROR[String(r.code)] ? ` (${STRERROR[String(r.code)]})` : ''}`;
    const at = (lines: string[], waits = false): SyscallLines =>
      waits && call.endNs - call.startNs >= BLOCKED_NS ? { tNs: call.startNs, endNs: call.endNs, lines }
        : waits ? { tNs: call.endNs, lines } : { tNs: call.startNs, answeredNs: call.endNs, lines };
    switch (call.op) {
      case 'listen': {
        if (!ok) throw new Error(`peer listen failed (${String(r.code)}): a script needs the listener`);
        const fd = this.adopt(r.sock);
        this.bindPorts.push(call.args.port as number);
        const lines = [`socket(..., SOCK_STREAM, IPPROTO_TCP) = ${fd}`];
        if (call.args.reuseAddr !== undefined) lines.push(`setsockopt(${fd}, SOL_SOCKET, SO_REUSEADDR, [${call.args.reuseAddr ? 1 : 0}], 4) = 0`);
        if (call.args.reusePort !== undefined) lines.push(`setsockopt(${fd}, SOL_SOCKET, SO_REUSEPORT, [${call.args.reusePort ? 1 : 0}], 4) = 0`);
        lines.push(`bind(${fd}, ..., ...) = 0`, `listen(${fd}, ${(call.args.backlog as number | undefined) ?? 128}) = 0`);
        return at(lines);
      }
      case 'accept': {
        const l = this.fd(call);
        return at([ok ? `accept(${l}, ..., ...) = ${this.adopt(r.sock)}` : err(`accept(${l}, ..., ...)`)], true);
      }
      case 'recv': {
        const fd = this.fd(call);
        const max = (call.args.max as number | undefined) ?? 65536;
        if (!ok) return at([err(`read(${fd}, ..., ${max})`)], true);
        if (r.timedOut) {
          // The peer's poll() gave up: nothing to read. packetdrill says so with a non-blocking read.
          const lines = this.nonblocking.has(fd) ? [] : [`fcntl(${fd}, F_SETFL, O_RDWR|O_NONBLOCK) = 0`];
          this.nonblocking.add(fd);
          return { tNs: call.endNs, lines: [...lines, `read(${fd}, ..., ${max}) = -1 EAGAIN (${STRERROR.EAGAIN})`] };
        }
        return at([`read(${fd}, ..., ${max}) = ${r.eof ? 0 : (r.bytes as number)}`], true);
      }
      case 'send': {
        const fd = this.fd(call);
        const n = Buffer.byteLength(String(call.args.data), 'utf8');
        return at([ok ? `write(${fd}, ..., ${n}) = ${r.bytes as number}` : err(`write(${fd}, ..., ${n})`)]);
      }
      case 'shutdown': {
        const how = { rd: 'SHUT_RD', wr: 'SHUT_WR', rdwr: 'SHUT_RDWR' }[call.args.how as 'rd' | 'wr' | 'rdwr'];
        const fd = this.fd(call);
        return at([ok ? `shutdown(${fd}, ${how}) = 0` : err(`shutdown(${fd}, ${how})`)]);
      }
      case 'close':
        return at([`close(${this.fd(call)}) = 0`]);
      case 'closeLinger': {
        const fd = this.fd(call);
        return at([`setsockopt(${fd}, SOL_SOCKET, SO_LINGER, {onoff=1, linger=${call.args.secs as number}}, 8) = 0`, `close(${fd}) = 0`]);
      }
      case 'setsockopt': {
        const fd = this.fd(call);
        const on = call.args.on ? 1 : 0;
        const opt = { reuseAddr: 'SOL_SOCKET, SO_REUSEADDR', reusePort: 'SOL_SOCKET, SO_REUSEPORT', noDelay: 'IPPROTO_TCP, TCP_NODELAY' }[call.args.opt as string];
        if (!opt) throw new Error(`peer setsockopt ${String(call.args.opt)}: no packetdrill spelling`);
        return at([`setsockopt(${fd}, ${opt}, [${on}], 4) = 0`]);
      }
      case 'info':
        // getsockopt(TCP_INFO) would pin every tcp_info field; the lab reads only state and retransmits.
        return at([]);
      case 'connect':
        throw new Error('connect: the subject opens a connection itself (active open); the exporter writes passive-open scripts only');
      default:
        throw new Error(`peer op ${call.op}: no packetdrill spelling`);
    }
  }
}

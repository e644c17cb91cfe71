// The peer's request handler: owns its sockets by id and turns each request into sock calls.
// Separate from main.ts so it can be driven in-process by tests.
import { sock, type SockApi, type SockErr } from './sock.js';
import type { PeerResponse, ShutdownHow } from './protocol.js';

class BadRequest extends Error {}

function field(req: Record<string, unknown>, name: string): unknown {
  return req[name];
}
function str(req: Record<string, unknown>, name: string): string {
  const v = field(req, name);
  if (typeof v !== 'string') throw new BadRequest(`${name}: expected a string`);
  return v;
}
function int(req: Record<string, unknown>, name: string, lo: number, hi: number, dflt?: number): number {
  const v = field(req, name);
  if (v === undefined && dflt !== undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new BadRequest(`${name}: expected an integer in [${lo}, ${hi}]`);
  }
  return v;
}
function optBool(req: Record<string, unknown>, name: string): boolean | undefined {
  const v = field(req, name);
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new BadRequest(`${name}: expected a boolean`);
  return v;
}
function familyOf(addr: string): 4 | 6 {
  return addr.includes(':') ? 6 : 4;
}

export class PeerServer {
  private readonly s: SockApi = sock();
  private readonly socks = new Map<number, number>(); // id -> fd
  private nextId = 1;

  /** Handles one parsed request; never throws. */
  handle(raw: unknown): PeerResponse {
    const req = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
    const id = typeof req.id === 'number' ? req.id : -1;
    try {
      if (id < 0) throw new BadRequest('id: expected a number');
      const result = this.dispatch(str(req, 'op'), req);
      if ('ok' in result && result.ok === false) return { id, ...(result as SockErr) };
      return { ...result, id, ok: true };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      return { id, ok: false, code: 'EBADREQUEST', message };
    }
  }

  /** Closes every socket this peer owns (on stdin EOF or exit). */
  closeAll(): void {
    for (const fd of this.socks.values()) this.s.close(fd);
    this.socks.clear();
  }

  private fd(req: Record<string, unknown>): number {
    const id = int(req, 'sock', 1, 2 ** 31);
    const fd = this.socks.get(id);
    if (fd === undefined) throw new BadRequest(`sock: no open socket with id ${id}`);
    return fd;
  }
  private adopt(fd: number): number {
    const id = this.nextId++;
    this.socks.set(id, fd);
    return id;
  }
  private drop(req: Record<string, unknown>): number {
    const fd = this.fd(req);
    this.socks.delete(req.sock as number);
    return fd;
  }

  private dispatch(op: string, req: Record<string, unknown>): Record<string, unknown> | SockErr {
    const s = this.s;
    switch (op) {
      case 'ping':
        return { pid: process.pid, sockets: this.socks.size };
      case 'listen': {
        const addr = str(req, 'addr');
        const port = int(req, 'port', 0, 65535);
        const backlog = int(req, 'backlog', 0, 65535, 128);
        const fd = this.open(addr, req);
        if (typeof fd !== 'number') return fd;
        const r = chain(fd, s, [() => s.bind(fd, addr, port), () => s.listen(fd, backlog)]);
        if (r) return r;
        const name = s.getsockname(fd);
        return { sock: this.adopt(fd), ...(name.ok ? { addr: name.addr, port: name.port } : {}) };
      }
      case 'accept': {
        const r = s.accept(this.fd(req), int(req, 'timeoutMs', 0, 600_000));
        if (!r.ok) return r;
        return { sock: this.adopt(r.fd), peer: r.peer };
      }
      case 'connect': {
        const addr = str(req, 'addr');
        const port = int(req, 'port', 1, 65535);
        const timeoutMs = int(req, 'timeoutMs', 0, 600_000);
        const localPort = req.localPort === undefined ? undefined : int(req, 'localPort', 0, 65535);
        const localAddr = req.localAddr === undefined ? undefined : str(req, 'localAddr');
        const fd = this.open(addr, req);
        if (typeof fd !== 'number') return fd;
        const steps = [];
        if (localPort !== undefined || localAddr !== undefined) {
          const la = localAddr ?? (familyOf(addr) === 4 ? '0.0.0.0' : '::');
          steps.push(() => s.bind(fd, la, localPort ?? 0));
        }
        steps.push(() => s.connect(fd, addr, port, timeoutMs));
        const r = chain(fd, s, steps);
        if (r) return r;
        const name = s.getsockname(fd);
        return { sock: this.adopt(fd), localAddr: name.ok ? name.addr : '', localPort: name.ok ? name.port : 0 };
      }
      case 'send': {
        const data = Buffer.from(str(req, 'data'), 'utf8');
        return s.send(this.fd(req), data, int(req, 'timeoutMs', 0, 600_000, 5000));
      }
      case 'recv': {
        const r = s.recv(this.fd(req), int(req, 'max', 1, 16 << 20, 65536), int(req, 'timeoutMs', 0, 600_000));
        if (!r.ok) return r;
        return { data: r.data.toString('utf8'), bytes: r.data.length, eof: r.eof, timedOut: r.timedOut };
      }
      case 'shutdown': {
        const how = str(req, 'how');
        if (how !== 'rd' && how !== 'wr' && how !== 'rdwr') throw new BadRequest("how: expected 'rd', 'wr' or 'rdwr'");
        return s.shutdown(this.fd(req), how as ShutdownHow);
      }
      case 'close':
        return s.close(this.drop(req));
      case 'closeLinger': {
        const secs = int(req, 'secs', 0, 3600);
        const fd = this.fd(req);
        const r = s.setLinger(fd, true, secs);
        if (!r.ok) return r;
        this.drop(req);
        return s.close(fd);
      }
      case 'setsockopt': {
        const fd = this.fd(req);
        const opt = str(req, 'opt');
        const on = optBool(req, 'on');
        if (on === undefined) throw new BadRequest('on: expected a boolean');
        if (opt === 'reuseAddr') return s.setReuseAddr(fd, on);
        if (opt === 'reusePort') return s.setReusePort(fd, on);
        if (opt === 'noDelay') return s.setNoDelay(fd, on);
        throw new BadRequest("opt: expected 'reuseAddr', 'reusePort' or 'noDelay'");
      }
      case 'info': {
        const fd = this.fd(req);
        const ti = s.tcpInfo(fd);
        if (!ti.ok) return ti;
        const local = s.getsockname(fd);
        const remote = s.getpeername(fd);
        return {
          state: ti.state,
          retransmits: ti.retransmits,
          totalRetrans: ti.totalRetrans,
          local: local.ok ? { addr: local.addr, port: local.port } : { addr: '', port: 0 },
          ...(remote.ok ? { remote: { addr: remote.addr, port: remote.port } } : {}),
        };
      }
      default:
        throw new BadRequest(`op: unknown operation '${op}'`);
    }
  }

  private open(addr: string, req: Record<string, unknown>): number | SockErr {
    const r = this.s.socket(familyOf(addr));
    if (!r.ok) return r;
    const steps = [];
    const ra = optBool(req, 'reuseAddr');
    const rp = optBool(req, 'reusePort');
    if (ra !== undefined) steps.push(() => this.s.setReuseAddr(r.fd, ra));
    if (rp !== undefined) steps.push(() => this.s.setReusePort(r.fd, rp));
    return chain(r.fd, this.s, steps) ?? r.fd;
  }
}

/** Runs steps in order; on the first failure closes fd and returns the failure. */
function chain(fd: number, s: SockApi, steps: Array<() => { ok: boolean }>): SockErr | undefined {
  for (const step of steps) {
    const r = step();
    if (!r.ok) {
      s.close(fd);
      return r as SockErr;
    }
  }
  return undefined;
}

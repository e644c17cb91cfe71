// Typed face of native/sock.cc: synchronous kernel TCP sockets whose system errors are values.
import { native } from '../wire/native.js';

export interface SockErr {
  ok: false;
  /** errno name, e.g. 'EADDRINUSE' */
  code: string;
  errno: number;
  syscall: string;
  message: string;
  /** Our own poll() timeout expired (not a kernel timeout). */
  timedOut?: boolean;
}
export type SockResult<T = object> = ({ ok: true } & T) | SockErr;
export interface SockAddr { addr: string; port: number }
export interface TcpInfo {
  state: string;
  retransmits: number;
  rtoUs: number;
  rttUs: number;
  unacked: number;
  totalRetrans: number;
}

export interface SockApi {
  socket(family: 4 | 6): SockResult<{ fd: number }>;
  setReuseAddr(fd: number, on: boolean): SockResult;
  setReusePort(fd: number, on: boolean): SockResult;
  setNoDelay(fd: number, on: boolean): SockResult;
  setLinger(fd: number, on: boolean, secs: number): SockResult;
  bind(fd: number, addr: string, port: number): SockResult;
  listen(fd: number, backlog: number): SockResult;
  connect(fd: number, addr: string, port: number, timeoutMs: number): SockResult;
  accept(fd: number, timeoutMs: number): SockResult<{ fd: number; peer: SockAddr }>;
  send(fd: number, data: Buffer, timeoutMs: number): SockResult<{ bytes: number }>;
  recv(fd: number, max: number, timeoutMs: number): SockResult<{ data: Buffer; eof: boolean; timedOut: boolean }>;
  shutdown(fd: number, how: 'rd' | 'wr' | 'rdwr'): SockResult;
  close(fd: number): SockResult;
  getsockname(fd: number): SockResult<SockAddr>;
  getpeername(fd: number): SockResult<SockAddr>;
  tcpInfo(fd: number): SockResult<TcpInfo>;
}

export function sock(): SockApi {
  const s = native().sock as SockApi | undefined;
  if (!s) throw new Error('tcplab: the native addon has no sock module (rebuild with `npm run build:native`)');
  return s;
}

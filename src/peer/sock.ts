// Typed face of native/sock.cc: synchronous kernel TCP sockets whose system errors are values.
import { native } from '../wire/native.js';
import type { SockApi } from '../wire/addon.js';

// The types are the addon's declared interface (src/wire/addon.ts); re-exported for the peer's users.
export type { SockAddr, SockApi, SockErr, SockResult, TcpInfo } from '../wire/addon.js';

export function sock(): SockApi {
  // native() has checked that the addon exports sock (src/wire/addon.ts ADDON_EXPORTS).
  return native().sock;
}

// Capture: an AF_PACKET socket on one interface with a classic BPF filter, kernel timestamps (ns),
// direction and checksum-offload flags, read in batches (recvmmsg) from the libuv loop via uv_poll.
#pragma once
#include <napi.h>

namespace tcplab {
// new Capture({ifname, netns?, filter?: {code,jt,jf,k}[], onPackets(data: Buffer, meta: Uint32Array, ts: BigUint64Array) per batch, batch?, maxPerWake?, rcvbuf?})
// Registered by InitCapture (modules.h).
}  // namespace tcplab

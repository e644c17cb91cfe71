// Capture: an AF_PACKET socket on one interface with a classic BPF filter, kernel timestamps (ns),
// direction and checksum-offload flags, read in batches (recvmmsg) from the libuv loop via uv_poll.
#pragma once
#include <napi.h>

namespace tcplab {
// new Capture({ifname, netns?, filter?: {code,jt,jf,k}[], onPackets(batch), batch?, maxPerWake?, rcvbuf?})
// Registered by InitCapture (modules.h).
}  // namespace tcplab

// Senders: RawSender (raw IPv4/IPv6 sockets with header included) and PacketSender (AF_PACKET, L2 frames).
#pragma once
#include <napi.h>
#include <sys/socket.h>
#include <cstddef>
#include <cstdint>

namespace tcplab {
// Bytes of a Buffer/Uint8Array argument (TypeError naming `field` otherwise).
struct Bytes {
  const uint8_t* data;
  size_t len;
};
Bytes BytesArg(Napi::Env env, const Napi::Value& v, const std::string& field);
// sendmmsg until all `n` messages are out (retrying EINTR); throws SysError saying how many went out.
void SendAll(Napi::Env env, int fd, struct mmsghdr* msgs, size_t n, const char* what);
// Closes an AF_PACKET socket on a short-lived thread: packet_release() waits for an RCU grace period
// (synchronize_net, ~10-15 ms here), which must not stall the event loop.
void ClosePacketSocket(int fd);
// Error thrown when a closed sender or capture is used: .code 'ERR_CLOSED'.
Napi::Error ClosedError(Napi::Env env, const std::string& what);
}  // namespace tcplab

// RawSender: raw IP sockets with the IP header included (destination taken from the header), single,
// batched (sendmmsg) and template sends. PacketSender: AF_PACKET SOCK_RAW for whole L2 frames.
#include "sender.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "checksum.h"
#include "errors.h"
#include "modules.h"
#include "netns.h"
#include "wire_view.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif

namespace tcplab {

namespace {
// One napi call for type, length and data (the node-addon-api wrappers make three or four): this runs
// per packet in sendBatch.
bool TryBytes(napi_env env, napi_value v, Bytes* out) {
  // napi_get_typedarray_info fails with napi_invalid_arg (no exception) on anything else.
  napi_typedarray_type type;
  size_t len = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &len, &data, nullptr, nullptr) != napi_ok || type != napi_uint8_array) return false;
  *out = Bytes{static_cast<const uint8_t*>(data), len};  // data already points at byteOffset
  return true;
}
}  // namespace

Bytes BytesArg(Napi::Env env, const Napi::Value& v, const std::string& field) {
  Bytes b{nullptr, 0};
  if (!TryBytes(env, v, &b)) ThrowType(env, field, "must be a Buffer or Uint8Array");
  return b;
}

void SendAll(Napi::Env env, int fd, struct mmsghdr* msgs, size_t n, const char* what) {
  size_t sent = 0;
  while (sent < n) {
    unsigned int chunk = unsigned(std::min<size_t>(n - sent, 1024));
    int r = ::sendmmsg(fd, msgs + sent, chunk, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw SysError(env, "sendmmsg", errno, std::string(what) + ": sent " + std::to_string(sent) + " of " + std::to_string(n));
    }
    sent += size_t(r);
  }
}

void ClosePacketSocket(int fd) {
  if (fd < 0) return;
  try {
    std::thread([fd] { ::close(fd); }).detach();
  } catch (...) {
    ::close(fd);  // no thread available: pay the wait here rather than leak the fd
  }
}

Napi::Error ClosedError(Napi::Env env, const std::string& what) {
  Napi::Error e = Napi::Error::New(env, what + " is closed");
  e.Set("code", Napi::String::New(env, "ERR_CLOSED"));
  return e;
}

namespace {

// "datagrams[7]", built only when an error names it (building it per packet cost ~5% of sendBatch).
struct Field {
  const char* base;
  int64_t index = -1;
  std::string str() const { return index < 0 ? std::string(base) : std::string(base) + "[" + std::to_string(index) + "]"; }
};

void SetBufsize(int fd, int opt_force, int opt, int bytes) {
  // FORCE works for root (ignores rmem_max/wmem_max); fall back to the capped option otherwise.
  if (::setsockopt(fd, SOL_SOCKET, opt_force, &bytes, sizeof bytes) != 0)
    ::setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

// Crafted traffic goes only to the lab ranges unless the sender was opened with allowAnyDestination:
// 198.18.0.0/15, 127.0.0.0/8, 2001:2::/48, fd00::/8, ::1.
bool LabDestination4(const uint8_t* a) { return (a[0] == 198 && (a[1] & 0xfe) == 18) || a[0] == 127; }
bool LabDestination6(const uint8_t* a) {
  static const uint8_t loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 2 && a[4] == 0 && a[5] == 0) || a[0] == 0xfd ||
         std::memcmp(a, loop, 16) == 0;
}
[[noreturn]] void RefuseDestination(Napi::Env env, const uint8_t* a, int family, const Field& field) {
  char buf[INET6_ADDRSTRLEN] = "?";
  inet_ntop(family, a, buf, sizeof buf);
  ThrowRange(env, "dst", std::string(buf) + " (" + field.str() + ") is outside the lab ranges (198.18.0.0/15, 2001:2::/48, " +
                             "fd00::/8, loopback); open the sender with allowAnyDestination: true to send elsewhere");
}

// Destination of an IP datagram, taken from its header. RangeError naming `field` if it is not one, or
// naming `dst` if it is outside the lab ranges and `anyDst` is false.
socklen_t DestOf(Napi::Env env, const uint8_t* p, size_t len, sockaddr_storage* ss, int scope, const Field& field,
                 bool anyDst) {
  int v = len > 0 ? p[0] >> 4 : 0;
  if (v == 4 && len >= 20 && !anyDst && !LabDestination4(p + 16)) RefuseDestination(env, p + 16, AF_INET, field);
  if (v == 6 && len >= 40 && !anyDst && !LabDestination6(p + 24)) RefuseDestination(env, p + 24, AF_INET6, field);
  if (v == 4 && len >= 20) {
    auto* sin = reinterpret_cast<sockaddr_in*>(ss);
    std::memset(sin, 0, sizeof *sin);  // only what is used: this runs per packet in sendBatch
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_addr, p + 16, 4);
    return sizeof *sin;
  }
  if (v == 6 && len >= 40) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(ss);
    std::memset(sin6, 0, sizeof *sin6);
    sin6->sin6_family = AF_INET6;
    std::memcpy(&sin6->sin6_addr, p + 24, 16);
    sin6->sin6_scope_id = uint32_t(scope);
    return sizeof *sin6;
  }
  ThrowRange(env, field.str(), "is not an IPv4 or IPv6 datagram (" + std::to_string(len) +
                             " bytes, version " + std::to_string(v) + "): RawSender sends IP datagrams as encode() returns them");
}

bool AllowAnyArg(Napi::Env env, Napi::Object o) {
  Napi::Value v = o.Get("allowAnyDestination");
  if (v.IsUndefined()) return false;
  if (!v.IsBoolean()) ThrowType(env, "allowAnyDestination", "must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

uint32_t U32Opt(Napi::Env env, Napi::Object o, const char* key, uint32_t dflt, bool* given = nullptr) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsNumber()) ThrowType(env, key, "must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != double(uint64_t(d))) ThrowRange(env, key, "must be an integer 0..2^32-1");
  if (given) *given = true;
  return uint32_t(d);
}

using wire::Rd16;
using wire::Rd32;
using wire::Wr16;
using wire::Wr32;

// sendPacked(bytes, lengths): the batch as one buffer of back-to-back packets plus their lengths. netns.ts
// packs arrays of Buffers this way: reading each element through N-API (napi_get_element + typed array
// info) cost ~300 ns per packet, packing in JS ~100.
struct Packed {
  Bytes all;
  const uint32_t* lens;
  size_t n;
};
Packed PackedArgs(Napi::Env env, const Napi::CallbackInfo& info) {
  Packed p{BytesArg(env, info[0], "bytes"), nullptr, 0};
  napi_typedarray_type type;
  size_t n = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, info[1], &type, &n, &data, nullptr, nullptr) != napi_ok || type != napi_uint32_array)
    ThrowType(env, "lengths", "must be a Uint32Array");
  p.lens = static_cast<const uint32_t*>(data);
  p.n = n;
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) total += p.lens[i];
  if (total != p.all.len) ThrowRange(env, "lengths", "must add up to the byte length of bytes");
  return p;
}

// The packets of a sendPacked call as views into its one buffer.
std::vector<Bytes> PackedBufs(Napi::Env env, const Napi::CallbackInfo& info) {
  Packed p = PackedArgs(env, info);
  std::vector<Bytes> bufs(p.n);
  size_t off = 0;
  for (size_t i = 0; i < p.n; i++) {
    bufs[i] = Bytes{p.all.data + off, p.lens[i]};
    off += p.lens[i];
  }
  return bufs;
}

// The elements of a sendBatch array, each a Buffer or Uint8Array; `field` names the array in errors.
std::vector<Bytes> ArrayBufs(Napi::Env env, const Napi::Value& v, const char* field) {
  if (!v.IsArray()) ThrowType(env, field, "must be an array of Buffers");
  Napi::Array arr = v.As<Napi::Array>();
  uint32_t n = arr.Length();
  std::vector<Bytes> bufs(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value el;
    if (napi_get_element(env, arr, i, &el) != napi_ok) throw Napi::Error::New(env);
    if (!TryBytes(env, el, &bufs[i])) ThrowType(env, Field{field, i}.str(), "must be a Buffer or Uint8Array");
  }
  return bufs;
}

// ---------------------------------------------------------------------------------------------------

// What both senders share: send (one sendto, retried on EINTR), and sendBatch / sendPacked, which differ
// only in where the packets come from. Self provides CheckOpen, Addr (the destination of one packet),
// Fd and SendBufs.
template <typename Self>
class SenderMethods : public Napi::ObjectWrap<Self> {
 public:
  using Napi::ObjectWrap<Self>::ObjectWrap;

 protected:
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Self* self = static_cast<Self*>(this);
    self->CheckOpen(env);
    Bytes b = BytesArg(env, info[0], Self::kOne);
    typename Self::Addr a;
    socklen_t sl = self->AddrOf(env, b, Field{Self::kOne}, &a);
    for (;;) {
      ssize_t r = ::sendto(self->FdFor(b.data), b.data, b.len, 0, reinterpret_cast<sockaddr*>(&a), sl);
      if (r >= 0) break;
      if (errno == EINTR) continue;
      throw SysError(env, "sendto", errno, std::string(Self::kName) + ".send");
    }
    return env.Undefined();
  }

  // sendBatch(packets[]): returns the number sent.
  Napi::Value SendBatch(const Napi::CallbackInfo& info) {
    static_cast<Self*>(this)->CheckOpen(info.Env());
    return static_cast<Self*>(this)->SendBufs(info.Env(), ArrayBufs(info.Env(), info[0], Self::kMany));
  }

  // sendPacked(bytes, lengths): the same as sendBatch for packets packed back to back (see Packed).
  Napi::Value SendPacked(const Napi::CallbackInfo& info) {
    static_cast<Self*>(this)->CheckOpen(info.Env());
    return static_cast<Self*>(this)->SendBufs(info.Env(), PackedBufs(info.Env(), info));
  }
};

class RawSender : public SenderMethods<RawSender> {
  friend class SenderMethods<RawSender>;
  using Addr = sockaddr_storage;
  static constexpr const char *kName = "RawSender", *kOne = "datagram", *kMany = "datagrams";

 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "RawSender",
                       {InstanceMethod("send", &RawSender::Send), InstanceMethod("sendBatch", &RawSender::SendBatch),
                        InstanceMethod("sendPacked", &RawSender::SendPacked),
                        InstanceMethod("sendTemplate", &RawSender::SendTemplate),
                        InstanceMethod("close", &RawSender::Close),
                        InstanceAccessor("closed", &RawSender::Closed, nullptr)});
  }

  // new RawSender({netns?, device?, allowAnyDestination?})
  explicit RawSender(const Napi::CallbackInfo& info) : SenderMethods<RawSender>(info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
    if (!info[0].IsUndefined() && !info[0].IsObject()) ThrowType(env, "options", "must be an object {netns?, device?}");
    anyDst_ = AllowAnyArg(env, o);
    std::string netns = NetnsArg(env, o.Get("netns"), "netns");
    std::string device;
    if (!o.Get("device").IsUndefined()) device = IfnameArg(env, o.Get("device"), "device");
    NetnsGuard guard(env, netns);
    if (!device.empty()) scope_ = LookupInterface(env, device).ifindex;
    fd4_ = Open(env, AF_INET, IPPROTO_IP, IP_HDRINCL, device);
    try {
      fd6_ = Open(env, AF_INET6, IPPROTO_IPV6, IPV6_HDRINCL, device);
    } catch (...) {
      ::close(fd4_);
      fd4_ = -1;
      throw;
    }
  }
  ~RawSender() override { DoClose(); }

 private:
  static int Open(Napi::Env env, int domain, int level, int hdrincl, const std::string& device) {
    int fd = ::socket(domain, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd < 0) throw SysError(env, "socket", errno, domain == AF_INET ? "raw IPv4 socket" : "raw IPv6 socket");
    int one = 1;
    if (::setsockopt(fd, level, hdrincl, &one, sizeof one) != 0) {
      int e = errno;
      ::close(fd);
      throw SysError(env, "setsockopt", e, "IP(V6)_HDRINCL");
    }
    if (!device.empty() && ::setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device.c_str(), socklen_t(device.size())) != 0) {
      int e = errno;
      ::close(fd);
      throw SysError(env, "setsockopt", e, "SO_BINDTODEVICE " + device);
    }
    SetBufsize(fd, SO_SNDBUFFORCE, SO_SNDBUF, 4 << 20);
    return fd;
  }

  void DoClose() {
    if (fd4_ >= 0) ::close(fd4_);
    if (fd6_ >= 0) ::close(fd6_);
    fd4_ = fd6_ = -1;
  }
  void CheckOpen(Napi::Env env) {
    if (fd4_ < 0) throw ClosedError(env, "RawSender");
  }
  int FdFor(const uint8_t* p) { return (p[0] >> 4) == 6 ? fd6_ : fd4_; }

  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd4_ < 0); }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    DoClose();
    return info.Env().Undefined();
  }

  // send(datagram): one IP datagram, destination from its header. sendBatch(datagrams[]): sendmmsg per run
  // of same-family datagrams. (SenderMethods)
  socklen_t AddrOf(Napi::Env env, const Bytes& b, const Field& field, sockaddr_storage* ss) {
    return DestOf(env, b.data, b.len, ss, scope_, field, anyDst_);
  }

  Napi::Value SendBufs(Napi::Env env, const std::vector<Bytes>& bufs) {
    size_t n = bufs.size();
    // Not zeroed: DestOf fills the part the kernel reads (zeroing 128 bytes per packet showed in profiles).
    std::unique_ptr<sockaddr_storage[]> addrs(new sockaddr_storage[n ? n : 1]);
    std::vector<iovec> iov(n);
    std::vector<mmsghdr> msgs(n);  // value-initialized: zeroed
    for (size_t i = 0; i < n; i++) {
      socklen_t sl = DestOf(env, bufs[i].data, bufs[i].len, &addrs[i], scope_, Field{"datagrams", int64_t(i)}, anyDst_);
      iov[i] = iovec{const_cast<uint8_t*>(bufs[i].data), bufs[i].len};
      msgs[i].msg_hdr.msg_name = &addrs[i];
      msgs[i].msg_hdr.msg_namelen = sl;
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    for (size_t i = 0; i < n;) {
      size_t j = i;
      int fd = FdFor(bufs[i].data);
      while (j < n && FdFor(bufs[j].data) == fd) j++;
      SendAll(env, fd, msgs.data() + i, j - i, "RawSender.sendBatch");
      i = j;
    }
    return Napi::Number::New(env, double(n));
  }

  // sendTemplate(datagram, count, {seqStart, seqStep, sportStart, sportStep, tsvalStart, tsvalStep}):
  // `count` copies of a TCP datagram, each stamped with seq/sport/TSval = start + i*step (mod 2^32, ports
  // mod 2^16), TCP checksum fixed incrementally. No JS objects per packet. Returns the number sent.
  Napi::Value SendTemplate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    Bytes t = BytesArg(env, info[0], "template");
    if (!info[1].IsNumber()) ThrowType(env, "count", "must be a number");
    double dc = info[1].As<Napi::Number>().DoubleValue();
    if (!(dc >= 0 && dc <= 4294967295.0) || dc != double(uint64_t(dc))) ThrowRange(env, "count", "must be an integer 0..2^32-1");
    uint32_t count = uint32_t(dc);
    Napi::Object o = info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);

    sockaddr_storage ss;
    socklen_t sl = DestOf(env, t.data, t.len, &ss, scope_, Field{"template"}, anyDst_);
    // The TCP header and its timestamp option, through the same view the decoders use.
    size_t tcp;
    if ((t.data[0] >> 4) == 4) {
      tcp = wire::ipv4::HeaderLen(t.data);
      if (tcp < wire::ipv4::kMinLen || t.data[wire::ipv4::kProto] != wire::kProtoTcp)
        ThrowRange(env, "template", "must be an IPv4 TCP datagram (protocol 6, IHL >= 5)");
    } else {
      tcp = wire::ipv6::kMinLen;
      if (t.data[wire::ipv6::kNext] != wire::kProtoTcp)
        ThrowRange(env, "template", "must be an IPv6 TCP datagram without extension headers (next header 6)");
    }
    if (t.len < tcp + wire::tcp::kMinLen) ThrowRange(env, "template", "is too short for a TCP header");
    const size_t doff = wire::tcp::HeaderLen(t.data + tcp);
    if (doff < wire::tcp::kMinLen || tcp + doff > t.len) ThrowRange(env, "template", "has a TCP data offset beyond the datagram");
    size_t tsval = 0;  // offset of TSval in the datagram; 0: no timestamp option
    wire::OptionIter it(t.data + tcp + wire::tcp::kOptions, doff - wire::tcp::kMinLen);
    wire::OptionIter::Option op;
    while (it.Next(&op) && op.kind != wire::opt::kEol) {
      if (op.kind == wire::opt::kTs && op.len == 10) {
        tsval = tcp + wire::tcp::kOptions + op.at + 2;
        break;
      }
    }
    bool tsGiven = false;
    uint32_t seq0 = U32Opt(env, o, "seqStart", Rd32(t.data + tcp + wire::tcp::kSeq));
    uint32_t seqStep = U32Opt(env, o, "seqStep", 0);
    uint32_t sport0 = U32Opt(env, o, "sportStart", Rd16(t.data + tcp + wire::tcp::kSport));
    uint32_t sportStep = U32Opt(env, o, "sportStep", 0);
    uint32_t ts0 = U32Opt(env, o, "tsvalStart", tsval ? Rd32(t.data + tsval) : 0, &tsGiven);
    uint32_t tsStep = U32Opt(env, o, "tsvalStep", 0, &tsGiven);
    if (sport0 > 0xffff) ThrowRange(env, "sportStart", "must be a port 0..65535");
    if (tsGiven && !tsval) ThrowRange(env, "tsvalStart", "the template has no timestamp option (kind 8) to stamp");
    // Incremental checksum update works on 16-bit words aligned to the TCP header; an odd TS offset
    // falls back to a full recomputation.
    bool fullSum = tsval && ((tsval - tcp) & 1);

    const size_t kBatch = 256;
    const size_t len = t.len;
    std::vector<uint8_t> buf(kBatch * len);
    std::vector<iovec> iov(kBatch);
    std::vector<mmsghdr> msgs(kBatch);
    for (size_t k = 0; k < kBatch; k++) {
      std::memcpy(buf.data() + k * len, t.data, len);
      iov[k] = iovec{buf.data() + k * len, len};
      std::memset(&msgs[k], 0, sizeof msgs[k]);
      msgs[k].msg_hdr.msg_name = &ss;
      msgs[k].msg_hdr.msg_namelen = sl;
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
    }
    const uint16_t check0 = Rd16(t.data + tcp + wire::tcp::kCheck);
    const uint32_t tplSeq = Rd32(t.data + tcp + wire::tcp::kSeq);
    const uint16_t tplSport = Rd16(t.data + tcp + wire::tcp::kSport);
    const uint32_t tplTs = tsval ? Rd32(t.data + tsval) : 0;
    int fd = FdFor(t.data);
    uint32_t done = 0;
    while (done < count) {
      size_t n = std::min<size_t>(kBatch, count - done);
      for (size_t k = 0; k < n; k++) {
        uint8_t* p = buf.data() + k * len;
        uint32_t i = done + uint32_t(k);
        uint32_t seq = seq0 + i * seqStep;
        uint16_t sport = uint16_t(sport0 + i * sportStep);
        uint32_t ts = ts0 + i * tsStep;
        Wr32(p + tcp + wire::tcp::kSeq, seq);
        Wr16(p + tcp + wire::tcp::kSport, sport);
        if (tsval) Wr32(p + tsval, ts);
        if (fullSum) {
          Wr16(p + tcp + wire::tcp::kCheck, wire::TcpChecksum(p, tcp, p + tcp, len - tcp));
        } else {
          uint16_t c = check0;
          c = ChecksumUpdate16(c, uint16_t(tplSeq >> 16), uint16_t(seq >> 16));
          c = ChecksumUpdate16(c, uint16_t(tplSeq), uint16_t(seq));
          c = ChecksumUpdate16(c, tplSport, sport);
          if (tsval) {
            c = ChecksumUpdate16(c, uint16_t(tplTs >> 16), uint16_t(ts >> 16));
            c = ChecksumUpdate16(c, uint16_t(tplTs), uint16_t(ts));
          }
          Wr16(p + tcp + wire::tcp::kCheck, c);
        }
      }
      SendAll(env, fd, msgs.data(), n, "RawSender.sendTemplate");
      done += uint32_t(n);
    }
    return Napi::Number::New(env, count);
  }

  int fd4_ = -1, fd6_ = -1;
  int scope_ = 0;
  bool anyDst_ = false;
};

// ---------------------------------------------------------------------------------------------------

class PacketSender : public SenderMethods<PacketSender> {
  friend class SenderMethods<PacketSender>;
  using Addr = sockaddr_ll;
  static constexpr const char *kName = "PacketSender", *kOne = "frame", *kMany = "frames";

 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PacketSender",
                       {InstanceMethod("send", &PacketSender::Send), InstanceMethod("sendBatch", &PacketSender::SendBatch),
                        InstanceMethod("sendPacked", &PacketSender::SendPacked),
                        InstanceMethod("close", &PacketSender::Close),
                        InstanceAccessor("closed", &PacketSender::Closed, nullptr),
                        InstanceAccessor("ifindex", &PacketSender::Ifindex, nullptr)});
  }

  // new PacketSender({ifname, netns?})
  explicit PacketSender(const Napi::CallbackInfo& info) : SenderMethods<PacketSender>(info) {
    Napi::Env env = info.Env();
    if (!info[0].IsObject()) ThrowType(env, "options", "must be an object {ifname, netns?}");
    Napi::Object o = info[0].As<Napi::Object>();
    std::string ifname = IfnameArg(env, o.Get("ifname"), "ifname");
    std::string netns = NetnsArg(env, o.Get("netns"), "netns");
    anyDst_ = AllowAnyArg(env, o);
    NetnsGuard guard(env, netns);
    ifindex_ = LookupInterface(env, ifname).ifindex;
    // Protocol 0: this socket never receives, so nothing queues up on it.
    fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw SysError(env, "socket", errno, "AF_PACKET sender on " + ifname);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = ifindex_;
    sll.sll_protocol = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0) {
      int e = errno;
      ::close(fd_);
      fd_ = -1;
      throw SysError(env, "bind", e, "AF_PACKET sender on " + ifname);
    }
    SetBufsize(fd_, SO_SNDBUFFORCE, SO_SNDBUF, 4 << 20);
  }
  ~PacketSender() override { DoClose(); }

 private:
  void DoClose() {
    ClosePacketSocket(fd_);
    fd_ = -1;
  }
  void CheckOpen(Napi::Env env) {
    if (fd_ < 0) throw ClosedError(env, "PacketSender");
  }
  sockaddr_ll AddrFor(Napi::Env env, const Bytes& b, const Field& field) {
    if (b.len < 14) ThrowRange(env, field.str(), "is shorter than an Ethernet header (14 bytes)");
    if (!anyDst_) {
      uint16_t et = uint16_t((b.data[12] << 8) | b.data[13]);
      sockaddr_storage ss;
      if (et == 0x0800 || et == 0x86dd) DestOf(env, b.data + 14, b.len - 14, &ss, 0, field, false);
      else ThrowRange(env, field.str(), "is not an IPv4/IPv6 frame; open the PacketSender with allowAnyDestination: true to send other frames");
    }
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = ifindex_;
    std::memcpy(&sll.sll_protocol, b.data + 12, 2);  // already network order
    return sll;
  }
  Napi::Value Closed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), fd_ < 0); }
  Napi::Value Ifindex(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), ifindex_); }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    DoClose();
    return info.Env().Undefined();
  }

  socklen_t AddrOf(Napi::Env env, const Bytes& b, const Field& field, sockaddr_ll* sll) {
    *sll = AddrFor(env, b, field);
    return sizeof *sll;
  }
  int FdFor(const uint8_t*) const { return fd_; }

  Napi::Value SendBufs(Napi::Env env, const std::vector<Bytes>& bufs) {
    size_t n = bufs.size();
    std::vector<sockaddr_ll> addrs(n);
    std::vector<iovec> iov(n);
    std::vector<mmsghdr> msgs(n);  // value-initialized: zeroed
    for (size_t i = 0; i < n; i++) {
      addrs[i] = AddrFor(env, bufs[i], Field{"frames", int64_t(i)});
      iov[i] = iovec{const_cast<uint8_t*>(bufs[i].data), bufs[i].len};
      msgs[i].msg_hdr.msg_name = &addrs[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_ll);
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    SendAll(env, fd_, msgs.data(), n, "PacketSender.sendBatch");
    return Napi::Number::New(env, double(n));
  }

  int fd_ = -1;
  int ifindex_ = 0;
  bool anyDst_ = false;
};

}  // namespace

void InitSender(Napi::Env env, Napi::Object exports) {
  exports.Set("RawSender", RawSender::Define(env));
  exports.Set("PacketSender", PacketSender::Define(env));
}

}  // namespace tcplab

// The one view of IPv4/IPv6/TCP bytes (smoltcp's wire/ shape): field offsets and accessors over a byte
// span, the TCP option iterator, the link-layer and IP walks that find the TCP header, and the checksum
// checks. Header-only, no N-API, no allocation: segment_repr.cc (decode/encode), batch.cc (inspect's batch
// decoder) and sender.cc (template stamping) all read and write packets through it. Nothing here reads
// outside the [p, p + n) it is given; callers check lengths through the Locate* functions first.
#pragma once
#include <cstddef>
#include <cstdint>

#include "checksum.h"

namespace tcplab {
namespace wire {

inline uint16_t Rd16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t Rd32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
inline void Wr16(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
inline void Wr32(uint8_t* p, uint32_t v) {
  p[0] = uint8_t(v >> 24);
  p[1] = uint8_t(v >> 16);
  p[2] = uint8_t(v >> 8);
  p[3] = uint8_t(v);
}

constexpr uint8_t kProtoTcp = 6;
constexpr uint16_t kEtherIpv4 = 0x0800, kEtherIpv6 = 0x86dd, kEtherVlan = 0x8100, kEtherQinQ = 0x88a8;

// RFC 791 header: offsets and accessors (p points at the version byte; at least kMinLen bytes).
namespace ipv4 {
enum : size_t { kVerIhl = 0, kTos = 1, kLen = 2, kId = 4, kFrag = 6, kTtl = 8, kProto = 9, kCheck = 10, kSrc = 12, kDst = 16 };
constexpr size_t kMinLen = 20;
constexpr uint16_t kDf = 0x4000, kMf = 0x2000, kOffMask = 0x1fff;
inline size_t HeaderLen(const uint8_t* p) { return size_t(p[kVerIhl] & 0x0f) * 4; }
inline size_t TotalLen(const uint8_t* p) { return Rd16(p + kLen); }
inline bool HeaderChecksumOk(const uint8_t* p, size_t hdrLen) { return ChecksumFinish(ChecksumAdd(p, hdrLen)) == 0; }
}  // namespace ipv4

// RFC 8200 fixed header.
namespace ipv6 {
enum : size_t { kVerClassFlow = 0, kPayloadLen = 4, kNext = 6, kHopLimit = 7, kSrc = 8, kDst = 24 };
constexpr size_t kMinLen = 40;
constexpr uint8_t kHopByHop = 0, kRouting = 43, kFragment = 44, kDestOpts = 60;
constexpr int kMaxExtHeaders = 8;
}  // namespace ipv6

// RFC 9293 header (p points at the source port; at least kMinLen bytes).
namespace tcp {
enum : size_t { kSport = 0, kDport = 2, kSeq = 4, kAck = 8, kOff = 12, kFlags = 13, kWindow = 14, kCheck = 16, kUrg = 18, kOptions = 20 };
constexpr size_t kMinLen = 20, kMaxOptions = 40;
inline size_t HeaderLen(const uint8_t* p) { return size_t(p[kOff] >> 4) * 4; }
inline uint8_t ReservedBits(const uint8_t* p) { return p[kOff] & 0x0f; }
}  // namespace tcp

// TCP option kinds and the lengths RFC 9293/7323/2018 give them.
namespace opt {
enum : uint8_t { kEol = 0, kNop = 1, kMss = 2, kWscale = 3, kSackOk = 4, kSack = 5, kTs = 8 };
// The length a known kind must have (0: unknown kind; sack is 2 + 8n, reported as 10).
inline size_t ExpectedLen(uint8_t kind) {
  switch (kind) {
    case kMss: return 4;
    case kWscale: return 3;
    case kSackOk: return 2;
    case kSack: return 10;
    case kTs: return 10;
    default: return 0;
  }
}
inline bool WellFormed(uint8_t kind, size_t len) {
  if (kind == kSack) return len >= 10 && (len - 2) % 8 == 0;
  size_t e = ExpectedLen(kind);
  return e == 0 || len == e;
}
}  // namespace opt

// Walks TCP options [p, p + n). Next() yields each option (EOL and NOP included) until the end, EOL or a
// malformed one; stop() then says which. at is the option's offset in [p, p + n), data/len its value.
class OptionIter {
 public:
  enum Stop { kRunning, kEnd, kEolSeen, kNoLength, kBadLength };
  struct Option {
    uint8_t kind;
    size_t at;           // offset of the kind byte
    size_t len;          // whole option length (1 for EOL/NOP)
    const uint8_t* data; // value bytes (len - 2 of them), nullptr for EOL/NOP
  };
  OptionIter(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool Next(Option* o) {
    if (stop_ != kRunning) return false;
    if (i_ >= n_) {
      stop_ = kEnd;
      return false;
    }
    const uint8_t kind = p_[i_];
    if (kind == opt::kEol || kind == opt::kNop) {
      *o = Option{kind, i_, 1, nullptr};
      i_++;
      if (kind == opt::kEol) stop_ = kEolSeen;
      return true;
    }
    if (i_ + 1 >= n_) {
      stop_ = kNoLength;
      return false;
    }
    const size_t len = p_[i_ + 1];
    if (len < 2 || i_ + len > n_) {
      stop_ = kBadLength;
      return false;
    }
    *o = Option{kind, i_, len, p_ + i_ + 2};
    i_ += len;
    return true;
  }
  Stop stop() const { return stop_; }
  size_t offset() const { return i_; }  // where the walk stopped (after an EOL: the byte after it)
  size_t left() const { return n_ - i_; }
  uint8_t kind_at() const { return p_[i_]; }  // valid when stop() is kNoLength/kBadLength
  size_t len_at() const { return p_[i_ + 1]; }  // valid when stop() is kBadLength

 private:
  const uint8_t* p_;
  size_t n_;
  size_t i_ = 0;
  Stop stop_ = kRunning;
};

// Link layers the decoders read.
enum class Link { kEthernet, kSll, kSll2, kLoop, kRaw };

// Why a walk stopped short of a TCP header. The decoders turn these into their own words (segment
// decode: a message naming the layer; the batch decoder: a status code).
enum class Fault {
  kNone,
  kLinkTruncated,   // a = bytes, b = bytes needed
  kVlanTruncated,
  kNotIp,           // a = ethertype
  kEmpty,           // raw link: no byte at all
  kNoIp,            // nothing behind the link header
  kBadVersion,      // a = version
  kVersionMismatch, // a = version (not the one the ethertype says)
  kHeaderTruncated, // a = bytes, b = needed (the IPv4 or IPv6 header)
  kV4HeaderLen,     // a = header length (< 20)
  kV4TotalLen,      // a = total length (< header length)
  kTruncated,       // a = bytes, b = datagram length
  kV4Fragment,      // a = fragment field
  kNotTcp,          // a = protocol / next header
  kV6PayloadZero,
  kV6Fragment,
  kV6ExtTruncated,
  kTcpShort,        // the TCP header does not fit the datagram (by its length field): a = TCP bytes, b = needed
  kTcpCut,          // it does, but was not captured: a = bytes captured, b = needed
  kTcpDataOffset,   // a = data offset words
};

struct LinkInfo {
  size_t ipOff = 0;       // where the IP header starts in the frame
  uint16_t ethertype = 0;
};

// Finds the IP header behind the link header. ethertype: from the link header, or from the IP version
// (raw, loopback: the DLT_NULL family word's byte order varies, so the version decides).
inline Fault LocateIp(const uint8_t* f, size_t n, Link link, LinkInfo* li, size_t* a, size_t* b) {
  switch (link) {
    case Link::kEthernet:
      if (n < 14) return *a = n, *b = 14, Fault::kLinkTruncated;
      li->ethertype = Rd16(f + 12);
      li->ipOff = 14;
      // 802.1Q / 802.1ad tags (up to two: QinQ)
      for (int tags = 0; (li->ethertype == kEtherVlan || li->ethertype == kEtherQinQ) && tags < 2; tags++) {
        if (n < li->ipOff + 4) return Fault::kVlanTruncated;
        li->ethertype = Rd16(f + li->ipOff + 2);
        li->ipOff += 4;
      }
      break;
    case Link::kSll:
      if (n < 16) return *a = n, *b = 16, Fault::kLinkTruncated;
      li->ethertype = Rd16(f + 14);
      li->ipOff = 16;
      break;
    case Link::kSll2:
      if (n < 20) return *a = n, *b = 20, Fault::kLinkTruncated;
      li->ethertype = Rd16(f);
      li->ipOff = 20;
      break;
    case Link::kLoop:
      if (n < 5) return *a = n, *b = 5, Fault::kLinkTruncated;
      li->ipOff = 4;
      li->ethertype = (f[4] >> 4) == 6 ? kEtherIpv6 : (f[4] >> 4) == 4 ? kEtherIpv4 : 0;
      break;
    case Link::kRaw:
      if (n < 1) return Fault::kEmpty;
      li->ethertype = (f[0] >> 4) == 6 ? kEtherIpv6 : kEtherIpv4;
      break;
  }
  if (li->ethertype != kEtherIpv4 && li->ethertype != kEtherIpv6) return *a = li->ethertype, Fault::kNotIp;
  if (n - li->ipOff < 1) return Fault::kNoIp;
  const int version = f[li->ipOff] >> 4;
  *a = size_t(version);
  if (version != 4 && version != 6) return Fault::kBadVersion;
  if ((li->ethertype == kEtherIpv4) != (version == 4)) return Fault::kVersionMismatch;
  return Fault::kNone;
}

// Where the TCP header of an IP datagram is.
struct IpInfo {
  int version = 0;
  size_t hdrLen = 0;  // IP header incl. IPv6 extension headers
  size_t ipLen = 0;   // the datagram's length by its length field (may exceed avail when snapped)
};

// Walks the IPv4/IPv6 header of ip[0..avail) (version already checked by LocateIp or the caller) up to
// the TCP header and checks that the TCP header itself lies inside. `snapped`: accept a datagram cut short
// after the TCP header (captures with a snaplen); otherwise the whole datagram must be there. The order of
// the checks is the order of the error messages users see; keep it.
inline Fault LocateTcp(const uint8_t* ip, size_t avail, bool snapped, IpInfo* out, size_t* a, size_t* b) {
  const int version = ip[0] >> 4;
  out->version = version;
  if (version == 4) {
    if (avail < ipv4::kMinLen) return *a = avail, *b = ipv4::kMinLen, Fault::kHeaderTruncated;
    out->hdrLen = ipv4::HeaderLen(ip);
    if (out->hdrLen < ipv4::kMinLen) return *a = out->hdrLen, Fault::kV4HeaderLen;
    if (avail < out->hdrLen) return *a = avail, *b = out->hdrLen, Fault::kHeaderTruncated;
    out->ipLen = ipv4::TotalLen(ip);
    if (out->ipLen < out->hdrLen) return *a = out->ipLen, Fault::kV4TotalLen;
    if (!snapped && out->ipLen > avail) return *a = avail, *b = out->ipLen, Fault::kTruncated;
    const uint16_t frag = Rd16(ip + ipv4::kFrag);
    if (frag & (ipv4::kMf | ipv4::kOffMask)) return *a = frag, Fault::kV4Fragment;
    if (ip[ipv4::kProto] != kProtoTcp) return *a = ip[ipv4::kProto], Fault::kNotTcp;
  } else {
    if (avail < ipv6::kMinLen) return *a = avail, *b = ipv6::kMinLen, Fault::kHeaderTruncated;
    const size_t plen = Rd16(ip + ipv6::kPayloadLen);
    if (plen == 0) return Fault::kV6PayloadZero;
    out->ipLen = ipv6::kMinLen + plen;
    if (!snapped && out->ipLen > avail) return *a = avail, *b = out->ipLen, Fault::kTruncated;
    const size_t have = out->ipLen < avail ? out->ipLen : avail;
    uint8_t next = ip[ipv6::kNext];
    out->hdrLen = ipv6::kMinLen;
    // Skip hop-by-hop, routing and destination options; a fragment header is not reassembled.
    for (int guard = 0; next != kProtoTcp; guard++) {
      if (next == ipv6::kFragment) return Fault::kV6Fragment;
      if ((next != ipv6::kHopByHop && next != ipv6::kRouting && next != ipv6::kDestOpts) || guard >= ipv6::kMaxExtHeaders)
        return *a = next, Fault::kNotTcp;
      if (out->hdrLen + 8 > have) return Fault::kV6ExtTruncated;
      const size_t ext = (size_t(ip[out->hdrLen + 1]) + 1) * 8;
      if (out->hdrLen + ext > out->ipLen) return Fault::kV6ExtTruncated;
      next = ip[out->hdrLen];
      out->hdrLen += ext;
    }
  }
  const size_t tcpLen = out->ipLen - out->hdrLen;
  const size_t have = avail - (out->hdrLen < avail ? out->hdrLen : avail);
  if (tcpLen < tcp::kMinLen) return *a = tcpLen, *b = tcp::kMinLen, Fault::kTcpShort;
  if (have < tcp::kMinLen) return *a = have, *b = tcp::kMinLen, Fault::kTcpCut;
  const size_t tcpHdr = tcp::HeaderLen(ip + out->hdrLen);
  if (tcpHdr < tcp::kMinLen) return *a = tcpHdr / 4, Fault::kTcpDataOffset;
  if (tcpHdr > tcpLen) return *a = tcpLen, *b = tcpHdr, Fault::kTcpShort;
  if (tcpHdr > have) return *a = have, *b = tcpHdr, Fault::kTcpCut;
  return Fault::kNone;
}

// The TCP checksum of t[0..tcpLen) under ip's pseudo-header verifies.
inline bool TcpChecksumOk(const uint8_t* ip, size_t ipHdr, const uint8_t* t, size_t tcpLen) {
  const uint32_t sum = PseudoHeaderSum(ip, ipHdr, kProtoTcp, uint32_t(tcpLen));
  return ChecksumFinish(ChecksumAdd(t, tcpLen, sum)) == 0;
}
// Writes the TCP checksum of t[0..tcpLen) (its checksum field zeroed first).
inline uint16_t TcpChecksum(const uint8_t* ip, size_t ipHdr, uint8_t* t, size_t tcpLen) {
  Wr16(t + tcp::kCheck, 0);
  const uint32_t sum = PseudoHeaderSum(ip, ipHdr, kProtoTcp, uint32_t(tcpLen));
  return ChecksumFinish(ChecksumAdd(t, tcpLen, sum));
}

}  // namespace wire
}  // namespace tcplab

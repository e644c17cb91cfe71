// Parse and Emit of SegmentRepr (see segment_repr.h). The error and warning texts are the decoder's
// contract (docs/errors.md, test/unit/segment.test.ts): change them there too.
#include "segment_repr.h"

#include <cstdio>
#include <cstring>

namespace tcplab {

using namespace wire;

size_t FormatFlags(uint8_t bits, char out[10]) {
  // tcpdump's order (print-tcp.c tcp_flag_values): F S R P . U E W
  static const struct { uint8_t bit; char c; } kOrder[] = {
      {0x01, 'F'}, {0x02, 'S'}, {0x04, 'R'}, {0x08, 'P'}, {0x10, '.'}, {0x20, 'U'}, {0x40, 'E'}, {0x80, 'W'}};
  size_t n = 0;
  for (const auto& f : kOrder)
    if (bits & f.bit) out[n++] = f.c;
  if (n == 0) {
    std::memcpy(out, "none", 5);
    return 4;
  }
  out[n] = 0;
  return n;
}

// A deliberately wrong checksum: off by one in one's-complement arithmetic. (XOR 0xffff is not safe:
// 0x0000 and 0xffff are the same one's-complement value, so ~0 would still verify.)
uint16_t SumChoice::Apply(uint16_t good) const {
  switch (mode) {
    case kBad: return uint16_t(good ^ 0x0001);
    case kValue: return value;
    default: return good;
  }
}

size_t TcpOptionRepr::WireLen() const {
  switch (type) {
    case kEol: case kNop: return 1;
    case kMss: return 4;
    case kWscale: return 3;
    case kSackOk: return 2;
    case kSack: return 2 + 8 * size_t(blocks);
    case kTs: return 10;
    case kRaw: return 2 + dataLen;
  }
  return 0;
}

size_t SegmentRepr::OptionsLen() const {
  size_t n = 0;
  for (size_t i = 0; i < optionCount; i++) n += options[i].WireLen();
  return n;
}

size_t SegmentRepr::MaxPayload() const {
  const size_t maxTcp = family == 4 ? 65535 - ipv4::kMinLen : 65535;
  const size_t hdr = TcpHeaderLen();
  return maxTcp > hdr ? maxTcp - hdr : 0;
}

void SegmentRepr::Emit(uint8_t* p) const {
  const bool v4 = family == 4;
  const size_t ipHdr = IpHeaderLen(), tcpHdr = TcpHeaderLen();
  const size_t tcpLen = tcpHdr + payloadLen, total = ipHdr + tcpLen;
  std::memset(p, 0, ipHdr + tcpHdr);
  if (v4) {
    p[ipv4::kVerIhl] = 0x45;
    p[ipv4::kTos] = tos;
    Wr16(p + ipv4::kLen, uint32_t(total));
    Wr16(p + ipv4::kId, id);
    Wr16(p + ipv4::kFrag, df ? ipv4::kDf : 0);
    p[ipv4::kTtl] = ttl;
    p[ipv4::kProto] = kProtoTcp;
    std::memcpy(p + ipv4::kSrc, src, 4);
    std::memcpy(p + ipv4::kDst, dst, 4);
    Wr16(p + ipv4::kCheck, ipSum.Apply(ChecksumFinish(ChecksumAdd(p, ipHdr))));
  } else {
    Wr32(p + ipv6::kVerClassFlow, (6u << 28) | (uint32_t(tos) << 20) | (flowLabel & 0xfffff));
    Wr16(p + ipv6::kPayloadLen, uint32_t(tcpLen));
    p[ipv6::kNext] = kProtoTcp;
    p[ipv6::kHopLimit] = ttl;
    std::memcpy(p + ipv6::kSrc, src, 16);
    std::memcpy(p + ipv6::kDst, dst, 16);
  }
  uint8_t* t = p + ipHdr;
  Wr16(t + tcp::kSport, sport);
  Wr16(t + tcp::kDport, dport);
  Wr32(t + tcp::kSeq, seq);
  Wr32(t + tcp::kAck, ack);
  t[tcp::kOff] = uint8_t((tcpHdr / 4) << 4);
  t[tcp::kFlags] = flags;
  Wr16(t + tcp::kWindow, window);
  Wr16(t + tcp::kUrg, urg);
  uint8_t* o = t + tcp::kOptions;
  for (size_t i = 0; i < optionCount; i++) {
    const TcpOptionRepr& op = options[i];
    switch (op.type) {
      case TcpOptionRepr::kEol: *o = opt::kEol; break;
      case TcpOptionRepr::kNop: *o = opt::kNop; break;
      case TcpOptionRepr::kMss: o[0] = opt::kMss, o[1] = 4, Wr16(o + 2, op.a); break;
      case TcpOptionRepr::kWscale: o[0] = opt::kWscale, o[1] = 3, o[2] = uint8_t(op.a); break;
      case TcpOptionRepr::kSackOk: o[0] = opt::kSackOk, o[1] = 2; break;
      case TcpOptionRepr::kSack:
        o[0] = opt::kSack, o[1] = uint8_t(op.WireLen());
        for (size_t j = 0; j < op.blocks; j++) Wr32(o + 2 + 8 * j, op.sack[j][0]), Wr32(o + 6 + 8 * j, op.sack[j][1]);
        break;
      case TcpOptionRepr::kTs: o[0] = opt::kTs, o[1] = 10, Wr32(o + 2, op.a), Wr32(o + 6, op.b); break;
      case TcpOptionRepr::kRaw:
        o[0] = uint8_t(op.a), o[1] = uint8_t(op.WireLen());
        if (op.dataLen) std::memcpy(o + 2, op.data, op.dataLen);
        break;
    }
    o += op.WireLen();
  }
  // Pad to a multiple of 4: EOL (zeros) after an explicit EOL, NOPs otherwise (as Linux does).
  const bool afterEol = optionCount > 0 && options[optionCount - 1].type == TcpOptionRepr::kEol;
  while (o < t + tcpHdr) *o++ = afterEol ? opt::kEol : opt::kNop;
  if (payloadLen) std::memcpy(t + tcpHdr, payload, payloadLen);
  Wr16(t + tcp::kCheck, tcpSum.Apply(TcpChecksum(p, ipHdr, t, tcpLen)));
}

namespace {

std::string Hex(unsigned v, const char* fmt) {
  char b[12];
  std::snprintf(b, sizeof b, fmt, v);
  return b;
}
std::string N(size_t v) { return std::to_string(v); }

// Options [p, p + n) -> out->options; frameOff is their offset in the frame (for raw data).
void ParseOptions(const uint8_t* p, size_t n, size_t frameOff, SegmentRepr* out, std::vector<std::string>* warn) {
  OptionIter it(p, n);
  OptionIter::Option o;
  size_t count = 0;
  while (it.Next(&o)) {
    TcpOptionRepr& r = out->options[count++];
    r = TcpOptionRepr{};
    if (o.kind == opt::kEol) {
      r.type = TcpOptionRepr::kEol;
      for (size_t j = it.offset(); j < n; j++) {
        if (p[j] != 0) {
          warn->push_back("option bytes after EOL are not zero (padding at offset " + N(j) + ")");
          break;
        }
      }
      break;
    }
    if (o.kind == opt::kNop) {
      r.type = TcpOptionRepr::kNop;
      continue;
    }
    const uint8_t* v = o.data;
    if (opt::ExpectedLen(o.kind) != 0 && opt::WellFormed(o.kind, o.len)) {
      switch (o.kind) {
        case opt::kMss: r.type = TcpOptionRepr::kMss, r.a = Rd16(v); break;
        case opt::kWscale: r.type = TcpOptionRepr::kWscale, r.a = v[0]; break;
        case opt::kSackOk: r.type = TcpOptionRepr::kSackOk; break;
        case opt::kSack:
          // The length byte allows up to 31 blocks; the 40 option bytes hold at most 4.
          r.type = TcpOptionRepr::kSack, r.blocks = uint8_t((o.len - 2) / 8);
          for (size_t j = 0; j < r.blocks; j++) r.sack[j][0] = Rd32(v + 8 * j), r.sack[j][1] = Rd32(v + 4 + 8 * j);
          break;
        case opt::kTs: r.type = TcpOptionRepr::kTs, r.a = Rd32(v), r.b = Rd32(v + 4); break;
      }
      continue;
    }
    const size_t expect = opt::ExpectedLen(o.kind);
    if (expect)
      warn->push_back("option kind " + N(o.kind) + " has length " + N(o.len) + " (expected " +
                      (o.kind == opt::kSack ? std::string("2+8n") : N(expect)) + "); kept as raw");
    else
      warn->push_back("unknown option kind " + N(o.kind) + " (kept as raw)");
    r.type = TcpOptionRepr::kRaw;
    r.a = o.kind;
    r.data = v;
    r.dataLen = o.len - 2;
    r.dataOff = frameOff + o.at + 2;
  }
  if (it.stop() == OptionIter::kNoLength)
    warn->push_back("option kind " + N(it.kind_at()) + " has no length byte; options parsing stopped");
  else if (it.stop() == OptionIter::kBadLength)
    warn->push_back("option kind " + N(it.kind_at()) + " has bad length " + N(it.len_at()) + " (" + N(it.left()) +
                    " bytes left); options parsing stopped");
  out->optionCount = count;
}

const char* LinkName(Link link) {
  switch (link) {
    case Link::kEthernet: return "ethernet";
    case Link::kSll: return "sll";
    default: return "none";
  }
}

}  // namespace

bool Parse(const uint8_t* f, size_t n, Link link, bool offloaded, SegmentRepr* out, ParseError* err,
           std::vector<std::string>* warn) {
  const char* layer = "none";
  auto fail = [&](std::string message, const char* at) {
    err->message = std::move(message);
    err->layer = at;
    return false;
  };
  LinkInfo li;
  size_t a = 0, b = 0;
  switch (LocateIp(f, n, link, &li, &a, &b)) {
    case Fault::kNone: break;
    case Fault::kLinkTruncated:
      return fail(link == Link::kEthernet ? "ethernet: frame truncated (" + N(a) + " of 14 bytes)"
                                          : std::string(LinkName(link)) + ": header truncated (" + N(a) + " of " + N(b) + " bytes)",
                  layer);
    case Fault::kVlanTruncated: return fail("ethernet: VLAN tag truncated", layer);
    case Fault::kEmpty: return fail("ip: empty packet", layer);
    case Fault::kNotIp: return fail(std::string(LinkName(link)) + ": not IP (ethertype " + Hex(unsigned(a), "0x%04x") + ")", LinkName(link));
    case Fault::kNoIp: return fail("ip: packet truncated (0 bytes)", LinkName(link));
    case Fault::kBadVersion: return fail("ip: version " + N(a) + " is neither 4 nor 6", LinkName(link));
    case Fault::kVersionMismatch: return fail("ip: version " + N(a) + " does not match the ethertype", LinkName(link));
    default: return fail("ip: cannot locate the IP header", LinkName(link));
  }
  layer = LinkName(link);
  const uint8_t* ip = f + li.ipOff;
  const size_t avail = n - li.ipOff;
  IpInfo in;
  const Fault fault = LocateTcp(ip, avail, false, &in, &a, &b);
  const char* ipLayer = in.version == 4 ? "ipv4" : "ipv6";
  const std::string v = ipLayer;
  switch (fault) {
    case Fault::kNone: break;
    case Fault::kHeaderTruncated: return fail(v + ": header truncated (" + N(a) + " of " + N(b) + " bytes)", layer);
    case Fault::kV4HeaderLen: return fail("ipv4: header length " + N(a) + " is below 20", layer);
    case Fault::kV4TotalLen: return fail("ipv4: total length " + N(a) + " is below the header length", layer);
    case Fault::kTruncated: return fail(v + ": packet truncated (" + N(a) + " of " + N(b) + " bytes)", layer);
    case Fault::kV4Fragment:
      return fail("ipv4: fragment (offset " + N((a & ipv4::kOffMask) * 8) + ((a & ipv4::kMf) ? ", more fragments" : "") +
                      "); not reassembled",
                  "ipv4");
    case Fault::kNotTcp:
      return fail(in.version == 4 ? "ipv4: not TCP (protocol " + N(a) + ")" : "ipv6: not TCP (next header " + N(a) + ")", ipLayer);
    case Fault::kV6PayloadZero: return fail("ipv6: payload length 0 (jumbogram or empty); not supported", "ipv6");
    case Fault::kV6Fragment: return fail("ipv6: fragment header; not reassembled", "ipv6");
    case Fault::kV6ExtTruncated: return fail("ipv6: extension header truncated", "ipv6");
    case Fault::kTcpShort:
    case Fault::kTcpCut: return fail("tcp: header truncated (" + N(a) + " of " + N(b) + " bytes)", ipLayer);
    case Fault::kTcpDataOffset: return fail("tcp: data offset " + N(a) + " is below 5", ipLayer);
    default: return fail(v + ": cannot locate the TCP header", ipLayer);
  }

  out->family = in.version;
  if (in.version == 4) {
    out->tos = ip[ipv4::kTos];
    out->id = Rd16(ip + ipv4::kId);
    out->df = (Rd16(ip + ipv4::kFrag) & ipv4::kDf) != 0;
    out->ttl = ip[ipv4::kTtl];
    out->flowLabel = 0;
    const bool ipOk = ipv4::HeaderChecksumOk(ip, in.hdrLen);
    out->ipStatus = ipOk ? SumStatus::kOk : SumStatus::kBad;
    if (!ipOk) warn->push_back("ipv4 header checksum bad (" + Hex(Rd16(ip + ipv4::kCheck), "0x%04x") + ")");
    if (in.hdrLen > ipv4::kMinLen) warn->push_back("ipv4 options (" + N(in.hdrLen - ipv4::kMinLen) + " bytes) skipped");
    std::memset(out->src, 0, 16);
    std::memset(out->dst, 0, 16);
    std::memcpy(out->src, ip + ipv4::kSrc, 4);
    std::memcpy(out->dst, ip + ipv4::kDst, 4);
  } else {
    const uint32_t w0 = Rd32(ip);
    out->tos = uint8_t((w0 >> 20) & 0xff);
    out->flowLabel = w0 & 0xfffff;
    out->ttl = ip[ipv6::kHopLimit];
    out->id = 0;
    out->df = false;
    out->ipStatus = SumStatus::kUnchecked;
    std::memcpy(out->src, ip + ipv6::kSrc, 16);
    std::memcpy(out->dst, ip + ipv6::kDst, 16);
  }

  const uint8_t* t = ip + in.hdrLen;
  const size_t tcpLen = in.ipLen - in.hdrLen;
  const size_t tcpHdr = tcp::HeaderLen(t);
  if (tcp::ReservedBits(t))
    warn->push_back("reserved TCP header bits set (" + Hex(tcp::ReservedBits(t), "0x%x") + "); not represented in the segment");
  out->tcpValue = Rd16(t + tcp::kCheck);
  if (offloaded) {
    out->tcpStatus = SumStatus::kOffloaded;
  } else {
    const bool ok = TcpChecksumOk(ip, in.hdrLen, t, tcpLen);
    out->tcpStatus = ok ? SumStatus::kOk : SumStatus::kBad;
    if (!ok) warn->push_back("tcp checksum bad (" + Hex(out->tcpValue, "0x%04x") + ")");
  }
  if (avail > in.ipLen && link == Link::kRaw) warn->push_back(N(avail - in.ipLen) + " bytes after the IP datagram ignored");

  const size_t tcpOff = li.ipOff + in.hdrLen;  // the TCP header's offset in the frame
  out->sport = Rd16(t + tcp::kSport);
  out->dport = Rd16(t + tcp::kDport);
  out->seq = Rd32(t + tcp::kSeq);
  out->ack = Rd32(t + tcp::kAck);
  out->flags = t[tcp::kFlags];
  out->window = Rd16(t + tcp::kWindow);
  out->urg = Rd16(t + tcp::kUrg);
  out->ipLength = in.ipLen;
  out->payloadOff = tcpOff + tcpHdr;
  out->payload = f + out->payloadOff;
  out->payloadLen = tcpLen - tcpHdr;
  ParseOptions(t + tcp::kOptions, tcpHdr - tcp::kMinLen, tcpOff + tcp::kOptions, out, warn);
  return true;
}

}  // namespace tcplab

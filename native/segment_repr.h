// SegmentRepr: one IPv4/IPv6 + TCP segment as plain fields, with Parse (bytes -> repr) and Emit (repr ->
// bytes). No N-API here: segment.cc converts between this and JS (src/wire/types.ts SegmentSpec /
// DecodeResult), native/fuzz/parse_fuzz.cc runs Parse and Emit directly under libFuzzer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "wire_view.h"

namespace tcplab {

// tcpdump flag notation for a flags byte ("S.", "FP.", "none"); writes at most 9 chars + NUL into out.
size_t FormatFlags(uint8_t bits, char out[10]);

// Trivial on purpose: SegmentRepr holds 40 of them and encode/decode run per packet, so they are not
// zeroed up front; whoever fills one value-initializes it (TcpOptionRepr{}).
struct TcpOptionRepr {
  enum Type : uint8_t { kEol, kNop, kMss, kWscale, kSackOk, kSack, kTs, kRaw } type;
  uint32_t a, b;         // mss: a; wscale: a (shift); ts: a = val, b = ecr; raw: a = kind
  uint8_t blocks;        // sack: 1..4
  uint32_t sack[4][2];   // sack: [left, right]
  const uint8_t* data;   // raw: value bytes (Parse: inside the parsed frame)
  size_t dataLen;
  size_t dataOff;        // raw, Parse: offset of the value in the frame
  // Bytes on the wire (kind, length, value).
  size_t WireLen() const;
};

// What the decoder says of a checksum (values of layout.json ChecksumStatus).
enum class SumStatus : uint32_t { kUnchecked, kOk, kBad, kOffloaded };
// What the encoder writes: the right sum, a deliberately wrong one, or a given value.
struct SumChoice {
  enum Mode { kAuto, kBad, kValue } mode = kAuto;
  uint16_t value = 0;
  uint16_t Apply(uint16_t good) const;
};

struct SegmentRepr {
  static constexpr size_t kMaxOptions = wire::tcp::kMaxOptions;  // one option per byte at the most

  int family = 4;  // 4 or 6
  uint8_t src[16] = {}, dst[16] = {};
  uint16_t sport = 0, dport = 0;
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;
  uint16_t window = 65535, urg = 0;
  uint8_t ttl = 64, tos = 0;
  uint16_t id = 0;  // IPv4 only
  bool df = true;   // IPv4 only
  uint32_t flowLabel = 0;  // IPv6 only
  TcpOptionRepr options[kMaxOptions];  // [0, optionCount) are set
  size_t optionCount = 0;
  const uint8_t* payload = nullptr;
  size_t payloadLen = 0;

  // Parse only.
  size_t payloadOff = 0;   // in the frame
  size_t ipLength = 0;     // the datagram's length field
  SumStatus ipStatus = SumStatus::kUnchecked, tcpStatus = SumStatus::kUnchecked;
  uint16_t tcpValue = 0;   // the checksum field as received

  // Emit only.
  SumChoice tcpSum, ipSum;

  size_t OptionsLen() const;  // unpadded
  size_t IpHeaderLen() const { return family == 4 ? wire::ipv4::kMinLen : wire::ipv6::kMinLen; }
  size_t TcpHeaderLen() const { return wire::tcp::kMinLen + ((OptionsLen() + 3) & ~size_t(3)); }
  // The most payload the IP length field can carry with this header.
  size_t MaxPayload() const;
  size_t EmitLen() const { return IpHeaderLen() + TcpHeaderLen() + payloadLen; }
  // Writes EmitLen() bytes. Preconditions (the N-API layer checks them and names the field):
  // OptionsLen() <= 40, payloadLen <= MaxPayload(), sack blocks 1..4, raw dataLen <= 38.
  void Emit(uint8_t* out) const;
};

struct ParseError {
  std::string message;  // "ipv4: header truncated (12 of 20 bytes)"
  const char* layer;    // the last layer decoded: none, ethernet, sll, ipv4, ipv6
};

// Decodes an Ethernet/SLL/raw-IP frame. Never reads outside f[0..n); false with *err on a frame that is
// not a TCP segment. Warnings (bad checksums, odd options) go to *warn; repr's pointers point into f.
// offloaded: the TCP checksum was left to the NIC (not checked).
bool Parse(const uint8_t* f, size_t n, wire::Link link, bool offloaded, SegmentRepr* out, ParseError* err,
           std::vector<std::string>* warn);

}  // namespace tcplab

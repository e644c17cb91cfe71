// encode(spec) -> Buffer (IPv4/IPv6 + TCP datagram) and decode(frame, link) -> DecodeResult.
// The contract is src/wire/types.ts. encode validates every field and throws TypeError/RangeError
// naming it; decode never throws and never reads past the frame: it reports {ok:false, error, layer}.
#include "segment.h"

#include <arpa/inet.h>
#include <napi.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "checksum.h"
#include "errors.h"
#include "modules.h"

namespace tcplab {

namespace {

constexpr uint8_t kProtoTcp = 6;
constexpr size_t kMaxOptions = 40;

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

// A deliberately wrong checksum: off by one in one's-complement arithmetic. (XOR 0xffff is not safe:
// 0x0000 and 0xffff are the same one's-complement value, so ~0 would still verify.)
inline uint16_t BadChecksum(uint16_t good) { return uint16_t(good ^ 0x0001); }

}  // namespace

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

// ---------------------------------------------------------------------------------------------
// encode
// ---------------------------------------------------------------------------------------------
namespace {

std::string Describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return v.ToString().Utf8Value();
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.size() > 40) s = s.substr(0, 40) + "...";
    return "'" + s + "'";
  }
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsArray()) return "an array";
  if (v.IsBuffer() || v.IsTypedArray()) return "a byte array";
  if (v.IsObject()) return "an object";
  return "a " + std::string(v.IsFunction() ? "function" : "value");
}

// An integer in 0..max; `def` when undefined and `def >= 0`, otherwise required.
uint32_t UintField(Napi::Env env, const Napi::Value& v, const std::string& field, uint32_t max, int64_t def) {
  if (v.IsUndefined() && def >= 0) return uint32_t(def);
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1.5;
  if (d >= 0 && d <= double(max) && d == std::floor(d)) return uint32_t(d);  // the common case: no strings
  std::string want = "must be an integer 0.." + std::to_string(max) + ", got " + Describe(v);
  if (!v.IsNumber() || std::isnan(d) || std::isinf(d) || d != std::floor(d)) ThrowType(env, field, want);
  ThrowRange(env, field, want);
}

bool BoolField(Napi::Env env, const Napi::Value& v, const std::string& field, bool def) {
  if (v.IsUndefined()) return def;
  if (!v.IsBoolean()) ThrowType(env, field, "must be a boolean, got " + Describe(v));
  return v.As<Napi::Boolean>().Value();
}

struct Checksum {
  enum Mode { kAuto, kBad, kValue } mode = kAuto;
  uint16_t value = 0;
};

Checksum ChecksumField(Napi::Env env, const Napi::Value& v, const std::string& field) {
  Checksum c;
  if (v.IsUndefined()) return c;
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "auto") return c;
    if (s == "bad") {
      c.mode = Checksum::kBad;
      return c;
    }
  } else if (v.IsNumber()) {
    c.mode = Checksum::kValue;
    c.value = uint16_t(UintField(env, v, field, 0xffff, -1));
    return c;
  }
  ThrowType(env, field, "must be 'auto', 'bad' or an integer 0..65535, got " + Describe(v));
}

uint16_t ApplyChecksum(const Checksum& c, uint16_t good) {
  switch (c.mode) {
    case Checksum::kBad: return BadChecksum(good);
    case Checksum::kValue: return c.value;
    default: return good;
  }
}

// Bytes from a Buffer/TypedArray/DataView or a utf8 string.
void BytesField(Napi::Env env, const Napi::Value& v, const std::string& field, bool allowString,
                std::string* out) {
  out->clear();
  if (v.IsUndefined()) return;
  if (allowString && v.IsString()) {
    *out = v.As<Napi::String>().Utf8Value();
    return;
  }
  if (v.IsTypedArray()) {
    Napi::TypedArray ta = v.As<Napi::TypedArray>();
    Napi::ArrayBuffer ab = ta.ArrayBuffer();
    const uint8_t* base = static_cast<const uint8_t*>(ab.Data());
    out->assign(reinterpret_cast<const char*>(base + ta.ByteOffset()), ta.ByteLength());
    return;
  }
  if (v.IsDataView()) {
    Napi::DataView dv = v.As<Napi::DataView>();
    const uint8_t* base = static_cast<const uint8_t*>(dv.ArrayBuffer().Data());
    out->assign(reinterpret_cast<const char*>(base + dv.ByteOffset()), dv.ByteLength());
    return;
  }
  ThrowType(env, field, std::string("must be a Uint8Array") + (allowString ? " or a string" : "") + ", got " +
                            Describe(v));
}

// Appends one TCP option to `opts`, throwing RangeError naming `options` when 40 bytes are exceeded.
class OptionWriter {
 public:
  explicit OptionWriter(Napi::Env env) : env_(env) {}
  void Put(std::initializer_list<uint8_t> bytes, const std::string& what) { Put(bytes.begin(), bytes.size(), what); }
  void Put(const uint8_t* p, size_t n, const std::string& what) {
    if (len_ + n > kMaxOptions)
      ThrowRange(env_, "options", "take " + std::to_string(len_ + n) + " bytes with " + what +
                                      "; TCP allows at most 40 (data offset 15)");
    std::memcpy(buf_ + len_, p, n);
    len_ += n;
  }
  size_t len() const { return len_; }
  const uint8_t* data() const { return buf_; }
  // Pad to a multiple of 4: EOL (zeros) after an explicit EOL, NOPs otherwise (as Linux does).
  void Pad(bool afterEol) {
    while (len_ % 4) buf_[len_++] = afterEol ? 0 : 1;
  }

 private:
  Napi::Env env_;
  uint8_t buf_[kMaxOptions + 4] = {};
  size_t len_ = 0;
};

void EncodeOptions(Napi::Env env, const Napi::Value& v, OptionWriter* w) {
  if (v.IsUndefined()) return;
  if (!v.IsArray()) ThrowType(env, "options", "must be an array of TcpOption, got " + Describe(v));
  Napi::Array arr = v.As<Napi::Array>();
  bool lastEol = false;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    std::string f = "options[" + std::to_string(i) + "]";
    Napi::Value ov = arr.Get(i);
    if (!ov.IsObject() || ov.IsArray()) ThrowType(env, f, "must be an object with a kind, got " + Describe(ov));
    Napi::Object o = ov.As<Napi::Object>();
    Napi::Value kv = o.Get("kind");
    std::string kind = kv.IsString() ? kv.As<Napi::String>().Utf8Value() : "";
    lastEol = false;
    if (kind == "mss") {
      uint32_t m = UintField(env, o.Get("value"), f + ".value", 0xffff, -1);
      w->Put({2, 4, uint8_t(m >> 8), uint8_t(m)}, f + " (mss)");
    } else if (kind == "wscale") {
      uint32_t s = UintField(env, o.Get("shift"), f + ".shift", 0xff, -1);
      w->Put({3, 3, uint8_t(s)}, f + " (wscale)");
    } else if (kind == "sackOk") {
      w->Put({4, 2}, f + " (sackOk)");
    } else if (kind == "sack") {
      Napi::Value bv = o.Get("blocks");
      if (!bv.IsArray()) ThrowType(env, f + ".blocks", "must be an array of [left, right] pairs, got " + Describe(bv));
      Napi::Array blocks = bv.As<Napi::Array>();
      uint32_t n = blocks.Length();
      if (n < 1 || n > 4)
        ThrowRange(env, f + ".blocks", "must hold 1..4 blocks, got " + std::to_string(n));
      uint8_t b[2 + 8 * 4];
      b[0] = 5;
      b[1] = uint8_t(2 + 8 * n);
      for (uint32_t j = 0; j < n; j++) {
        std::string bf = f + ".blocks[" + std::to_string(j) + "]";
        Napi::Value pv = blocks.Get(j);
        if (!pv.IsArray() || pv.As<Napi::Array>().Length() != 2)
          ThrowType(env, bf, "must be a [left, right] pair, got " + Describe(pv));
        Napi::Array pair = pv.As<Napi::Array>();
        Wr32(b + 2 + 8 * j, UintField(env, pair.Get(0u), bf + "[0]", 0xffffffffu, -1));
        Wr32(b + 6 + 8 * j, UintField(env, pair.Get(1u), bf + "[1]", 0xffffffffu, -1));
      }
      w->Put(b, 2 + 8 * n, f + " (sack)");
    } else if (kind == "ts") {
      uint8_t b[10] = {8, 10};
      Wr32(b + 2, UintField(env, o.Get("val"), f + ".val", 0xffffffffu, -1));
      Wr32(b + 6, UintField(env, o.Get("ecr"), f + ".ecr", 0xffffffffu, -1));
      w->Put(b, 10, f + " (ts)");
    } else if (kind == "nop") {
      w->Put({1}, f + " (nop)");
    } else if (kind == "eol") {
      w->Put({0}, f + " (eol)");
      lastEol = true;
    } else if (kind == "raw") {
      uint32_t type = UintField(env, o.Get("type"), f + ".type", 0xff, -1);
      std::string data;
      BytesField(env, o.Get("data"), f + ".data", false, &data);
      if (data.size() > kMaxOptions - 2)
        ThrowRange(env, f + ".data", "must be at most 38 bytes, got " + std::to_string(data.size()));
      uint8_t b[kMaxOptions];
      b[0] = uint8_t(type);
      b[1] = uint8_t(2 + data.size());
      std::memcpy(b + 2, data.data(), data.size());
      w->Put(b, 2 + data.size(), f + " (raw kind " + std::to_string(type) + ")");
    } else {
      ThrowType(env, f + ".kind",
                "must be one of mss, wscale, sackOk, sack, ts, nop, eol, raw, got " + Describe(kv));
    }
  }
  w->Pad(lastEol);
}

struct Addr {
  int family = 0;  // 4 or 6
  uint8_t bytes[16] = {};
};

Addr AddrField(Napi::Env env, const Napi::Value& v, const std::string& field) {
  Addr a;
  if (!v.IsString()) ThrowType(env, field, "must be an IPv4 or IPv6 address string, got " + Describe(v));
  std::string s = v.As<Napi::String>().Utf8Value();
  if (inet_pton(AF_INET, s.c_str(), a.bytes) == 1) {
    a.family = 4;
  } else if (inet_pton(AF_INET6, s.c_str(), a.bytes) == 1) {
    a.family = 6;
  } else {
    ThrowType(env, field, "must be an IPv4 or IPv6 address, got " + Describe(v));
  }
  return a;
}

Napi::Value Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray())
    ThrowType(env, "spec", "must be a SegmentSpec object, got " + Describe(info[0]));
  Napi::Object spec = info[0].As<Napi::Object>();

  Addr src = AddrField(env, spec.Get("src"), "src");
  Addr dst = AddrField(env, spec.Get("dst"), "dst");
  if (src.family != dst.family)
    ThrowType(env, "dst", "is IPv" + std::to_string(dst.family) + " but src is IPv" + std::to_string(src.family) +
                              "; both addresses must be of the same family");
  const bool v4 = src.family == 4;

  uint32_t sport = UintField(env, spec.Get("sport"), "sport", 0xffff, -1);
  uint32_t dport = UintField(env, spec.Get("dport"), "dport", 0xffff, -1);
  uint32_t seq = UintField(env, spec.Get("seq"), "seq", 0xffffffffu, -1);
  uint32_t ack = UintField(env, spec.Get("ack"), "ack", 0xffffffffu, 0);
  Napi::Value fv = spec.Get("flags");
  if (!fv.IsNumber())
    ThrowType(env, "flags",
              "the native encoder takes the flags byte 0..255 (src/wire/segment.ts also accepts 'S.' or "
              "['SYN','ACK']), got " + Describe(fv));
  uint32_t flags = UintField(env, fv, "flags", 0xff, -1);
  uint32_t window = UintField(env, spec.Get("window"), "window", 0xffff, 65535);
  uint32_t urg = UintField(env, spec.Get("urg"), "urg", 0xffff, 0);
  Checksum tcpSum = ChecksumField(env, spec.Get("checksum"), "checksum");
  Checksum ipSum = ChecksumField(env, spec.Get("ipChecksum"), "ipChecksum");

  uint32_t ttl = 64, id = 0, tos = 0, flow = 0;
  bool df = true;
  Napi::Value ipv = spec.Get("ip");
  if (!ipv.IsUndefined()) {
    if (!ipv.IsObject() || ipv.IsArray()) ThrowType(env, "ip", "must be an object (IpFields), got " + Describe(ipv));
    Napi::Object ip = ipv.As<Napi::Object>();
    ttl = UintField(env, ip.Get("ttl"), "ip.ttl", 0xff, 64);
    tos = UintField(env, ip.Get("tos"), "ip.tos", 0xff, 0);
    id = UintField(env, ip.Get("id"), "ip.id", 0xffff, 0);
    df = BoolField(env, ip.Get("df"), "ip.df", true);
    flow = UintField(env, ip.Get("flowLabel"), "ip.flowLabel", 0xfffff, 0);
    if (v4 && flow != 0) ThrowType(env, "ip.flowLabel", "is IPv6 only; leave it out (or 0) for IPv4");
    if (!v4 && id != 0) ThrowType(env, "ip.id", "is IPv4 only; leave it out (or 0) for IPv6");
  }
  if (!v4 && ipSum.mode != Checksum::kAuto)
    ThrowType(env, "ipChecksum", "IPv6 has no header checksum; leave it out for IPv6");

  OptionWriter opts(env);
  EncodeOptions(env, spec.Get("options"), &opts);

  std::string payload;
  BytesField(env, spec.Get("payload"), "payload", true, &payload);

  const size_t ipHdr = v4 ? 20 : 40;
  const size_t tcpHdr = 20 + opts.len();
  const size_t tcpLen = tcpHdr + payload.size();
  const size_t maxTcp = v4 ? 65535 - 20 : 65535;
  if (tcpLen > maxTcp)
    ThrowRange(env, "payload",
               "is " + std::to_string(payload.size()) + " bytes; with " + std::to_string(tcpHdr) +
                   " bytes of TCP header it exceeds the IP length limit (at most " + std::to_string(maxTcp - tcpHdr) +
                   " bytes)");
  const size_t total = ipHdr + tcpLen;

  Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::New(env, total);
  uint8_t* p = buf.Data();
  std::memset(p, 0, ipHdr + tcpHdr);
  if (v4) {
    p[0] = 0x45;
    p[1] = uint8_t(tos);
    Wr16(p + 2, uint32_t(total));
    Wr16(p + 4, id);
    Wr16(p + 6, df ? 0x4000 : 0);
    p[8] = uint8_t(ttl);
    p[9] = kProtoTcp;
    std::memcpy(p + 12, src.bytes, 4);
    std::memcpy(p + 16, dst.bytes, 4);
    Wr16(p + 10, ApplyChecksum(ipSum, ChecksumFinish(ChecksumAdd(p, 20))));
  } else {
    Wr32(p, (6u << 28) | (tos << 20) | flow);
    Wr16(p + 4, uint32_t(tcpLen));
    p[6] = kProtoTcp;
    p[7] = uint8_t(ttl);
    std::memcpy(p + 8, src.bytes, 16);
    std::memcpy(p + 24, dst.bytes, 16);
  }
  uint8_t* t = p + ipHdr;
  Wr16(t, sport);
  Wr16(t + 2, dport);
  Wr32(t + 4, seq);
  Wr32(t + 8, ack);
  t[12] = uint8_t((tcpHdr / 4) << 4);
  t[13] = uint8_t(flags);
  Wr16(t + 14, window);
  Wr16(t + 18, urg);
  std::memcpy(t + 20, opts.data(), opts.len());
  if (!payload.empty()) std::memcpy(t + tcpHdr, payload.data(), payload.size());
  uint32_t sum = PseudoHeaderSum(p, ipHdr, kProtoTcp, uint32_t(tcpLen));
  Wr16(t + 16, ApplyChecksum(tcpSum, ChecksumFinish(ChecksumAdd(t, tcpLen, sum))));
  return buf;
}

// decode (the capture hot path). V8 adds properties slowly from C++ (one map transition per
// napi_set_property), so C++ parses everything into a shared Uint32Array and one call into a small
// JS function, compiled at init, builds the result from object literals with fixed shapes.
// ---------------------------------------------------------------------------------------------

// Layout of the scratch words written by DecodeFrame and read by kAssembleJs.
enum Slot {
  kFamily, kSport, kDport, kSeq, kAck, kFlagBits, kWindow, kUrg, kTtl, kId, kDf, kTos, kFlow, kIpStatus,
  kTcpStatus, kTcpValue, kIpLength, kPayloadOff, kPayloadLen, kOptCount, kOptStart
};
// Option records from kOptStart: code, then fields. Codes are the TCP kinds, plus kRawCode.
constexpr uint32_t kRawCode = 256;
constexpr size_t kScratchWords = kOptStart + 40 * 4;  // <= 40 option bytes; no record takes > 4 words per byte
enum Status : uint32_t { kUnchecked, kOk, kBad, kOffloaded };

const char kAssembleJs[] = R"JS(
(function (s) {
  'use strict';
  const ST = ['unchecked', 'ok', 'bad', 'offloaded'];
  const copy = (f, off, len) => Buffer.copyBytesFrom(f, off, len);
  function seg(frame, src, dst, flags, warnings) {
    const options = [];
    let k = 20;
    for (let i = s[19]; i > 0; i--) {
      const c = s[k++];
      switch (c) {
        case 0: options.push({ kind: 'eol' }); break;
        case 1: options.push({ kind: 'nop' }); break;
        case 2: options.push({ kind: 'mss', value: s[k++] }); break;
        case 3: options.push({ kind: 'wscale', shift: s[k++] }); break;
        case 4: options.push({ kind: 'sackOk' }); break;
        case 5: {
          const blocks = [];
          for (let j = s[k++]; j > 0; j--, k += 2) blocks.push([s[k], s[k + 1]]);
          options.push({ kind: 'sack', blocks });
          break;
        }
        case 8: options.push({ kind: 'ts', val: s[k], ecr: s[k + 1] }); k += 2; break;
        default: options.push({ kind: 'raw', type: s[k], data: copy(frame, s[k + 1], s[k + 2]) }); k += 3;
      }
    }
    return {
      ok: true,
      segment: {
        family: s[0], src, dst, sport: s[1], dport: s[2], seq: s[3], ack: s[4], flagBits: s[5], flags,
        window: s[6], urg: s[7], options, payload: copy(frame, s[17], s[18]),
        ip: { ttl: s[8], id: s[9], df: s[10] === 1, tos: s[11], flowLabel: s[12] },
        checksum: { ip: ST[s[13]], tcp: ST[s[14]], tcpValue: s[15] },
        ipLength: s[16],
      },
      warnings: warnings === undefined ? [] : warnings,
    };
  }
  function fail(error, layer) { return { ok: false, error, layer }; }
  return [seg, fail];
})
)JS";

struct SegmentData {
  napi_ref seg = nullptr;   // JS seg(frame, src, dst, flags, warnings?)
  napi_ref fail = nullptr;  // JS fail(error, layer)
  napi_ref scratch = nullptr;
  uint32_t* s = nullptr;  // the scratch words, shared with JS
};

void FinalizeSegmentData(napi_env env, void* data, void*) {
  auto* d = static_cast<SegmentData*>(data);
  for (napi_ref r : {d->seg, d->fail, d->scratch})
    if (r) napi_delete_reference(env, r);
  delete d;
}

// Raw N-API calls: an error here is an engine failure (out of memory), reported as a JS exception.
#define NAPI_OK(call)                                                             \
  do {                                                                            \
    if ((call) != napi_ok) throw Napi::Error::New(env, "tcplab decode: " #call); \
  } while (0)

napi_value Str(napi_env env, const char* p, size_t n) {
  napi_value v;
  NAPI_OK(napi_create_string_latin1(env, p, n, &v));
  return v;
}

napi_value Fail(napi_env env, SegmentData* d, const std::string& error, const char* layer) {
  napi_value fn, argv[2], r;
  NAPI_OK(napi_get_reference_value(env, d->fail, &fn));
  NAPI_OK(napi_create_string_utf8(env, error.data(), error.size(), &argv[0]));
  argv[1] = Str(env, layer, std::strlen(layer));
  napi_value undef;
  NAPI_OK(napi_get_undefined(env, &undef));
  NAPI_OK(napi_call_function(env, undef, fn, 2, argv, &r));
  return r;
}

enum Link { kEthernet, kSll, kRaw, kUnknown };

// TCP options -> records in s[kOptStart...]; frameOff is the options' offset in the frame (for raw data).
void DecodeOptions(uint32_t* s, const uint8_t* p, size_t n, size_t frameOff, std::vector<std::string>* warn) {
  uint32_t count = 0;
  uint32_t* w = s + kOptStart;
  size_t i = 0;
  while (i < n) {
    uint8_t kind = p[i];
    if (kind == 0) {
      *w++ = 0;
      count++;
      for (size_t j = i + 1; j < n; j++) {
        if (p[j] != 0) {
          warn->push_back("option bytes after EOL are not zero (padding at offset " + std::to_string(j) + ")");
          break;
        }
      }
      break;
    }
    if (kind == 1) {
      *w++ = 1;
      count++;
      i++;
      continue;
    }
    if (i + 1 >= n) {
      warn->push_back("option kind " + std::to_string(kind) + " has no length byte; options parsing stopped");
      break;
    }
    size_t len = p[i + 1];
    if (len < 2 || i + len > n) {
      warn->push_back("option kind " + std::to_string(kind) + " has bad length " + std::to_string(len) + " (" +
                      std::to_string(n - i) + " bytes left); options parsing stopped");
      break;
    }
    const uint8_t* o = p + i;
    bool known = true;
    size_t expect = 0;
    if (kind == 2 && len == 4) {
      *w++ = 2;
      *w++ = Rd16(o + 2);
    } else if (kind == 3 && len == 3) {
      *w++ = 3;
      *w++ = o[2];
    } else if (kind == 4 && len == 2) {
      *w++ = 4;
    } else if (kind == 5 && len >= 10 && (len - 2) % 8 == 0) {
      size_t nb = (len - 2) / 8;
      *w++ = 5;
      *w++ = uint32_t(nb);
      for (size_t j = 0; j < nb; j++) {
        *w++ = Rd32(o + 2 + 8 * j);
        *w++ = Rd32(o + 6 + 8 * j);
      }
    } else if (kind == 8 && len == 10) {
      *w++ = 8;
      *w++ = Rd32(o + 2);
      *w++ = Rd32(o + 6);
    } else {
      known = false;
      expect = kind == 2 ? 4 : kind == 3 ? 3 : kind == 4 ? 2 : kind == 5 ? 10 : kind == 8 ? 10 : 0;
    }
    if (!known) {
      if (expect)
        warn->push_back("option kind " + std::to_string(kind) + " has length " + std::to_string(len) +
                        " (expected " + (kind == 5 ? std::string("2+8n") : std::to_string(expect)) +
                        "); kept as raw");
      else
        warn->push_back("unknown option kind " + std::to_string(kind) + " (kept as raw)");
      *w++ = kRawCode;
      *w++ = kind;
      *w++ = uint32_t(frameOff + i + 2);
      *w++ = uint32_t(len - 2);
    }
    count++;
    i += len;
  }
  s[kOptCount] = count;
}

napi_value DecodeFrame(napi_env env, SegmentData* d, napi_value frame, const uint8_t* f, size_t n, Link link,
                       bool offloaded) {
  uint32_t* s = d->s;
  std::vector<std::string> warn;
  size_t off = 0;
  uint16_t ethertype = 0;
  const char* layer = "none";
  auto fail = [&](const std::string& error, const char* at) { return Fail(env, d, error, at); };
  if (link == kEthernet) {
    if (n < 14) return fail("ethernet: frame truncated (" + std::to_string(n) + " of 14 bytes)", layer);
    ethertype = Rd16(f + 12);
    off = 14;
    // 802.1Q / 802.1ad tags (up to two: QinQ)
    for (int tags = 0; (ethertype == 0x8100 || ethertype == 0x88a8) && tags < 2; tags++) {
      if (n < off + 4) return fail("ethernet: VLAN tag truncated", layer);
      ethertype = Rd16(f + off + 2);
      off += 4;
    }
    layer = "ethernet";
  } else if (link == kSll) {
    if (n < 16) return fail("sll: header truncated (" + std::to_string(n) + " of 16 bytes)", layer);
    ethertype = Rd16(f + 14);
    off = 16;
    layer = "sll";
  } else {
    if (n < 1) return fail("ip: empty packet", layer);
    ethertype = (f[0] >> 4) == 6 ? 0x86dd : 0x0800;
  }

  const uint8_t* ip = f + off;
  size_t avail = n - off;
  char hex[8];
  if (ethertype != 0x0800 && ethertype != 0x86dd) {
    std::snprintf(hex, sizeof hex, "0x%04x", ethertype);
    return fail(std::string(layer) + ": not IP (ethertype " + hex + ")", layer);
  }
  if (avail < 1) return fail("ip: packet truncated (0 bytes)", layer);
  int version = ip[0] >> 4;
  if (version != 4 && version != 6)
    return fail("ip: version " + std::to_string(version) + " is neither 4 nor 6", layer);
  if ((ethertype == 0x0800 && version != 4) || (ethertype == 0x86dd && version != 6))
    return fail("ip: version " + std::to_string(version) + " does not match the ethertype", layer);

  size_t ipHdr = 0, ipLen = 0;  // header length (incl. v6 extension headers), datagram length
  uint32_t ttl, id = 0, tos, flow = 0, df = 0;
  uint32_t ipStatus = kUnchecked;
  char srcStr[INET6_ADDRSTRLEN], dstStr[INET6_ADDRSTRLEN];
  if (version == 4) {
    if (avail < 20) return fail("ipv4: header truncated (" + std::to_string(avail) + " of 20 bytes)", layer);
    ipHdr = size_t(ip[0] & 0x0f) * 4;
    if (ipHdr < 20) return fail("ipv4: header length " + std::to_string(ipHdr) + " is below 20", layer);
    if (avail < ipHdr)
      return fail("ipv4: header truncated (" + std::to_string(avail) + " of " + std::to_string(ipHdr) + " bytes)",
                  layer);
    ipLen = Rd16(ip + 2);
    if (ipLen < ipHdr)
      return fail("ipv4: total length " + std::to_string(ipLen) + " is below the header length", layer);
    if (ipLen > avail)
      return fail("ipv4: packet truncated (" + std::to_string(avail) + " of " + std::to_string(ipLen) + " bytes)",
                  layer);
    uint16_t frag = Rd16(ip + 6);
    if (frag & 0x3fff)
      return fail("ipv4: fragment (offset " + std::to_string((frag & 0x1fff) * 8) +
                      ((frag & 0x2000) ? ", more fragments" : "") + "); not reassembled",
                  "ipv4");
    if (ip[9] != kProtoTcp) return fail("ipv4: not TCP (protocol " + std::to_string(ip[9]) + ")", "ipv4");
    tos = ip[1];
    id = Rd16(ip + 4);
    df = (frag & 0x4000) ? 1 : 0;
    ttl = ip[8];
    bool ipOk = ChecksumFinish(ChecksumAdd(ip, ipHdr)) == 0;
    ipStatus = ipOk ? kOk : kBad;
    if (!ipOk) {
      std::snprintf(hex, sizeof hex, "0x%04x", Rd16(ip + 10));
      warn.push_back(std::string("ipv4 header checksum bad (") + hex + ")");
    }
    if (ipHdr > 20) warn.push_back("ipv4 options (" + std::to_string(ipHdr - 20) + " bytes) skipped");
    inet_ntop(AF_INET, ip + 12, srcStr, sizeof srcStr);
    inet_ntop(AF_INET, ip + 16, dstStr, sizeof dstStr);
  } else {
    if (avail < 40) return fail("ipv6: header truncated (" + std::to_string(avail) + " of 40 bytes)", layer);
    uint32_t w0 = Rd32(ip);
    tos = (w0 >> 20) & 0xff;
    flow = w0 & 0xfffff;
    ttl = ip[7];
    size_t plen = Rd16(ip + 4);
    if (plen == 0) return fail("ipv6: payload length 0 (jumbogram or empty); not supported", "ipv6");
    ipLen = 40 + plen;
    if (ipLen > avail)
      return fail("ipv6: packet truncated (" + std::to_string(avail) + " of " + std::to_string(ipLen) + " bytes)",
                  layer);
    uint8_t next = ip[6];
    ipHdr = 40;
    // Skip hop-by-hop (0), routing (43) and destination options (60); a fragment header (44) is an error.
    for (int guard = 0; next != kProtoTcp; guard++) {
      if (next == 44) return fail("ipv6: fragment header; not reassembled", "ipv6");
      if ((next != 0 && next != 43 && next != 60) || guard >= 8)
        return fail("ipv6: not TCP (next header " + std::to_string(next) + ")", "ipv6");
      if (ipHdr + 8 > ipLen) return fail("ipv6: extension header truncated", "ipv6");
      size_t extLen = (size_t(ip[ipHdr + 1]) + 1) * 8;
      if (ipHdr + extLen > ipLen) return fail("ipv6: extension header truncated", "ipv6");
      next = ip[ipHdr];
      ipHdr += extLen;
    }
    inet_ntop(AF_INET6, ip + 8, srcStr, sizeof srcStr);
    inet_ntop(AF_INET6, ip + 24, dstStr, sizeof dstStr);
  }
  const char* ipLayer = version == 4 ? "ipv4" : "ipv6";

  const uint8_t* t = ip + ipHdr;
  size_t tcpLen = ipLen - ipHdr;
  if (tcpLen < 20) return fail("tcp: header truncated (" + std::to_string(tcpLen) + " of 20 bytes)", ipLayer);
  size_t tcpHdr = size_t(t[12] >> 4) * 4;
  if (tcpHdr < 20) return fail("tcp: data offset " + std::to_string(tcpHdr / 4) + " is below 5", ipLayer);
  if (tcpHdr > tcpLen)
    return fail("tcp: header truncated (" + std::to_string(tcpLen) + " of " + std::to_string(tcpHdr) + " bytes)",
                ipLayer);
  if (t[12] & 0x0f) {
    std::snprintf(hex, sizeof hex, "0x%x", t[12] & 0x0f);
    warn.push_back(std::string("reserved TCP header bits set (") + hex + "); not represented in the segment");
  }

  uint16_t tcpValue = Rd16(t + 16);
  uint32_t tcpStatus;
  if (offloaded) {
    tcpStatus = kOffloaded;
  } else {
    uint32_t sum = PseudoHeaderSum(ip, ipHdr, kProtoTcp, uint32_t(tcpLen));
    bool ok = ChecksumFinish(ChecksumAdd(t, tcpLen, sum)) == 0;
    tcpStatus = ok ? kOk : kBad;
    if (!ok) {
      std::snprintf(hex, sizeof hex, "0x%04x", tcpValue);
      warn.push_back(std::string("tcp checksum bad (") + hex + ")");
    }
  }
  if (avail > ipLen && link == kRaw)
    warn.push_back(std::to_string(avail - ipLen) + " bytes after the IP datagram ignored");

  size_t tcpOff = off + ipHdr;  // offset of the TCP header in the frame
  s[kFamily] = uint32_t(version);
  s[kSport] = Rd16(t);
  s[kDport] = Rd16(t + 2);
  s[kSeq] = Rd32(t + 4);
  s[kAck] = Rd32(t + 8);
  s[kFlagBits] = t[13];
  s[kWindow] = Rd16(t + 14);
  s[kUrg] = Rd16(t + 18);
  s[kTtl] = ttl;
  s[kId] = id;
  s[kDf] = df;
  s[kTos] = tos;
  s[kFlow] = flow;
  s[kIpStatus] = ipStatus;
  s[kTcpStatus] = tcpStatus;
  s[kTcpValue] = tcpValue;
  s[kIpLength] = uint32_t(ipLen);
  s[kPayloadOff] = uint32_t(tcpOff + tcpHdr);
  s[kPayloadLen] = uint32_t(tcpLen - tcpHdr);
  DecodeOptions(s, t + 20, tcpHdr - 20, tcpOff + 20, &warn);

  char fl[10];
  size_t fn = FormatFlags(t[13], fl);
  napi_value argv[5];
  argv[0] = frame;
  argv[1] = Str(env, srcStr, std::strlen(srcStr));
  argv[2] = Str(env, dstStr, std::strlen(dstStr));
  argv[3] = Str(env, fl, fn);
  if (warn.empty()) {
    NAPI_OK(napi_get_undefined(env, &argv[4]));
  } else {
    NAPI_OK(napi_create_array_with_length(env, warn.size(), &argv[4]));
    for (size_t i = 0; i < warn.size(); i++) {
      napi_value w;
      NAPI_OK(napi_create_string_utf8(env, warn[i].data(), warn[i].size(), &w));
      NAPI_OK(napi_set_element(env, argv[4], uint32_t(i), w));
    }
  }
  napi_value fn_, undef, r;
  NAPI_OK(napi_get_reference_value(env, d->seg, &fn_));
  NAPI_OK(napi_get_undefined(env, &undef));
  NAPI_OK(napi_call_function(env, undef, fn_, 5, argv, &r));
  return r;
}

Link ParseLink(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return kUnknown;
  if (t == napi_string) {
    char s[16];
    size_t n = 0;
    if (napi_get_value_string_latin1(env, v, s, sizeof s, &n) != napi_ok) return kUnknown;
    if (!std::strcmp(s, "ethernet")) return kEthernet;
    if (!std::strcmp(s, "sll")) return kSll;
    if (!std::strcmp(s, "raw")) return kRaw;
  } else if (t == napi_number) {
    int32_t dlt = -1;
    napi_get_value_int32(env, v, &dlt);
    if (dlt == 1) return kEthernet;
    if (dlt == 113) return kSll;
    if (dlt == 101 || dlt == 12 || dlt == 228 || dlt == 229) return kRaw;
  }
  return kUnknown;
}

// decode(frame: Uint8Array, link: 'ethernet'|'sll'|'raw'|1|113|101, offloaded?: boolean)
napi_value Decode(napi_env env, napi_callback_info info) {
  try {
    size_t argc = 3;
    napi_value argv[3];
    void* data;
    NAPI_OK(napi_get_cb_info(env, info, &argc, argv, nullptr, &data));
    auto* d = static_cast<SegmentData*>(data);
    if (argc < 2) return Fail(env, d, "decode(frame, link): frame and link are required", "none");
    bool isTa = false;
    NAPI_OK(napi_is_typedarray(env, argv[0], &isTa));
    if (!isTa) return Fail(env, d, "frame: must be a Uint8Array (or Buffer)", "none");
    napi_typedarray_type type;
    void* p;
    size_t len = 0;
    NAPI_OK(napi_get_typedarray_info(env, argv[0], &type, &len, &p, nullptr, nullptr));
    if (type != napi_uint8_array && type != napi_uint8_clamped_array && type != napi_int8_array)
      return Fail(env, d, "frame: must be a Uint8Array (or Buffer)", "none");
    Link link = ParseLink(env, argv[1]);
    if (link == kUnknown)
      return Fail(env, d, "link: must be 'ethernet', 'sll' or 'raw' (or DLT 1, 113, 101)", "none");
    bool offloaded = false;
    if (argc >= 3) {
      napi_valuetype t;
      NAPI_OK(napi_typeof(env, argv[2], &t));
      if (t == napi_boolean) NAPI_OK(napi_get_value_bool(env, argv[2], &offloaded));
    }
    return DecodeFrame(env, d, argv[0], static_cast<const uint8_t*>(p), len, link, offloaded);
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
    return nullptr;
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
    return nullptr;
  }
}

// formatFlags(bits) from C++ so tests can hold the TS notation against the decoder's.
Napi::Value FormatFlagsJs(const Napi::CallbackInfo& info) {
  uint32_t bits = UintField(info.Env(), info[0], "bits", 0xff, -1);
  char out[10];
  size_t n = FormatFlags(uint8_t(bits), out);
  return Napi::String::New(info.Env(), out, n);
}

}  // namespace

void InitSegment(Napi::Env env, Napi::Object exports) {
  // The assembler closes over the scratch array; both live as long as the decode function.
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, kScratchWords * 4);
  Napi::Uint32Array scratch = Napi::Uint32Array::New(env, kScratchWords, ab, 0);
  napi_value script, factory, pair;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_string_utf8(env, kAssembleJs, NAPI_AUTO_LENGTH, &script));
  NAPI_THROW_IF_FAILED_VOID(env, napi_run_script(env, script, &factory));
  napi_value arg = scratch;
  NAPI_THROW_IF_FAILED_VOID(env, napi_call_function(env, exports, factory, 1, &arg, &pair));
  Napi::Array fns(env, pair);

  auto* d = new SegmentData();
  d->s = static_cast<uint32_t*>(ab.Data());
  napi_value fn;
  if (napi_create_reference(env, fns.Get(0u), 1, &d->seg) != napi_ok ||
      napi_create_reference(env, fns.Get(1u), 1, &d->fail) != napi_ok ||
      napi_create_reference(env, scratch, 1, &d->scratch) != napi_ok ||
      napi_create_function(env, "decode", NAPI_AUTO_LENGTH, Decode, d, &fn) != napi_ok ||
      napi_add_finalizer(env, fn, d, FinalizeSegmentData, nullptr, nullptr) != napi_ok) {
    FinalizeSegmentData(env, d, nullptr);
    throw Napi::Error::New(env, "tcplab: cannot set up segment decode");
  }
  exports.Set("decode", Napi::Value(env, fn));
  exports.Set("encode", Napi::Function::New(env, Encode, "encode"));
  exports.Set("formatFlags", Napi::Function::New(env, FormatFlagsJs, "formatFlags"));
}

}  // namespace tcplab

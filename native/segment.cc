// The N-API face of SegmentRepr: encode(spec) -> Buffer (IPv4/IPv6 + TCP datagram) and decode(frame, link)
// -> DecodeResult. The contract is src/wire/types.ts. encode validates every field and throws
// TypeError/RangeError naming it, then SegmentRepr::Emit writes the bytes; decode never throws: Parse
// (segment_repr.cc) reports {ok:false, error, layer}, or its repr goes to JS through the DecodeSlot words.
#include <arpa/inet.h>
#include <napi.h>

#include <cctype>
#include <cmath>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "errors.h"
#include "layout.h"  // DecodeSlot, ChecksumStatus
#include "modules.h"
#include "segment_repr.h"

namespace tcplab {

namespace {

using wire::Link;

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

SumChoice ChecksumField(Napi::Env env, const Napi::Value& v, const std::string& field) {
  SumChoice c;
  if (v.IsUndefined()) return c;
  if (v.IsString()) {
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s == "auto") return c;
    if (s == "bad") {
      c.mode = SumChoice::kBad;
      return c;
    }
  } else if (v.IsNumber()) {
    c.mode = SumChoice::kValue;
    c.value = uint16_t(UintField(env, v, field, 0xffff, -1));
    return c;
  }
  ThrowType(env, field, "must be 'auto', 'bad' or an integer 0..65535, got " + Describe(v));
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


// The options of a spec into the repr; RangeError naming `options` when they take more than 40 bytes.
// Raw option data is copied into `raw` (the JS bytes may move once N-API allocates again); reserved for
// all 40 up front so the copies never move either.
void EncodeOptions(Napi::Env env, const Napi::Value& v, SegmentRepr* r, std::vector<std::string>* raw) {
  if (v.IsUndefined()) return;
  size_t bytes = 0;
  if (!v.IsArray()) ThrowType(env, "options", "must be an array of TcpOption, got " + Describe(v));
  Napi::Array arr = v.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); i++) {
    std::string f = "options[" + std::to_string(i) + "]";
    Napi::Value ov = arr.Get(i);
    if (!ov.IsObject() || ov.IsArray()) ThrowType(env, f, "must be an object with a kind, got " + Describe(ov));
    Napi::Object o = ov.As<Napi::Object>();
    Napi::Value kv = o.Get("kind");
    std::string kind = kv.IsString() ? kv.As<Napi::String>().Utf8Value() : "";
    TcpOptionRepr op{};
    if (kind == "mss") {
      op.type = TcpOptionRepr::kMss;
      op.a = UintField(env, o.Get("value"), f + ".value", 0xffff, -1);
    } else if (kind == "wscale") {
      op.type = TcpOptionRepr::kWscale;
      op.a = UintField(env, o.Get("shift"), f + ".shift", 0xff, -1);
    } else if (kind == "sackOk") {
      op.type = TcpOptionRepr::kSackOk;
    } else if (kind == "sack") {
      Napi::Value bv = o.Get("blocks");
      if (!bv.IsArray()) ThrowType(env, f + ".blocks", "must be an array of [left, right] pairs, got " + Describe(bv));
      Napi::Array blocks = bv.As<Napi::Array>();
      uint32_t n = blocks.Length();
      if (n < 1 || n > 4) ThrowRange(env, f + ".blocks", "must hold 1..4 blocks, got " + std::to_string(n));
      op.type = TcpOptionRepr::kSack;
      op.blocks = uint8_t(n);
      for (uint32_t j = 0; j < n; j++) {
        std::string bf = f + ".blocks[" + std::to_string(j) + "]";
        Napi::Value pv = blocks.Get(j);
        if (!pv.IsArray() || pv.As<Napi::Array>().Length() != 2)
          ThrowType(env, bf, "must be a [left, right] pair, got " + Describe(pv));
        Napi::Array pair = pv.As<Napi::Array>();
        op.sack[j][0] = UintField(env, pair.Get(0u), bf + "[0]", 0xffffffffu, -1);
        op.sack[j][1] = UintField(env, pair.Get(1u), bf + "[1]", 0xffffffffu, -1);
      }
    } else if (kind == "ts") {
      op.type = TcpOptionRepr::kTs;
      op.a = UintField(env, o.Get("val"), f + ".val", 0xffffffffu, -1);
      op.b = UintField(env, o.Get("ecr"), f + ".ecr", 0xffffffffu, -1);
    } else if (kind == "nop") {
      op.type = TcpOptionRepr::kNop;
    } else if (kind == "eol") {
      op.type = TcpOptionRepr::kEol;
    } else if (kind == "raw") {
      op.type = TcpOptionRepr::kRaw;
      op.a = UintField(env, o.Get("type"), f + ".type", 0xff, -1);
      if (raw->capacity() < SegmentRepr::kMaxOptions) raw->reserve(SegmentRepr::kMaxOptions);
      raw->emplace_back();
      std::string& data = raw->back();
      BytesField(env, o.Get("data"), f + ".data", false, &data);
      if (data.size() > wire::tcp::kMaxOptions - 2)
        ThrowRange(env, f + ".data", "must be at most 38 bytes, got " + std::to_string(data.size()));
      op.data = reinterpret_cast<const uint8_t*>(data.data());
      op.dataLen = data.size();
    } else {
      ThrowType(env, f + ".kind", "must be one of mss, wscale, sackOk, sack, ts, nop, eol, raw, got " + Describe(kv));
    }
    bytes += op.WireLen();
    if (bytes > wire::tcp::kMaxOptions) {
      const char* names[] = {"eol", "nop", "mss", "wscale", "sackOk", "sack", "ts", "raw"};
      const std::string what = op.type == TcpOptionRepr::kRaw ? "raw kind " + std::to_string(op.a) : names[op.type];
      ThrowRange(env, "options", "take " + std::to_string(bytes) + " bytes with " + f + " (" + what +
                                     "); TCP allows at most 40 (data offset 15)");
    }
    r->options[r->optionCount++] = op;
  }
}

int AddrField(Napi::Env env, const Napi::Value& v, const std::string& field, uint8_t out[16]) {
  if (!v.IsString()) ThrowType(env, field, "must be an IPv4 or IPv6 address string, got " + Describe(v));
  std::string s = v.As<Napi::String>().Utf8Value();
  if (inet_pton(AF_INET, s.c_str(), out) == 1) return 4;
  if (inet_pton(AF_INET6, s.c_str(), out) == 1) return 6;
  ThrowType(env, field, "must be an IPv4 or IPv6 address, got " + Describe(v));
}

// The checks run in the order of SegmentSpec's fields, so the first bad field is the one named.
Napi::Value Encode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray())
    ThrowType(env, "spec", "must be a SegmentSpec object, got " + Describe(info[0]));
  Napi::Object spec = info[0].As<Napi::Object>();
  SegmentRepr repr;  // on the stack: its options are not initialized until set (see TcpOptionRepr)
  SegmentRepr* r = &repr;

  const int srcFamily = AddrField(env, spec.Get("src"), "src", r->src);
  const int dstFamily = AddrField(env, spec.Get("dst"), "dst", r->dst);
  if (srcFamily != dstFamily)
    ThrowType(env, "dst", "is IPv" + std::to_string(dstFamily) + " but src is IPv" + std::to_string(srcFamily) +
                              "; both addresses must be of the same family");
  r->family = srcFamily;
  const bool v4 = srcFamily == 4;

  r->sport = uint16_t(UintField(env, spec.Get("sport"), "sport", 0xffff, -1));
  r->dport = uint16_t(UintField(env, spec.Get("dport"), "dport", 0xffff, -1));
  r->seq = UintField(env, spec.Get("seq"), "seq", 0xffffffffu, -1);
  r->ack = UintField(env, spec.Get("ack"), "ack", 0xffffffffu, 0);
  Napi::Value fv = spec.Get("flags");
  if (!fv.IsNumber())
    ThrowType(env, "flags",
              "the native encoder takes the flags byte 0..255 (src/wire/segment.ts also accepts 'S.' or "
              "['SYN','ACK']), got " + Describe(fv));
  r->flags = uint8_t(UintField(env, fv, "flags", 0xff, -1));
  r->window = uint16_t(UintField(env, spec.Get("window"), "window", 0xffff, 65535));
  r->urg = uint16_t(UintField(env, spec.Get("urg"), "urg", 0xffff, 0));
  r->tcpSum = ChecksumField(env, spec.Get("checksum"), "checksum");
  r->ipSum = ChecksumField(env, spec.Get("ipChecksum"), "ipChecksum");

  Napi::Value ipv = spec.Get("ip");
  if (!ipv.IsUndefined()) {
    if (!ipv.IsObject() || ipv.IsArray()) ThrowType(env, "ip", "must be an object (IpFields), got " + Describe(ipv));
    Napi::Object ip = ipv.As<Napi::Object>();
    r->ttl = uint8_t(UintField(env, ip.Get("ttl"), "ip.ttl", 0xff, 64));
    r->tos = uint8_t(UintField(env, ip.Get("tos"), "ip.tos", 0xff, 0));
    r->id = uint16_t(UintField(env, ip.Get("id"), "ip.id", 0xffff, 0));
    r->df = BoolField(env, ip.Get("df"), "ip.df", true);
    r->flowLabel = UintField(env, ip.Get("flowLabel"), "ip.flowLabel", 0xfffff, 0);
    if (v4 && r->flowLabel != 0) ThrowType(env, "ip.flowLabel", "is IPv6 only; leave it out (or 0) for IPv4");
    if (!v4 && r->id != 0) ThrowType(env, "ip.id", "is IPv4 only; leave it out (or 0) for IPv6");
  }
  if (!v4 && r->ipSum.mode != SumChoice::kAuto)
    ThrowType(env, "ipChecksum", "IPv6 has no header checksum; leave it out for IPv6");

  std::vector<std::string> raw;
  EncodeOptions(env, spec.Get("options"), r, &raw);

  std::string payload;
  BytesField(env, spec.Get("payload"), "payload", true, &payload);
  r->payload = reinterpret_cast<const uint8_t*>(payload.data());
  r->payloadLen = payload.size();
  if (r->payloadLen > r->MaxPayload()) {
    const size_t tcpHdr = r->TcpHeaderLen();
    ThrowRange(env, "payload",
               "is " + std::to_string(payload.size()) + " bytes; with " + std::to_string(tcpHdr) +
                   " bytes of TCP header it exceeds the IP length limit (at most " + std::to_string(r->MaxPayload()) +
                   " bytes)");
  }
  Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::New(env, r->EmitLen());
  r->Emit(buf.Data());
  return buf;
}

// ---------------------------------------------------------------------------------------------
// decode (the capture hot path). V8 adds properties slowly from C++ (one map transition per
// napi_set_property), so the repr goes into a shared Uint32Array (layout: DecodeSlot in layout.json) and
// one call into a small JS function, compiled at init, builds the result from object literals with fixed
// shapes. The function names its slots (@name); init puts in the numbers, so the compiled code still
// indexes by constants.
// ---------------------------------------------------------------------------------------------

// Option records from DecodeSlot::optStart: a code, then fields. Codes are the TCP kinds, plus kRawCode.
constexpr uint32_t kRawCode = 256;
constexpr size_t kScratchWords = DecodeSlot::optStart + 40 * 4;  // no record takes more than 4 words per option byte

const char kAssembleJs[] = R"JS(
(function (s) {
  'use strict';
  const ST = @statusNames;
  const copy = (f, off, len) => Buffer.copyBytesFrom(f, off, len);
  function seg(frame, src, dst, flags, warnings) {
    const options = [];
    let k = @optStart;
    for (let i = s[@optCount]; i > 0; i--) {
      const c = s[k++];
      switch (c) {  // TCP option kinds; @rawCode: kept as raw
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
        family: s[@family], src, dst, sport: s[@sport], dport: s[@dport], seq: s[@seq], ack: s[@ack],
        flagBits: s[@flagBits], flags, window: s[@window], urg: s[@urg], options,
        payload: copy(frame, s[@payloadOff], s[@payloadLen]),
        ip: { ttl: s[@ttl], id: s[@id], df: s[@df] === 1, tos: s[@tos], flowLabel: s[@flow] },
        checksum: { ip: ST[s[@ipStatus]], tcp: ST[s[@tcpStatus]], tcpValue: s[@tcpValue] },
        ipLength: s[@ipLength],
      },
      warnings: warnings === undefined ? [] : warnings,
    };
  }
  function fail(error, layer) { return { ok: false, error, layer }; }
  return [seg, fail];
})
)JS";

// kAssembleJs with each @name replaced by its value; an unknown name is a bug here, caught at load.
std::string AssembleSource() {
  std::unordered_map<std::string, std::string> v;
#define TCPLAB_SLOT(name, value) v[#name] = #value;
  TCPLAB_DECODESLOT(TCPLAB_SLOT)
#undef TCPLAB_SLOT
  std::string st = "[";
#define TCPLAB_STATUS(name, value) st += std::string(value ? ", " : "") + "'" #name "'";
  TCPLAB_CHECKSUMSTATUS(TCPLAB_STATUS)
#undef TCPLAB_STATUS
  v["statusNames"] = st + "]";
  v["rawCode"] = std::to_string(kRawCode);
  std::string out;
  const std::string in = kAssembleJs;
  for (size_t i = 0; i < in.size();) {
    if (in[i] != '@') {
      out += in[i++];
      continue;
    }
    size_t j = i + 1;
    while (j < in.size() && (std::isalnum(static_cast<unsigned char>(in[j])))) j++;
    auto it = v.find(in.substr(i + 1, j - i - 1));
    if (it == v.end()) throw std::logic_error("segment.cc: the decode assembler names an unknown slot " + in.substr(i, j - i));
    out += it->second;
    i = j;
  }
  return out;
}

struct SegmentData {
  napi_ref seg = nullptr;   // JS seg(frame, src, dst, flags, warnings?)
  napi_ref fail = nullptr;  // JS fail(error, layer)
  napi_ref scratch = nullptr;
  uint32_t* s = nullptr;  // the scratch words, shared with JS
  SegmentRepr repr;       // reused: decode runs on the JS thread only
  ParseError err;
  std::vector<std::string> warn;
};

void FinalizeSegmentData(napi_env env, void* data, void*) {
  std::unique_ptr<SegmentData> d(static_cast<SegmentData*>(data));
  for (napi_ref r : {d->seg, d->fail, d->scratch})
    if (r) napi_delete_reference(env, r);
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

// The repr's options as records from s[optStart]; returns their count.
uint32_t PutOptions(const SegmentRepr& r, uint32_t* s) {
  uint32_t* w = s + DecodeSlot::optStart;
  for (size_t i = 0; i < r.optionCount; i++) {
    const TcpOptionRepr& o = r.options[i];
    switch (o.type) {
      case TcpOptionRepr::kEol: *w++ = wire::opt::kEol; break;
      case TcpOptionRepr::kNop: *w++ = wire::opt::kNop; break;
      case TcpOptionRepr::kMss: *w++ = wire::opt::kMss, *w++ = o.a; break;
      case TcpOptionRepr::kWscale: *w++ = wire::opt::kWscale, *w++ = o.a; break;
      case TcpOptionRepr::kSackOk: *w++ = wire::opt::kSackOk; break;
      case TcpOptionRepr::kSack:
        *w++ = wire::opt::kSack, *w++ = o.blocks;
        for (size_t j = 0; j < o.blocks; j++) *w++ = o.sack[j][0], *w++ = o.sack[j][1];
        break;
      case TcpOptionRepr::kTs: *w++ = wire::opt::kTs, *w++ = o.a, *w++ = o.b; break;
      case TcpOptionRepr::kRaw: *w++ = kRawCode, *w++ = o.a, *w++ = uint32_t(o.dataOff), *w++ = uint32_t(o.dataLen); break;
    }
  }
  return uint32_t(r.optionCount);
}

napi_value DecodeFrame(napi_env env, SegmentData* d, napi_value frame, const uint8_t* f, size_t n, Link link,
                       bool offloaded) {
  d->warn.clear();
  SegmentRepr& r = d->repr;
  if (!Parse(f, n, link, offloaded, &r, &d->err, &d->warn)) return Fail(env, d, d->err.message, d->err.layer);
  uint32_t* s = d->s;
  s[DecodeSlot::family] = uint32_t(r.family);
  s[DecodeSlot::sport] = r.sport;
  s[DecodeSlot::dport] = r.dport;
  s[DecodeSlot::seq] = r.seq;
  s[DecodeSlot::ack] = r.ack;
  s[DecodeSlot::flagBits] = r.flags;
  s[DecodeSlot::window] = r.window;
  s[DecodeSlot::urg] = r.urg;
  s[DecodeSlot::ttl] = r.ttl;
  s[DecodeSlot::id] = r.id;
  s[DecodeSlot::df] = r.df ? 1 : 0;
  s[DecodeSlot::tos] = r.tos;
  s[DecodeSlot::flow] = r.flowLabel;
  s[DecodeSlot::ipStatus] = uint32_t(r.ipStatus);
  s[DecodeSlot::tcpStatus] = uint32_t(r.tcpStatus);
  s[DecodeSlot::tcpValue] = r.tcpValue;
  s[DecodeSlot::ipLength] = uint32_t(r.ipLength);
  s[DecodeSlot::payloadOff] = uint32_t(r.payloadOff);
  s[DecodeSlot::payloadLen] = uint32_t(r.payloadLen);
  s[DecodeSlot::optCount] = PutOptions(r, s);

  const int af = r.family == 4 ? AF_INET : AF_INET6;
  char srcStr[INET6_ADDRSTRLEN], dstStr[INET6_ADDRSTRLEN], fl[10];
  inet_ntop(af, r.src, srcStr, sizeof srcStr);
  inet_ntop(af, r.dst, dstStr, sizeof dstStr);
  size_t fn = FormatFlags(r.flags, fl);
  napi_value argv[5];
  argv[0] = frame;
  argv[1] = Str(env, srcStr, std::strlen(srcStr));
  argv[2] = Str(env, dstStr, std::strlen(dstStr));
  argv[3] = Str(env, fl, fn);
  if (d->warn.empty()) {
    NAPI_OK(napi_get_undefined(env, &argv[4]));
  } else {
    NAPI_OK(napi_create_array_with_length(env, d->warn.size(), &argv[4]));
    for (size_t i = 0; i < d->warn.size(); i++) {
      napi_value w;
      NAPI_OK(napi_create_string_utf8(env, d->warn[i].data(), d->warn[i].size(), &w));
      NAPI_OK(napi_set_element(env, argv[4], uint32_t(i), w));
    }
  }
  napi_value fn_, undef, res;
  NAPI_OK(napi_get_reference_value(env, d->seg, &fn_));
  NAPI_OK(napi_get_undefined(env, &undef));
  NAPI_OK(napi_call_function(env, undef, fn_, 5, argv, &res));
  return res;
}

// 'ethernet' | 'sll' | 'raw' or a DLT number; false: not one decode() reads.
bool ParseLink(napi_env env, napi_value v, Link* out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return false;
  if (t == napi_string) {
    char s[16];
    size_t n = 0;
    if (napi_get_value_string_latin1(env, v, s, sizeof s, &n) != napi_ok) return false;
    if (!std::strcmp(s, "ethernet")) return *out = Link::kEthernet, true;
    if (!std::strcmp(s, "sll")) return *out = Link::kSll, true;
    if (!std::strcmp(s, "raw")) return *out = Link::kRaw, true;
  } else if (t == napi_number) {
    int32_t dlt = -1;
    napi_get_value_int32(env, v, &dlt);
    if (dlt == 1) return *out = Link::kEthernet, true;
    if (dlt == 113) return *out = Link::kSll, true;
    if (dlt == 101 || dlt == 12 || dlt == 228 || dlt == 229) return *out = Link::kRaw, true;
  }
  return false;
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
    Link link;
    if (!ParseLink(env, argv[1], &link))
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
  const std::string source = AssembleSource();
  napi_value script, factory, pair;
  NAPI_THROW_IF_FAILED_VOID(env, napi_create_string_utf8(env, source.data(), source.size(), &script));
  NAPI_THROW_IF_FAILED_VOID(env, napi_run_script(env, script, &factory));
  napi_value arg = scratch;
  NAPI_THROW_IF_FAILED_VOID(env, napi_call_function(env, exports, factory, 1, &arg, &pair));
  Napi::Array fns(env, pair);

  auto owned = std::make_unique<SegmentData>();
  owned->s = static_cast<uint32_t*>(ab.Data());
  SegmentData* d = owned.get();
  napi_value fn;
  if (napi_create_reference(env, fns.Get(0u), 1, &d->seg) != napi_ok ||
      napi_create_reference(env, fns.Get(1u), 1, &d->fail) != napi_ok ||
      napi_create_reference(env, scratch, 1, &d->scratch) != napi_ok ||
      napi_create_function(env, "decode", NAPI_AUTO_LENGTH, Decode, d, &fn) != napi_ok ||
      napi_add_finalizer(env, fn, d, FinalizeSegmentData, nullptr, nullptr) != napi_ok) {
    FinalizeSegmentData(env, owned.release(), nullptr);
    throw Napi::Error::New(env, "tcplab: cannot set up segment decode");
  }
  owned.release();  // the finalizer owns it now
  exports.Set("decode", Napi::Value(env, fn));
  exports.Set("encode", Napi::Function::New(env, Encode, "encode"));
  exports.Set("formatFlags", Napi::Function::New(env, FormatFlagsJs, "formatFlags"));
}

}  // namespace tcplab

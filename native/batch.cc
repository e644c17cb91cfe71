// decodeBatch(buf, recs, n, out): the capture hot path of `tcplab inspect`. One call decodes a whole batch of
// frames into flat uint32 records (layout: BatchIn/BatchOut in native/layout.json) instead of one JS object per packet: no
// strings, no allocation, no checksums (production captures are full of NIC-offloaded ones; tshark does not
// check them by default either). Headers must be captured; the payload need not be (snaplen-cut frames:
// the payload length comes from the IP length field). Never reads outside buf; never throws for bad frames.
#include <napi.h>

#include <cstdint>

#include "layout.h"
#include "modules.h"
#include "wire_view.h"

namespace tcplab {
namespace {

using namespace wire;

// The record layouts are BatchIn / BatchOut / BatchLink / BatchStatus / BatchOpt in native/layout.json.
uint32_t Skip(Fault f) {
  switch (f) {
    case Fault::kNotIp: return BatchStatus::notIp;
    case Fault::kNotTcp: return BatchStatus::notTcp;
    case Fault::kV4Fragment: case Fault::kV6Fragment: return BatchStatus::fragment;
    case Fault::kBadVersion: case Fault::kVersionMismatch: case Fault::kV4HeaderLen: case Fault::kV4TotalLen:
    case Fault::kV6PayloadZero: return BatchStatus::badIp;
    case Fault::kTcpShort: case Fault::kTcpDataOffset: return BatchStatus::badTcp;
    default: return BatchStatus::truncated;  // the link header, the IP header or the TCP header was cut
  }
}

// One frame f[0..n) -> o[0..BatchOut::kStride). base: f's offset in the batch buffer (for addrOff).
void DecodeOne(const uint8_t* f, size_t n, uint32_t linkCode, size_t base, uint32_t* o) {
  for (uint32_t i = 0; i < BatchOut::kStride; i++) o[i] = 0;
  Link link;
  switch (linkCode) {
    case BatchLink::ethernet: link = Link::kEthernet; break;
    case BatchLink::sll: link = Link::kSll; break;
    case BatchLink::sll2: link = Link::kSll2; break;
    case BatchLink::loop: link = Link::kLoop; break;
    case BatchLink::raw: link = Link::kRaw; break;
    default: o[BatchOut::status] = BatchStatus::badLink; return;
  }
  LinkInfo li;
  IpInfo in;
  size_t a, b;
  Fault fault = LocateIp(f, n, link, &li, &a, &b);
  // Headers must be captured, the payload need not be (snapped): its length comes from the IP header.
  if (fault == Fault::kNone) fault = LocateTcp(f + li.ipOff, n - li.ipOff, true, &in, &a, &b);
  if (fault != Fault::kNone) {
    o[BatchOut::status] = Skip(fault);
    return;
  }
  const uint8_t* ip = f + li.ipOff;
  const size_t avail = n - li.ipOff;
  if (in.version == 4) {
    o[BatchOut::ipId] = Rd16(ip + ipv4::kId);
    o[BatchOut::addrOff] = uint32_t(base + li.ipOff + ipv4::kSrc);
  } else {
    o[BatchOut::addrOff] = uint32_t(base + li.ipOff + ipv6::kSrc);
  }
  const uint8_t* t = ip + in.hdrLen;
  const size_t tcpHdr = tcp::HeaderLen(t);
  o[BatchOut::family] = uint32_t(in.version);
  o[BatchOut::sport] = Rd16(t + tcp::kSport);
  o[BatchOut::dport] = Rd16(t + tcp::kDport);
  o[BatchOut::seq] = Rd32(t + tcp::kSeq);
  o[BatchOut::ack] = Rd32(t + tcp::kAck);
  o[BatchOut::flags] = t[tcp::kFlags];
  o[BatchOut::window] = Rd16(t + tcp::kWindow);
  o[BatchOut::len] = uint32_t(in.ipLen - in.hdrLen - tcpHdr);
  uint32_t bits = in.ipLen > avail ? uint32_t(BatchOpt::snapped) : 0u;
  // Options: the ones a ladder shows and the analysis needs; malformed ones end the walk quietly.
  OptionIter it(t + tcp::kOptions, tcpHdr - tcp::kMinLen);
  OptionIter::Option op;
  while (it.Next(&op) && op.kind != opt::kEol) {
    if (op.kind == opt::kTs && op.len == 10) {
      bits |= BatchOpt::ts;
      o[BatchOut::tsVal] = Rd32(op.data);
      o[BatchOut::tsEcr] = Rd32(op.data + 4);
    } else if (op.kind == opt::kMss && op.len == 4) {
      bits |= BatchOpt::mss;
      o[BatchOut::mss] = Rd16(op.data);
    } else if (op.kind == opt::kWscale && op.len == 3) {
      bits |= BatchOpt::wscale;
      o[BatchOut::wscale] = op.data[0];
    } else if (op.kind == opt::kSackOk && op.len == 2) {
      bits |= BatchOpt::sackOk;
    } else if (op.kind == opt::kSack) {
      bits |= BatchOpt::sack;
    }
  }
  o[BatchOut::opts] = bits;
}

template <typename T>
bool Typed(napi_env env, napi_value v, napi_typedarray_type want, T** data, size_t* len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  void* p = nullptr;
  if (napi_get_typedarray_info(env, v, &type, len, &p, nullptr, nullptr) != napi_ok) return false;
  if (type != want && !(want == napi_uint8_array && type == napi_uint8_clamped_array)) return false;
  *data = static_cast<T*>(p);
  return true;
}

// decodeBatch(buf: Uint8Array, recs: Uint32Array, n: number, out: Uint32Array) -> n
Napi::Value DecodeBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) throw Napi::TypeError::New(env, "decodeBatch(buf, recs, n, out): 4 arguments");
  const uint8_t* buf;
  const uint32_t* recs;
  uint32_t* out;
  size_t bufLen, recLen, outLen;
  if (!Typed(env, info[0], napi_uint8_array, &buf, &bufLen)) throw Napi::TypeError::New(env, "buf: must be a Uint8Array");
  if (!Typed(env, info[1], napi_uint32_array, &recs, &recLen)) throw Napi::TypeError::New(env, "recs: must be a Uint32Array");
  if (!Typed(env, info[3], napi_uint32_array, &out, &outLen)) throw Napi::TypeError::New(env, "out: must be a Uint32Array");
  if (!info[2].IsNumber()) throw Napi::TypeError::New(env, "n: must be a number");
  const double nd = info[2].As<Napi::Number>().DoubleValue();
  if (!(nd >= 0) || nd * BatchIn::kStride > double(recLen) || nd * BatchOut::kStride > double(outLen))
    throw Napi::RangeError::New(env, "n: more records than recs or out hold");
  const size_t n = size_t(nd);
  for (size_t i = 0; i < n; i++) {
    const uint32_t* r = recs + i * BatchIn::kStride;
    uint32_t* o = out + i * BatchOut::kStride;
    const size_t off = r[BatchIn::offset], len = r[BatchIn::length];
    // A record pointing outside the buffer is the caller's bug; mark it instead of reading past the end.
    if (off > bufLen || len > bufLen - off) {
      for (uint32_t k = 0; k < BatchOut::kStride; k++) o[k] = 0;
      o[BatchOut::status] = BatchStatus::truncated;
      continue;
    }
    DecodeOne(buf + off, len, r[BatchIn::link], off, o);
  }
  return Napi::Number::New(env, double(n));
}

}  // namespace

void InitBatch(Napi::Env env, Napi::Object exports) {
  exports.Set("decodeBatch", Napi::Function::New(env, DecodeBatch, "decodeBatch"));
  exports.Set("batchOutStride", Napi::Number::New(env, BatchOut::kStride));
}

}  // namespace tcplab

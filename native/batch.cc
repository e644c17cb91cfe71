// decodeBatch(buf, recs, n, out): the capture hot path of `tcplab inspect`. One call decodes a whole batch of
// frames into flat uint32 records (layout: src/wire/batch.ts) instead of one JS object per packet: no
// strings, no allocation, no checksums (production captures are full of NIC-offloaded ones; tshark does not
// check them by default either). Headers must be captured; the payload need not be (snaplen-cut frames:
// the payload length comes from the IP length field). Never reads outside buf; never throws for bad frames.
#include <napi.h>

#include <cstdint>

#include "modules.h"

namespace tcplab {
namespace {

// Record in: [offset, captured length, link] per frame. Link codes (src/wire/batch.ts BatchLink).
enum BatchLink : uint32_t { kEth = 0, kSll = 1, kRawIp = 2, kSll2 = 3, kLoop = 4 };
constexpr uint32_t kInStride = 3;

// Record out (kOutStride words).
enum : uint32_t {
  oStatus, oFamily, oSport, oDport, oSeq, oAck, oFlags, oWindow, oLen, oIpId, oOpts, oTsVal, oTsEcr, oMss,
  oWscale, oAddrOff, kOutStride
};
// oStatus: 0 ok, else why skipped.
enum : uint32_t { kOk = 0, kNotIp, kNotTcp, kFragment, kTruncated, kBadIp, kBadLink, kBadTcp };
// oOpts bits
enum : uint32_t { kHasTs = 1, kHasMss = 2, kHasWs = 4, kHasSackOk = 8, kHasSack = 16, kSnapped = 32 };

inline uint16_t Rd16(const uint8_t* p) { return uint16_t((p[0] << 8) | p[1]); }
inline uint32_t Rd32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}

// One frame f[0..n) -> o[0..kOutStride). base: f's offset in the batch buffer (for oAddrOff).
void DecodeOne(const uint8_t* f, size_t n, uint32_t link, size_t base, uint32_t* o) {
  for (uint32_t i = 0; i < kOutStride; i++) o[i] = 0;
  size_t off = 0;
  uint32_t ethertype = 0;
  switch (link) {
    case kEth:
      if (n < 14) { o[oStatus] = kTruncated; return; }
      ethertype = Rd16(f + 12);
      off = 14;
      for (int tags = 0; (ethertype == 0x8100 || ethertype == 0x88a8) && tags < 2; tags++) {
        if (n < off + 4) { o[oStatus] = kTruncated; return; }
        ethertype = Rd16(f + off + 2);
        off += 4;
      }
      break;
    case kSll:
      if (n < 16) { o[oStatus] = kTruncated; return; }
      ethertype = Rd16(f + 14);
      off = 16;
      break;
    case kSll2:
      if (n < 20) { o[oStatus] = kTruncated; return; }
      ethertype = Rd16(f);
      off = 20;
      break;
    case kLoop:
      if (n < 5) { o[oStatus] = kTruncated; return; }
      off = 4;  // the family word's byte order varies: the IP version decides
      ethertype = (f[4] >> 4) == 6 ? 0x86dd : (f[4] >> 4) == 4 ? 0x0800 : 0;
      break;
    case kRawIp:
      if (n < 1) { o[oStatus] = kTruncated; return; }
      ethertype = (f[0] >> 4) == 6 ? 0x86dd : 0x0800;
      break;
    default:
      o[oStatus] = kBadLink;
      return;
  }
  if (ethertype != 0x0800 && ethertype != 0x86dd) { o[oStatus] = kNotIp; return; }
  const uint8_t* ip = f + off;
  const size_t avail = n - off;
  if (avail < 1) { o[oStatus] = kTruncated; return; }
  const int version = ip[0] >> 4;
  if ((ethertype == 0x0800 && version != 4) || (ethertype == 0x86dd && version != 6)) { o[oStatus] = kBadIp; return; }
  size_t ipHdr, ipLen;
  if (version == 4) {
    if (avail < 20) { o[oStatus] = kTruncated; return; }
    ipHdr = size_t(ip[0] & 0x0f) * 4;
    ipLen = Rd16(ip + 2);
    if (ipHdr < 20 || ipLen < ipHdr) { o[oStatus] = kBadIp; return; }
    if (avail < ipHdr) { o[oStatus] = kTruncated; return; }
    if (Rd16(ip + 6) & 0x3fff) { o[oStatus] = kFragment; return; }
    if (ip[9] != 6) { o[oStatus] = kNotTcp; return; }
    o[oIpId] = Rd16(ip + 4);
    o[oAddrOff] = uint32_t(base + off + 12);
  } else {
    if (avail < 40) { o[oStatus] = kTruncated; return; }
    const size_t plen = Rd16(ip + 4);
    if (plen == 0) { o[oStatus] = kBadIp; return; }
    ipLen = 40 + plen;
    uint8_t next = ip[6];
    ipHdr = 40;
    for (int guard = 0; next != 6; guard++) {
      if (next == 44) { o[oStatus] = kFragment; return; }
      if ((next != 0 && next != 43 && next != 60) || guard >= 8) { o[oStatus] = kNotTcp; return; }
      if (ipHdr + 8 > avail || ipHdr + 8 > ipLen) { o[oStatus] = kTruncated; return; }
      const size_t ext = (size_t(ip[ipHdr + 1]) + 1) * 8;
      next = ip[ipHdr];
      ipHdr += ext;
    }
    o[oAddrOff] = uint32_t(base + off + 8);
  }
  if (ipHdr + 20 > ipLen) { o[oStatus] = kBadTcp; return; }
  if (ipHdr + 20 > avail) { o[oStatus] = kTruncated; return; }
  const uint8_t* t = ip + ipHdr;
  const size_t tcpHdr = size_t(t[12] >> 4) * 4;
  if (tcpHdr < 20 || ipHdr + tcpHdr > ipLen) { o[oStatus] = kBadTcp; return; }
  if (ipHdr + tcpHdr > avail) { o[oStatus] = kTruncated; return; }
  o[oFamily] = uint32_t(version);
  o[oSport] = Rd16(t);
  o[oDport] = Rd16(t + 2);
  o[oSeq] = Rd32(t + 4);
  o[oAck] = Rd32(t + 8);
  o[oFlags] = t[13];
  o[oWindow] = Rd16(t + 14);
  o[oLen] = uint32_t(ipLen - ipHdr - tcpHdr);
  uint32_t bits = ipLen > avail ? kSnapped : 0;
  // Options: the ones a ladder shows and the analysis needs; malformed ones end the walk quietly.
  const uint8_t* p = t + 20;
  const size_t m = tcpHdr - 20;
  for (size_t i = 0; i < m;) {
    const uint8_t kind = p[i];
    if (kind == 0) break;
    if (kind == 1) { i++; continue; }
    if (i + 1 >= m) break;
    const size_t len = p[i + 1];
    if (len < 2 || i + len > m) break;
    if (kind == 8 && len == 10) {
      bits |= kHasTs;
      o[oTsVal] = Rd32(p + i + 2);
      o[oTsEcr] = Rd32(p + i + 6);
    } else if (kind == 2 && len == 4) {
      bits |= kHasMss;
      o[oMss] = Rd16(p + i + 2);
    } else if (kind == 3 && len == 3) {
      bits |= kHasWs;
      o[oWscale] = p[i + 2];
    } else if (kind == 4 && len == 2) {
      bits |= kHasSackOk;
    } else if (kind == 5) {
      bits |= kHasSack;
    }
    i += len;
  }
  o[oOpts] = bits;
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
  if (!(nd >= 0) || nd * kInStride > double(recLen) || nd * kOutStride > double(outLen))
    throw Napi::RangeError::New(env, "n: more records than recs or out hold");
  const size_t n = size_t(nd);
  for (size_t i = 0; i < n; i++) {
    const uint32_t* r = recs + i * kInStride;
    uint32_t* o = out + i * kOutStride;
    const size_t off = r[0], len = r[1];
    // A record pointing outside the buffer is the caller's bug; mark it instead of reading past the end.
    if (off > bufLen || len > bufLen - off) {
      for (uint32_t k = 0; k < kOutStride; k++) o[k] = 0;
      o[oStatus] = kTruncated;
      continue;
    }
    DecodeOne(buf + off, len, r[2], off, o);
  }
  return Napi::Number::New(env, double(n));
}

}  // namespace

void InitBatch(Napi::Env env, Napi::Object exports) {
  exports.Set("decodeBatch", Napi::Function::New(env, DecodeBatch, "decodeBatch"));
  exports.Set("batchOutStride", Napi::Number::New(env, kOutStride));
}

}  // namespace tcplab

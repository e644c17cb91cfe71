// libFuzzer harness for the native codec without N-API: Parse (segment_repr.cc) on arbitrary frames, the
// view's snapped walk the batch decoder takes (wire_view.h), and Emit -> Parse round trips of whatever
// parsed. Built by .ci/fuzz-native with clang -fsanitize=fuzzer,address,undefined; any sanitizer report or
// broken invariant (abort) is a failure. Input: byte 0 picks the link (and the offloaded flag), the rest is
// the frame. Seeds: test/fuzz/seeds-native.ts writes the in-node fuzzer's corpus in this form.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "segment_repr.h"
#include "wire_view.h"

using namespace tcplab;

namespace {

[[noreturn]] void Broken(const char* what) {
  std::fprintf(stderr, "parse_fuzz: invariant broken: %s\n", what);
  std::abort();
}
#define CHECK(cond) \
  do {              \
    if (!(cond)) Broken(#cond); \
  } while (0)

// The batch decoder's path: the walk with snapped frames allowed, then every option.
void SnappedWalk(const uint8_t* f, size_t n, wire::Link link) {
  wire::LinkInfo li;
  wire::IpInfo in;
  size_t a = 0, b = 0;
  if (wire::LocateIp(f, n, link, &li, &a, &b) != wire::Fault::kNone) return;
  CHECK(li.ipOff < n);
  if (wire::LocateTcp(f + li.ipOff, n - li.ipOff, true, &in, &a, &b) != wire::Fault::kNone) return;
  const uint8_t* t = f + li.ipOff + in.hdrLen;
  const size_t hdr = wire::tcp::HeaderLen(t);
  CHECK(li.ipOff + in.hdrLen + hdr <= n);
  wire::OptionIter it(t + wire::tcp::kOptions, hdr - wire::tcp::kMinLen);
  wire::OptionIter::Option o;
  unsigned sum = 0;
  while (it.Next(&o)) {
    CHECK(o.at + o.len <= hdr - wire::tcp::kMinLen);
    if (o.len > 2) sum += o.data[o.len - 3];  // the last value byte: ASan checks it is inside
  }
  (void)sum;
}

bool SameOption(const TcpOptionRepr& x, const TcpOptionRepr& y) {
  if (x.type != y.type || x.a != y.a || x.b != y.b || x.blocks != y.blocks || x.dataLen != y.dataLen) return false;
  for (size_t j = 0; j < x.blocks; j++)
    if (x.sack[j][0] != y.sack[j][0] || x.sack[j][1] != y.sack[j][1]) return false;
  return x.dataLen == 0 || std::memcmp(x.data, y.data, x.dataLen) == 0;
}

// Parse(Emit(r)) gives r back: fields, options (plus the padding Emit adds), payload, good checksums.
void RoundTrip(const SegmentRepr& r) {
  auto e = std::make_unique<SegmentRepr>(r);
  e->tcpSum = SumChoice();
  e->ipSum = SumChoice();
  CHECK(e->OptionsLen() <= wire::tcp::kMaxOptions);
  if (e->payloadLen > e->MaxPayload()) return;
  std::vector<uint8_t> buf(e->EmitLen());
  e->Emit(buf.data());
  auto back = std::make_unique<SegmentRepr>();
  ParseError err;
  std::vector<std::string> warn;
  if (!Parse(buf.data(), buf.size(), wire::Link::kRaw, false, back.get(), &err, &warn)) {
    std::fprintf(stderr, "parse_fuzz: emitted segment does not parse: %s\n", err.message.c_str());
    std::abort();
  }
  CHECK(back->family == r.family);
  CHECK(std::memcmp(back->src, r.src, r.family == 4 ? 4 : 16) == 0);
  CHECK(std::memcmp(back->dst, r.dst, r.family == 4 ? 4 : 16) == 0);
  CHECK(back->sport == r.sport && back->dport == r.dport && back->seq == r.seq && back->ack == r.ack);
  CHECK(back->flags == r.flags && back->window == r.window && back->urg == r.urg);
  CHECK(back->ttl == r.ttl && back->tos == r.tos && back->flowLabel == r.flowLabel);
  if (r.family == 4) CHECK(back->id == r.id && back->df == r.df && back->ipStatus == SumStatus::kOk);
  CHECK(back->tcpStatus == SumStatus::kOk);
  CHECK(back->payloadLen == r.payloadLen);
  CHECK(r.payloadLen == 0 || std::memcmp(back->payload, r.payload, r.payloadLen) == 0);
  CHECK(back->optionCount >= r.optionCount);
  for (size_t i = 0; i < r.optionCount; i++) CHECK(SameOption(back->options[i], r.options[i]));
  for (size_t i = r.optionCount; i < back->optionCount; i++) CHECK(back->options[i].type == TcpOptionRepr::kNop);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const wire::Link kLinks[] = {wire::Link::kEthernet, wire::Link::kSll, wire::Link::kRaw,
                                      wire::Link::kSll2, wire::Link::kLoop};
  const wire::Link link = kLinks[(data[0] & 0x7f) % 5];
  const bool offloaded = (data[0] & 0x80) != 0;
  // A copy of exactly the frame's size: a read one byte past it is an ASan report.
  std::unique_ptr<uint8_t[]> f(new uint8_t[size - 1 ? size - 1 : 1]);
  std::memcpy(f.get(), data + 1, size - 1);
  const size_t n = size - 1;

  SnappedWalk(f.get(), n, link);
  if (link == wire::Link::kSll2 || link == wire::Link::kLoop) return 0;  // decode() reads ethernet, sll, raw

  auto r = std::make_unique<SegmentRepr>();
  ParseError err;
  std::vector<std::string> warn;
  if (!Parse(f.get(), n, link, offloaded, r.get(), &err, &warn)) {
    CHECK(!err.message.empty() && err.layer != nullptr);
    return 0;
  }
  CHECK(r->family == 4 || r->family == 6);
  CHECK(r->payloadOff + r->payloadLen <= n);
  CHECK(r->optionCount <= SegmentRepr::kMaxOptions);
  for (size_t i = 0; i < r->optionCount; i++) {
    const TcpOptionRepr& o = r->options[i];
    if (o.type == TcpOptionRepr::kRaw) CHECK(o.dataOff + o.dataLen <= n && o.data == f.get() + o.dataOff);
    if (o.type == TcpOptionRepr::kSack) CHECK(o.blocks >= 1 && o.blocks <= 4);
  }
  RoundTrip(*r);
  return 0;
}

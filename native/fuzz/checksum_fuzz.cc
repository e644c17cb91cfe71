// Standalone sanitized harness for native/checksum.cc (no N-API): random buffers of every length and
// alignment against a byte-by-byte reference; incremental updates (RFC 1624) against full recomputation;
// pseudo-header sums of both families. Exits 1 on a mismatch; ASan/UBSan abort on memory/UB errors.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>

#include "checksum.h"

using namespace tcplab;

static uint16_t Reference(const uint8_t* p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; i++) s += (i % 2 == 0) ? uint64_t(p[i]) << 8 : p[i];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s & 0xffff);
}

int main(int argc, char** argv) {
  const long iters = argc > 1 ? std::atol(argv[1]) : 200000;
  std::mt19937_64 rng(12345);
  long bad = 0;
  for (long it = 0; it < iters; it++) {
    const size_t n = rng() % 1600;
    const size_t skew = rng() % 8;  // odd start addresses
    // exactly n bytes after the skew, so ASan sees any read past the end
    std::unique_ptr<uint8_t[]> mem(new uint8_t[skew + n + (n == 0)]);
    uint8_t* p = mem.get() + skew;
    for (size_t i = 0; i < n; i++) p[i] = (it % 5 == 0) ? 0xff : uint8_t(rng());
    const uint16_t got = ChecksumFinish(ChecksumAdd(p, n));
    if (got != Reference(p, n)) {
      if (bad++ < 5) std::fprintf(stderr, "ChecksumAdd: len %zu got %04x want %04x\n", n, got, Reference(p, n));
    }
    if (n >= 2) {
      const size_t at = (rng() % (n / 2)) * 2;
      const uint16_t oldv = uint16_t((p[at] << 8) | p[at + 1]);
      const uint16_t newv = uint16_t(rng());
      const uint16_t upd = ChecksumUpdate16(got, oldv, newv);
      p[at] = uint8_t(newv >> 8);
      p[at + 1] = uint8_t(newv);
      const uint16_t full = ChecksumFinish(ChecksumAdd(p, n));
      // one's complement has two zeros: 0x0000 and 0xffff are the same sum
      if (upd != full && !((upd == 0 || upd == 0xffff) && (full == 0 || full == 0xffff))) {
        if (bad++ < 5) std::fprintf(stderr, "ChecksumUpdate16: len %zu at %zu got %04x want %04x\n", n, at, upd, full);
      }
    }
    const bool v6 = rng() & 1;
    const size_t ipLen = v6 ? 40 : 20;
    std::unique_ptr<uint8_t[]> ip(new uint8_t[ipLen]);
    for (size_t i = 0; i < ipLen; i++) ip[i] = uint8_t(rng());
    ip[0] = uint8_t(v6 ? 0x60 : 0x45);
    const uint32_t tcpLen = uint32_t(rng() % 70000);
    const uint32_t ps = PseudoHeaderSum(ip.get(), ipLen, 6, tcpLen);
    uint64_t want = 6 + (tcpLen & 0xffff) + (tcpLen >> 16);
    const size_t a = v6 ? 8 : 12, b = v6 ? 40 : 20;
    for (size_t i = a; i < b; i += 2) want += (uint32_t(ip[i]) << 8) | ip[i + 1];
    if (ChecksumFinish(ps) != uint16_t(~[&] { uint64_t s = want; while (s >> 16) s = (s & 0xffff) + (s >> 16); return s; }() & 0xffff)) {
      if (bad++ < 5) std::fprintf(stderr, "PseudoHeaderSum mismatch (v%d)\n", v6 ? 6 : 4);
    }
  }
  std::printf("checksum_fuzz: %ld inputs, %ld mismatches\n", iters, bad);
  return bad ? 1 : 0;
}

// IPv4/IPv6 + TCP wire format: the one source of truth for encoding and decoding segments.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tcplab {
// tcpdump flag notation for a flags byte ("S.", "FP.", "none"); writes at most 9 chars + NUL into out.
size_t FormatFlags(uint8_t bits, char out[10]);
}  // namespace tcplab

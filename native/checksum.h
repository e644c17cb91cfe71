// Internet checksum (RFC 1071) helpers shared by the encoder, the decoder and the template sender.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tcplab {
// One's-complement sum of `len` bytes added to `sum` (not folded).
uint32_t ChecksumAdd(const uint8_t* data, size_t len, uint32_t sum = 0);
// Fold to 16 bits and complement: the value to store in a checksum field (host order).
uint16_t ChecksumFinish(uint32_t sum);
// Sum of the IPv4/IPv6 pseudo-header for a transport segment of `tcpLen` bytes, protocol `proto`.
uint32_t PseudoHeaderSum(const uint8_t* ip, size_t ipLen, uint8_t proto, uint32_t tcpLen);
// RFC 1624 incremental update: field changed from `oldv` to `newv` (16-bit, host order).
uint16_t ChecksumUpdate16(uint16_t check, uint16_t oldv, uint16_t newv);
}  // namespace tcplab

#include "checksum.h"

namespace tcplab {

uint32_t ChecksumAdd(const uint8_t* data, size_t len, uint32_t sum) {
  uint64_t s = sum;
  size_t i = 0;
  for (; i + 1 < len; i += 2) s += (uint32_t(data[i]) << 8) | data[i + 1];
  if (i < len) s += uint32_t(data[i]) << 8;
  while (s >> 32) s = (s & 0xffffffffu) + (s >> 32);
  return uint32_t(s);
}

uint16_t ChecksumFinish(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum & 0xffff);
}

uint32_t PseudoHeaderSum(const uint8_t* ip, size_t ipLen, uint8_t proto, uint32_t tcpLen) {
  uint32_t sum = 0;
  if ((ip[0] >> 4) == 4) {
    sum = ChecksumAdd(ip + 12, 8);  // src + dst
  } else {
    sum = ChecksumAdd(ip + 8, 32);  // IPv6 src + dst
  }
  sum += proto;
  sum += tcpLen & 0xffff;
  sum += tcpLen >> 16;
  return sum;
}

uint16_t ChecksumUpdate16(uint16_t check, uint16_t oldv, uint16_t newv) {
  // HC' = ~(~HC + ~m + m')
  uint32_t s = uint16_t(~check) + uint32_t(uint16_t(~oldv)) + newv;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return uint16_t(~s);
}

}  // namespace tcplab

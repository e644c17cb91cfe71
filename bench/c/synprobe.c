// Baseline SYN -> SYN-ACK prober: sends COUNT SYNs one at a time on a raw IPv4 socket (IP_HDRINCL) and
// reads its own outgoing SYN and the answering SYN-ACK on an AF_PACKET socket (ETH_P_ALL, SO_TIMESTAMPNS)
// on IFNAME. Latency = kernel timestamp of the SYN-ACK - kernel timestamp of the SYN, as tcplab measures it.
//   synprobe IFNAME HEXSYN COUNT SPORTBASE
// HEXSYN is a 40+ byte IPv4 TCP SYN datagram; each probe gets sport SPORTBASE+i (checksum recomputed).
// Prints the latencies in ns, one per line; lost probes (no answer in 200 ms) print "lost".
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static size_t unhex(const char* s, unsigned char* out, size_t max) {
  size_t n = strlen(s) / 2;
  if (n > max) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned v;
    if (sscanf(s + 2 * i, "%2x", &v) != 1) return 0;
    out[i] = (unsigned char)v;
  }
  return n;
}

static uint32_t sum16(const unsigned char* p, size_t n, uint32_t s) {
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)p[n - 1] << 8;
  return s;
}

static void tcp_checksum(unsigned char* ip, size_t len) {
  size_t ihl = (size_t)(ip[0] & 15) * 4;
  unsigned char* tcp = ip + ihl;
  size_t tl = len - ihl;
  tcp[16] = tcp[17] = 0;
  uint32_t s = sum16(ip + 12, 8, 0) + 6 + (uint32_t)tl;
  s = sum16(tcp, tl, s);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  uint16_t c = (uint16_t)~s;
  tcp[16] = (unsigned char)(c >> 8);
  tcp[17] = (unsigned char)c;
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s IFNAME HEXSYN COUNT SPORTBASE\n", argv[0]);
    return 2;
  }
  unsigned char syn[256];
  size_t len = unhex(argv[2], syn, sizeof syn);
  if (len < 40 || (syn[0] >> 4) != 4 || syn[9] != IPPROTO_TCP) { fprintf(stderr, "bad SYN\n"); return 2; }
  size_t ihl = (size_t)(syn[0] & 15) * 4;
  int count = atoi(argv[3]);
  int sport0 = atoi(argv[4]);
  int ifindex = (int)if_nametoindex(argv[1]);
  if (!ifindex) { perror("if_nametoindex"); return 1; }

  int tx = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (tx < 0) { perror("socket raw"); return 1; }
  int one = 1;
  setsockopt(tx, IPPROTO_IP, IP_HDRINCL, &one, sizeof one);
  setsockopt(tx, SOL_SOCKET, SO_BINDTODEVICE, argv[1], (socklen_t)strlen(argv[1]));
  int rx = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (rx < 0) { perror("socket packet"); return 1; }
  setsockopt(rx, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = ifindex;
  if (bind(rx, (struct sockaddr*)&sll, sizeof sll) < 0) { perror("bind"); return 1; }
  struct sockaddr_in dst = {0};
  dst.sin_family = AF_INET;
  memcpy(&dst.sin_addr, syn + 16, 4);
  uint16_t dport = (uint16_t)(syn[ihl + 2] << 8 | syn[ihl + 3]);

  unsigned char buf[2048];
  char ctrl[256];
  for (int i = 0; i < count; i++) {
    uint16_t sport = (uint16_t)(sport0 + i);
    syn[ihl] = (unsigned char)(sport >> 8);
    syn[ihl + 1] = (unsigned char)sport;
    tcp_checksum(syn, len);
    if (sendto(tx, syn, len, 0, (struct sockaddr*)&dst, sizeof dst) < 0) { perror("sendto"); return 1; }
    int64_t tsyn = 0, tack = 0, deadline = now_ns() + 200000000;
    while (!tack && now_ns() < deadline) {
      struct iovec iov = {buf, sizeof buf};
      struct sockaddr_ll from;
      struct msghdr m = {0};
      m.msg_name = &from;
      m.msg_namelen = sizeof from;
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = ctrl;
      m.msg_controllen = sizeof ctrl;
      ssize_t n = recvmsg(rx, &m, 0);
      if (n < 0) {
        if (errno == EAGAIN) {
          struct pollfd p = {rx, POLLIN, 0};
          poll(&p, 1, 50);
        }
        continue;
      }
      if (n < 14 + 40 || buf[12] != 0x08 || buf[13] != 0x00) continue;
      unsigned char* ip = buf + 14;
      if (ip[9] != IPPROTO_TCP) continue;
      unsigned char* tcp = ip + (ip[0] & 15) * 4;
      uint16_t sp = (uint16_t)(tcp[0] << 8 | tcp[1]), dp = (uint16_t)(tcp[2] << 8 | tcp[3]);
      int64_t ts = 0;
      for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          struct timespec t;
          memcpy(&t, CMSG_DATA(c), sizeof t);
          ts = (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
        }
      }
      if (from.sll_pkttype == PACKET_OUTGOING && sp == sport && dp == dport && (tcp[13] & 0x12) == 0x02) tsyn = ts;
      else if (from.sll_pkttype != PACKET_OUTGOING && sp == dport && dp == sport && (tcp[13] & 0x12) == 0x12) tack = ts;
    }
    if (tsyn && tack) printf("%lld\n", (long long)(tack - tsyn));
    else printf("lost\n");
  }
  return 0;
}

// Baseline sender: AF_PACKET SOCK_RAW + sendmmsg of one prebuilt Ethernet/IPv4/TCP frame, as fast as the
// kernel takes it, for a fixed time. Usage: sendmmsg IFNAME DSTMAC SRCIP DSTIP SECONDS
// Prints "sent N pps P". The TCP checksum is deliberately wrong so the receiving kernel drops it quietly.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s IFNAME DSTMAC SRCIP DSTIP SECONDS\n", argv[0]);
    return 2;
  }
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) { perror("socket"); return 1; }
  struct ifreq ifr = {0};
  strncpy(ifr.ifr_name, argv[1], IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) { perror("SIOCGIFINDEX"); return 1; }
  int ifindex = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) { perror("SIOCGIFHWADDR"); return 1; }
  unsigned char f[54] = {0};
  unsigned m[6];
  if (sscanf(argv[2], "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) { fprintf(stderr, "bad mac\n"); return 2; }
  for (int i = 0; i < 6; i++) f[i] = (unsigned char)m[i];
  memcpy(f + 6, ifr.ifr_hwaddr.sa_data, 6);
  f[12] = 0x08;
  unsigned char* ip = f + 14;
  ip[0] = 0x45; ip[3] = 40; ip[5] = 1; ip[6] = 0x40; ip[8] = 64; ip[9] = 6;
  inet_pton(AF_INET, argv[3], ip + 12);
  inet_pton(AF_INET, argv[4], ip + 16);
  unsigned sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (ip[i] << 8) | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip[10] = (unsigned char)(~sum >> 8); ip[11] = (unsigned char)~sum;
  unsigned char* tcp = ip + 20;
  tcp[0] = 0x9c; tcp[1] = 0x40; tcp[3] = 9; tcp[12] = 0x50; tcp[13] = 0x10; tcp[14] = 0xff; tcp[15] = 0xff;
  tcp[16] = 0xde; tcp[17] = 0xad;  // wrong on purpose

  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = ifindex;
  sll.sll_protocol = htons(ETH_P_IP);
  enum { B = 256 };
  struct iovec iov[B];
  struct mmsghdr msgs[B];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < B; i++) {
    iov[i].iov_base = f;
    iov[i].iov_len = sizeof f;
    msgs[i].msg_hdr.msg_name = &sll;
    msgs[i].msg_hdr.msg_namelen = sizeof sll;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  double secs = atof(argv[5]);
  double t0 = now(), end = t0 + secs;
  unsigned long long sent = 0;
  while (now() < end) {
    int r = sendmmsg(fd, msgs, B, 0);
    if (r < 0) { perror("sendmmsg"); return 1; }
    sent += (unsigned)r;
  }
  double dt = now() - t0;
  printf("sent %llu pps %.0f\n", sent, sent / dt);
  return 0;
}

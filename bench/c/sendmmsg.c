// Baseline sender: sendmmsg (batches of 256) of one prebuilt packet, as fast as the kernel takes it (or
// paced to PPS), for a fixed time. The bytes come from the caller (hex), so the baseline sends exactly
// what tcplab sends.
//   sendmmsg packet IFNAME HEXFRAME SECONDS [PPS]     AF_PACKET SOCK_RAW, whole Ethernet frame
//   sendmmsg raw    IFNAME HEXDATAGRAM SECONDS [PPS]  raw IPv4 socket, IP_HDRINCL, destination from the header
// Prints "sent N secs S enobufs E user U sys Y" (CPU seconds of this process). ENOBUFS (qdisc full) is counted and retried, not fatal.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

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

int main(int argc, char** argv) {
  if (argc < 5 || argc > 6) {
    fprintf(stderr, "usage: %s packet|raw IFNAME HEX SECONDS [PPS]\n", argv[0]);
    return 2;
  }
  int raw = strcmp(argv[1], "raw") == 0;
  unsigned char pkt[2048];
  size_t len = unhex(argv[3], pkt, sizeof pkt);
  if (len < 20) { fprintf(stderr, "bad hex packet\n"); return 2; }
  double secs = atof(argv[4]);
  double pps = argc == 6 ? atof(argv[5]) : 0;
  int ifindex = (int)if_nametoindex(argv[2]);
  if (!ifindex) { perror("if_nametoindex"); return 1; }

  struct sockaddr_ll sll = {0};
  struct sockaddr_in sin = {0};
  void* name;
  socklen_t namelen;
  int fd;
  if (raw) {
    fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (fd < 0) { perror("socket"); return 1; }
    int one = 1;
    if (setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof one) < 0) { perror("IP_HDRINCL"); return 1; }
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, argv[2], (socklen_t)strlen(argv[2])) < 0) { perror("SO_BINDTODEVICE"); return 1; }
    sin.sin_family = AF_INET;
    memcpy(&sin.sin_addr, pkt + 16, 4);
    name = &sin;
    namelen = sizeof sin;
  } else {
    fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0) { perror("socket"); return 1; }
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = ifindex;
    memcpy(&sll.sll_protocol, pkt + 12, 2);
    name = &sll;
    namelen = sizeof sll;
  }
  int sndbuf = 4 << 20;  // as tcplab's senders
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

  enum { B = 256 };
  struct iovec iov[B];
  struct mmsghdr msgs[B];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < B; i++) {
    iov[i].iov_base = pkt;
    iov[i].iov_len = len;
    msgs[i].msg_hdr.msg_name = name;
    msgs[i].msg_hdr.msg_namelen = namelen;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  // Paced: batches of 32 released on schedule, so the rate is even at the scale of a socket buffer.
  int batch = pps > 0 ? 32 : B;
  double t0 = now(), end = t0 + secs;
  unsigned long long sent = 0, enobufs = 0;
  for (;;) {
    double t = now();
    if (t >= end) break;
    if (pps > 0) {
      double due = t0 + (double)sent / pps;
      if (due > t) {
        if (due - t > 200e-6) {
          struct timespec ts = {0, (long)((due - t) * 1e9)};
          nanosleep(&ts, NULL);
        }
        continue;
      }
    }
    int r = sendmmsg(fd, msgs, (unsigned)batch, 0);
    if (r < 0) {
      if (errno == ENOBUFS || errno == EAGAIN) { enobufs++; continue; }
      if (errno == EINTR) continue;
      perror("sendmmsg");
      return 1;
    }
    sent += (unsigned)r;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("sent %llu secs %.6f enobufs %llu user %.6f sys %.6f\n", sent, now() - t0, enobufs,
         ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
  return 0;
}

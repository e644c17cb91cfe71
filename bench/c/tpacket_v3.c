// Baseline reader: TPACKET_V3 ring on one interface (ETH_P_ALL), poll(2) loop, counts packets until
// SIGINT/SIGTERM (or MAXSECONDS). Usage: tpacket_v3 IFNAME MAXSECONDS.
// Prints "received N drops D user U sys S" (N counted from the ring, D from PACKET_STATISTICS, U and S
// the CPU seconds of this process).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s IFNAME MAXSECONDS\n", argv[0]);
    return 2;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;  // no SA_RESTART: poll returns EINTR
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) { perror("socket"); return 1; }
  int v = TPACKET_V3;
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) { perror("PACKET_VERSION"); return 1; }
  struct tpacket_req3 req = {0};
  req.tp_block_size = 1 << 20;
  req.tp_block_nr = 64;
  req.tp_frame_size = 2048;
  req.tp_frame_nr = req.tp_block_size / req.tp_frame_size * req.tp_block_nr;
  req.tp_retire_blk_tov = 10;
  if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) { perror("PACKET_RX_RING"); return 1; }
  size_t len = (size_t)req.tp_block_size * req.tp_block_nr;
  unsigned char* ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED, fd, 0);
  if (ring == MAP_FAILED) ring = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (ring == MAP_FAILED) { perror("mmap"); return 1; }
  struct sockaddr_ll sll = {0};
  sll.sll_family = AF_PACKET;
  sll.sll_protocol = htons(ETH_P_ALL);
  sll.sll_ifindex = (int)if_nametoindex(argv[1]);
  if (!sll.sll_ifindex) { perror("if_nametoindex"); return 1; }
  if (bind(fd, (struct sockaddr*)&sll, sizeof sll) < 0) { perror("bind"); return 1; }
  printf("ready\n");
  fflush(stdout);
  double end = now() + atof(argv[2]);
  unsigned long long n = 0;
  unsigned blk = 0;
  for (;;) {
    struct tpacket_block_desc* bd = (struct tpacket_block_desc*)(ring + (size_t)blk * req.tp_block_size);
    if (!(bd->hdr.bh1.block_status & TP_STATUS_USER)) {
      if (stop || now() >= end) break;
      struct pollfd p = {fd, POLLIN | POLLERR, 0};
      poll(&p, 1, 50);
      continue;
    }
    n += bd->hdr.bh1.num_pkts;
    bd->hdr.bh1.block_status = TP_STATUS_KERNEL;
    blk = (blk + 1) % req.tp_block_nr;
  }
  struct tpacket_stats_v3 st = {0};
  socklen_t sl = sizeof st;
  getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl);
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("received %llu drops %u user %.6f sys %.6f\n", n, st.tp_drops, ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
         ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
  munmap(ring, len);
  close(fd);
  return 0;
}

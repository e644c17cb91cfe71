// tcplab guest peer: the JSON-lines peer protocol of src/peer/protocol.ts in C, for guests where Node
// is not available (the QEMU Linux guest). One request per line, one answer per line, by id.
// Besides the socket ops it reads and writes files (/proc/sys, /proc/net) and runs commands, so the
// host side can set sysctls, read counters and socket tables, and configure the guest's network.
// Every request may carry "ch" (a channel: one host-side PeerClient); sockets belong to their channel
// and "closeAll" closes one channel's sockets, like a Node peer closing its sockets when it exits.
// Build: cc -static -O2 -o peer peer.c (Linux), cc -O2 -o tcplab-peer peer.c (FreeBSD: the VM's peer)
// With -DPEER_LWIP it is the lwIP peer instead: the same ops over lwIP's socket API, its stack on a tap
// (PRECONFIGURED_TAPIF names it; argv: ADDR NETMASK GW), driven over stdin/stdout:
//   cc -DPEER_LWIP -I/usr/include/lwip -o lwip-peer peer.c -llwip -lpthread
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>


// Socket calls go through sk_* so the same program runs on the kernel's sockets or lwIP's.
#ifdef PEER_LWIP
#undef TCP_MSS  // netinet/tcp.h's socket option name; lwipopts.h defines the segment size
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/sockets.h"
#include "lwip/tcpip.h"
#include "lwip/sys.h"
#include "netif/tapif.h"
static int sk_socket(int fam) {
  int s = lwip_socket(fam, SOCK_STREAM, 0);
  if (s >= 0) lwip_fcntl(s, F_SETFL, O_NONBLOCK);
  return s;
}
static int sk_accept(int fd, struct sockaddr* a, socklen_t* l) {
  int c = lwip_accept(fd, a, l);
  if (c >= 0) lwip_fcntl(c, F_SETFL, O_NONBLOCK);
  return c;
}
#define sk_setsockopt lwip_setsockopt
#define sk_getsockopt lwip_getsockopt
#define sk_bind lwip_bind
#define sk_listen lwip_listen
#define sk_connect lwip_connect
#define sk_send lwip_send
#define sk_recv lwip_recv
#define sk_shutdown lwip_shutdown
#define sk_close lwip_close
#define sk_getsockname lwip_getsockname
#define sk_getpeername lwip_getpeername
#define sk_poll lwip_poll
#else
static int sk_socket(int fam) { return socket(fam, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }
static int sk_accept(int fd, struct sockaddr* a, socklen_t* l) { return accept4(fd, a, l, SOCK_NONBLOCK | SOCK_CLOEXEC); }
#define sk_setsockopt setsockopt
#define sk_getsockopt getsockopt
#define sk_bind bind
#define sk_listen listen
#define sk_connect connect
#define sk_send send
#define sk_recv recv
#define sk_shutdown shutdown
#define sk_close close
#define sk_getsockname getsockname
#define sk_getpeername getpeername
#define sk_poll poll
#endif

#define MAX_FIELDS 32
#define MAX_ARGV 64
#define MAX_SOCKS 4096

// ---------- a tiny JSON reader for flat request objects ----------
enum ftype { F_STR, F_NUM, F_BOOL, F_NULL, F_ARR };
struct field {
  char key[32];
  enum ftype type;
  char* str;  // F_STR (decoded, NUL-terminated; may contain NUL bytes: len)
  size_t len;
  double num;
  int b;
  char* arr[MAX_ARGV];  // F_ARR of strings
  int narr;
};
struct req {
  struct field f[MAX_FIELDS];
  int n;
};

static void skipws(const char** p) {
  while (**p == ' ' || **p == '\t' || **p == '\r' || **p == '\n') (*p)++;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes a JSON string at *p (which points at the opening quote) into a malloc'd buffer.
static char* jstring(const char** p, size_t* outlen) {
  if (**p != '"') return NULL;
  (*p)++;
  size_t cap = strlen(*p) + 1, n = 0;
  char* out = malloc(cap);
  if (!out) return NULL;
  while (**p && **p != '"') {
    char c = *(*p)++;
    if (c != '\\') {
      out[n++] = c;
      continue;
    }
    c = *(*p)++;
    switch (c) {
      case 'n': out[n++] = '\n'; break;
      case 't': out[n++] = '\t'; break;
      case 'r': out[n++] = '\r'; break;
      case 'b': out[n++] = '\b'; break;
      case 'f': out[n++] = '\f'; break;
      case 'u': {
        unsigned cp = 0;
        for (int i = 0; i < 4; i++) {
          int h = hexval(**p);
          if (h < 0) { free(out); return NULL; }
          cp = cp * 16 + (unsigned)h;
          (*p)++;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF && (*p)[0] == '\\' && (*p)[1] == 'u') {
          unsigned lo = 0;
          const char* q = *p + 2;
          int ok = 1;
          for (int i = 0; i < 4; i++) {
            int h = hexval(q[i]);
            if (h < 0) { ok = 0; break; }
            lo = lo * 16 + (unsigned)h;
          }
          if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            *p += 6;
          }
        }
        if (cp < 0x80) out[n++] = (char)cp;
        else if (cp < 0x800) { out[n++] = (char)(0xC0 | (cp >> 6)); out[n++] = (char)(0x80 | (cp & 63)); }
        else if (cp < 0x10000) { out[n++] = (char)(0xE0 | (cp >> 12)); out[n++] = (char)(0x80 | ((cp >> 6) & 63)); out[n++] = (char)(0x80 | (cp & 63)); }
        else { out[n++] = (char)(0xF0 | (cp >> 18)); out[n++] = (char)(0x80 | ((cp >> 12) & 63)); out[n++] = (char)(0x80 | ((cp >> 6) & 63)); out[n++] = (char)(0x80 | (cp & 63)); }
        break;
      }
      default: out[n++] = c; break;  // \" \\ \/
    }
  }
  if (**p != '"') { free(out); return NULL; }
  (*p)++;
  out[n] = 0;
  if (outlen) *outlen = n;
  return out;
}

static void req_free(struct req* r) {
  for (int i = 0; i < r->n; i++) {
    free(r->f[i].str);
    for (int j = 0; j < r->f[i].narr; j++) free(r->f[i].arr[j]);
  }
  r->n = 0;
}

// Returns NULL on success, else what is wrong with the line.
static const char* parse(const char* line, struct req* r) {
  memset(r, 0, sizeof *r);
  const char* p = line;
  skipws(&p);
  if (*p++ != '{') return "not a JSON object";
  skipws(&p);
  if (*p == '}') return NULL;
  for (;;) {
    skipws(&p);
    if (r->n >= MAX_FIELDS) return "too many fields";
    struct field* f = &r->f[r->n];
    size_t kl;
    char* k = jstring(&p, &kl);
    if (!k) return "bad key";
    snprintf(f->key, sizeof f->key, "%s", k);
    free(k);
    skipws(&p);
    if (*p++ != ':') return "expected ':'";
    skipws(&p);
    if (*p == '"') {
      f->type = F_STR;
      f->str = jstring(&p, &f->len);
      if (!f->str) return "bad string";
    } else if (*p == 't' && !strncmp(p, "true", 4)) { f->type = F_BOOL; f->b = 1; p += 4; }
    else if (*p == 'f' && !strncmp(p, "false", 5)) { f->type = F_BOOL; f->b = 0; p += 5; }
    else if (*p == 'n' && !strncmp(p, "null", 4)) { f->type = F_NULL; p += 4; }
    else if (*p == '[') {
      f->type = F_ARR;
      p++;
      skipws(&p);
      while (*p != ']') {
        if (f->narr >= MAX_ARGV - 1) return "array too long";
        f->arr[f->narr] = jstring(&p, NULL);
        if (!f->arr[f->narr]) return "arrays may hold strings only";
        f->narr++;
        skipws(&p);
        if (*p == ',') { p++; skipws(&p); }
        else if (*p != ']') return "expected ',' or ']'";
      }
      p++;
    } else {
      char* end;
      f->type = F_NUM;
      f->num = strtod(p, &end);
      if (end == p) return "bad value";
      p = end;
    }
    r->n++;
    skipws(&p);
    if (*p == ',') { p++; continue; }
    if (*p == '}') return NULL;
    return "expected ',' or '}'";
  }
}

static struct field* get(struct req* r, const char* key) {
  for (int i = 0; i < r->n; i++)
    if (!strcmp(r->f[i].key, key)) return &r->f[i];
  return NULL;
}

// ---------- answers ----------
static char* out;
static size_t outlen, outcap;
static void put(const char* s, size_t n) {
  if (outlen + n + 1 > outcap) {
    outcap = (outlen + n + 1) * 2;
    out = realloc(out, outcap);
    if (!out) abort();
  }
  memcpy(out + outlen, s, n);
  outlen += n;
  out[outlen] = 0;
}
static void putf(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) put(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}
static void putstr(const char* s, size_t n) {
  put("\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"') put("\\\"", 2);
    else if (c == '\\') put("\\\\", 2);
    else if (c == '\n') put("\\n", 2);
    else if (c < 0x20 || c == 0x7f) putf("\\u%04x", c);
    else put((const char*)&c, 1);
  }
  put("\"", 1);
}
static void putkey(const char* k) {
  if (out[outlen - 1] != '{') put(",", 1);
  putstr(k, strlen(k));
  put(":", 1);
}

// A failure answer: errno name as code, like the Node peer.
struct err {
  const char* code;
  int eno;
  const char* syscall;
  const char* message;
  int timedOut;
};
#ifdef __GLIBC__
static const char* errname(int e) { return strerrorname_np(e) ? strerrorname_np(e) : "EUNKNOWN"; }
#else
// FreeBSD's libc has no strerrorname_np: the names the peer protocol's users look at.
static const char* errname(int e) {
  switch (e) {
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EPIPE: return "EPIPE";
    case ENOTCONN: return "ENOTCONN";
    case EINVAL: return "EINVAL";
    case EAGAIN: return "EAGAIN";
    case EINPROGRESS: return "EINPROGRESS";
    case EISCONN: return "EISCONN";
    case EMFILE: return "EMFILE";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    default: return "EUNKNOWN";
  }
}
#endif
static struct err E(const char* syscall, int e) {
  struct err x = {errname(e), e, syscall, strerror(e), 0};
  return x;
}
static struct err BAD(const char* msg) {
  struct err x = {"EBADREQUEST", 0, NULL, msg, 0};
  return x;
}
static struct err OK = {NULL, 0, NULL, NULL, 0};

// ---------- sockets owned by channels ----------
struct sk {
  int fd;
  int ch;
};
static struct sk socks[MAX_SOCKS];  // index = id; fd 0 means free (fd 0 is never a socket here)
static int next_id = 1;

static int adopt(int fd, int ch) {
  for (int tries = 0; tries < MAX_SOCKS; tries++) {
    int id = next_id;
    next_id = next_id + 1 >= MAX_SOCKS ? 1 : next_id + 1;
    if (socks[id].fd <= 0) {
      socks[id].fd = fd;
      socks[id].ch = ch;
      return id;
    }
  }
  return -1;
}
static int count_socks(void) {
  int n = 0;
  for (int i = 1; i < MAX_SOCKS; i++) n += socks[i].fd > 0;
  return n;
}

// ---------- argument helpers ----------
static char badmsg[200];
static const char* want_str(struct req* r, const char* k, const char** v) {
  struct field* f = get(r, k);
  if (!f || f->type != F_STR) return snprintf(badmsg, sizeof badmsg, "%s: expected a string", k), badmsg;
  *v = f->str;
  return NULL;
}
static const char* want_int(struct req* r, const char* k, long lo, long hi, long dflt, int required, long* v) {
  struct field* f = get(r, k);
  if (!f) {
    if (required) return snprintf(badmsg, sizeof badmsg, "%s: expected an integer in [%ld, %ld]", k, lo, hi), badmsg;
    *v = dflt;
    return NULL;
  }
  if (f->type != F_NUM || f->num != (double)(long)f->num || f->num < lo || f->num > hi)
    return snprintf(badmsg, sizeof badmsg, "%s: expected an integer in [%ld, %ld]", k, lo, hi), badmsg;
  *v = (long)f->num;
  return NULL;
}
// -1 absent, else 0/1
static int opt_bool(struct req* r, const char* k, const char** bad) {
  struct field* f = get(r, k);
  if (!f) return -1;
  if (f->type != F_BOOL) {
    snprintf(badmsg, sizeof badmsg, "%s: expected a boolean", k);
    *bad = badmsg;
    return -1;
  }
  return f->b;
}
static const char* want_sock(struct req* r, int* id, int* fd) {
  long v;
  const char* b = want_int(r, "sock", 1, MAX_SOCKS - 1, 0, 1, &v);
  if (b) return b;
  if (socks[v].fd <= 0) return snprintf(badmsg, sizeof badmsg, "sock: no open socket with id %ld", v), badmsg;
  *id = (int)v;
  *fd = socks[v].fd;
  return NULL;
}

static int parse_addr(const char* a, long port, struct sockaddr_storage* ss, socklen_t* len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in* s4 = (struct sockaddr_in*)ss;
  struct sockaddr_in6* s6 = (struct sockaddr_in6*)ss;
  if (inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *len = sizeof *s4;
    return AF_INET;
  }
  if (inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    *len = sizeof *s6;
    return AF_INET6;
  }
  return -1;
}
static void put_addr(const char* key_addr, const char* key_port, struct sockaddr_storage* ss) {
  char buf[INET6_ADDRSTRLEN] = "";
  int port = 0;
  if (ss->ss_family == AF_INET) {
    struct sockaddr_in* s4 = (struct sockaddr_in*)ss;
    inet_ntop(AF_INET, &s4->sin_addr, buf, sizeof buf);
    port = ntohs(s4->sin_port);
  } else if (ss->ss_family == AF_INET6) {
    struct sockaddr_in6* s6 = (struct sockaddr_in6*)ss;
    inet_ntop(AF_INET6, &s6->sin6_addr, buf, sizeof buf);
    port = ntohs(s6->sin6_port);
  }
  putkey(key_addr);
  putstr(buf, strlen(buf));
  putkey(key_port);
  putf("%d", port);
}

static int wait_for(int fd, short ev, long ms) {
  struct pollfd p = {fd, ev, 0};
  for (;;) {
    int r = sk_poll(&p, 1, (int)ms);
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

static int setopt(int fd, int level, int name, int on) {
  return sk_setsockopt(fd, level, name, &on, sizeof on);
}

static struct err open_sock(struct req* r, const char* addr, int* fdout) {
  struct sockaddr_storage ss;
  socklen_t len;
  int fam = parse_addr(addr, 0, &ss, &len);
  if (fam < 0) return BAD("addr: expected an IPv4 or IPv6 address");
  const char* bad = NULL;
  int ra = opt_bool(r, "reuseAddr", &bad);
  int rp = opt_bool(r, "reusePort", &bad);
  if (bad) return BAD(bad);
  int fd = sk_socket(fam);
  if (fd < 0) return E("socket", errno);
  if ((ra >= 0 && setopt(fd, SOL_SOCKET, SO_REUSEADDR, ra) < 0) || (rp >= 0 && setopt(fd, SOL_SOCKET, SO_REUSEPORT, rp) < 0)) {
    struct err e = E("setsockopt", errno);
    sk_close(fd);
    return e;
  }
  *fdout = fd;
  return OK;
}

static const char* tcp_state_name(int s) {
#ifdef __FreeBSD__
  // TCPS_* of netinet/tcp_fsm.h
  static const char* names[] = {"CLOSE", "LISTEN", "SYN-SENT", "SYN-RECV", "ESTABLISHED", "CLOSE-WAIT", "FIN-WAIT-1",
                                "CLOSING", "LAST-ACK", "FIN-WAIT-2", "TIME-WAIT"};
#else
  static const char* names[] = {"UNKNOWN", "ESTABLISHED", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
                                "CLOSE", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING", "NEW-SYN-RECV"};
#endif
  return (s >= 0 && s < (int)(sizeof names / sizeof names[0])) ? names[s] : "UNKNOWN";
}

static char* read_all(int fd, size_t* n) {
  size_t cap = 4096;
  char* b = malloc(cap);
  *n = 0;
  for (;;) {
    if (*n + 4096 > cap) b = realloc(b, cap *= 2);
    ssize_t k = read(fd, b + *n, cap - *n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    *n += (size_t)k;
  }
  return b;
}

// ---------- the ops ----------
static struct err dispatch(const char* op, struct req* r, int ch) {
  const char* bad;
  long v;
  int id, fd;
  if (!strcmp(op, "ping")) {
    putkey("pid");
    putf("%d", getpid());
    putkey("sockets");
    putf("%d", count_socks());
    return OK;
  }
  if (!strcmp(op, "listen") || !strcmp(op, "connect")) {
    int is_listen = op[0] == 'l';
    const char* addr;
    long port, backlog = 128, timeoutMs = 0, lport = -1;
    const char* laddr = NULL;
    if ((bad = want_str(r, "addr", &addr)) || (bad = want_int(r, "port", is_listen ? 0 : 1, 65535, 0, 1, &port))) return BAD(bad);
    if (is_listen && (bad = want_int(r, "backlog", 0, 65535, 128, 0, &backlog))) return BAD(bad);
    if (!is_listen) {
      if ((bad = want_int(r, "timeoutMs", 0, 600000, 0, 1, &timeoutMs)) || (bad = want_int(r, "localPort", 0, 65535, -1, 0, &lport))) return BAD(bad);
      struct field* la = get(r, "localAddr");
      if (la && (bad = want_str(r, "localAddr", &laddr))) return BAD(bad);
    }
    struct err e = open_sock(r, addr, &fd);
    if (e.code) return e;
    struct sockaddr_storage ss;
    socklen_t len;
    int fam = parse_addr(addr, port, &ss, &len);
    if (is_listen) {
      if (sk_bind(fd, (struct sockaddr*)&ss, len) < 0) { e = E("bind", errno); sk_close(fd); return e; }
      if (sk_listen(fd, (int)backlog) < 0) { e = E("listen", errno); sk_close(fd); return e; }
    } else {
      if (lport >= 0 || laddr) {
        struct sockaddr_storage ls;
        socklen_t ll;
        if (parse_addr(laddr ? laddr : (fam == AF_INET ? "0.0.0.0" : "::"), lport < 0 ? 0 : lport, &ls, &ll) != fam) { sk_close(fd); return BAD("localAddr: expected an address of the same family as addr"); }
        if (sk_bind(fd, (struct sockaddr*)&ls, ll) < 0) { e = E("bind", errno); sk_close(fd); return e; }
      }
      if (sk_connect(fd, (struct sockaddr*)&ss, len) < 0) {
        if (errno != EINPROGRESS) { e = E("connect", errno); sk_close(fd); return e; }
        int w = wait_for(fd, POLLOUT, timeoutMs);
        if (w < 0) { e = E("poll", errno); sk_close(fd); return e; }
        if (w == 0) { e = E("connect", ETIMEDOUT); e.timedOut = 1; sk_close(fd); return e; }
        int err = 0;
        socklen_t el = sizeof err;
        sk_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) { e = E("connect", err); sk_close(fd); return e; }
      }
    }
    int nid = adopt(fd, ch);
    if (nid < 0) { sk_close(fd); return E("adopt", EMFILE); }
    struct sockaddr_storage me;
    socklen_t ml = sizeof me;
    sk_getsockname(fd, (struct sockaddr*)&me, &ml);
    putkey("sock");
    putf("%d", nid);
    if (is_listen) put_addr("addr", "port", &me);
    else put_addr("localAddr", "localPort", &me);
    return OK;
  }
  if (!strcmp(op, "accept")) {
    if ((bad = want_sock(r, &id, &fd)) || (bad = want_int(r, "timeoutMs", 0, 600000, 0, 1, &v))) return BAD(bad);
    int w = wait_for(fd, POLLIN, v);
    if (w < 0) return E("poll", errno);
    if (w == 0) { struct err e = E("accept", ETIMEDOUT); e.timedOut = 1; return e; }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int c = sk_accept(fd, (struct sockaddr*)&ss, &len);
    if (c < 0) return E("accept", errno);
    int nid = adopt(c, ch);
    if (nid < 0) { sk_close(c); return E("adopt", EMFILE); }
    putkey("sock");
    putf("%d", nid);
    putkey("peer");
    put("{", 1);
    put_addr("addr", "port", &ss);
    put("}", 1);
    return OK;
  }
  if (!strcmp(op, "send")) {
    const char* data;
    if ((bad = want_sock(r, &id, &fd)) || (bad = want_str(r, "data", &data)) || (bad = want_int(r, "timeoutMs", 0, 600000, 5000, 0, &v))) return BAD(bad);
    size_t n = get(r, "data")->len, off = 0;
    while (off < n) {
      ssize_t k = sk_send(fd, data + off, n - off, MSG_NOSIGNAL);
      if (k >= 0) { off += (size_t)k; continue; }
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return E("send", errno);
      int w = wait_for(fd, POLLOUT, v);
      if (w < 0) return E("poll", errno);
      if (w == 0) { struct err e = E("send", ETIMEDOUT); e.timedOut = 1; return e; }
    }
    putkey("bytes");
    putf("%zu", off);
    return OK;
  }
  if (!strcmp(op, "recv")) {
    long max;
    if ((bad = want_sock(r, &id, &fd)) || (bad = want_int(r, "max", 1, 16 << 20, 65536, 0, &max)) || (bad = want_int(r, "timeoutMs", 0, 600000, 0, 1, &v))) return BAD(bad);
    int w = wait_for(fd, POLLIN, v);
    if (w < 0) return E("poll", errno);
    char* buf = malloc((size_t)max);
    ssize_t k = 0;
    int eof = 0, timedOut = w == 0;
    if (!timedOut) {
      k = sk_recv(fd, buf, (size_t)max, 0);
      if (k < 0) { struct err e = E("recv", errno); free(buf); return e; }
      eof = k == 0;
    }
    putkey("data");
    putstr(buf, (size_t)k);
    putkey("bytes");
    putf("%zd", k);
    putkey("eof");
    put(eof ? "true" : "false", eof ? 4 : 5);
    putkey("timedOut");
    put(timedOut ? "true" : "false", timedOut ? 4 : 5);
    free(buf);
    return OK;
  }
  if (!strcmp(op, "shutdown")) {
    const char* how;
    if ((bad = want_sock(r, &id, &fd)) || (bad = want_str(r, "how", &how))) return BAD(bad);
    int h = !strcmp(how, "rd") ? SHUT_RD : !strcmp(how, "wr") ? SHUT_WR : !strcmp(how, "rdwr") ? SHUT_RDWR : -1;
    if (h < 0) return BAD("how: expected 'rd', 'wr' or 'rdwr'");
    if (sk_shutdown(fd, h) < 0) return E("shutdown", errno);
    return OK;
  }
  if (!strcmp(op, "close") || !strcmp(op, "closeLinger")) {
    long secs = -1;
    if ((bad = want_sock(r, &id, &fd))) return BAD(bad);
    if (op[5] == 'L') {
      if ((bad = want_int(r, "secs", 0, 3600, 0, 1, &secs))) return BAD(bad);
      struct linger l = {1, (int)secs};
      if (sk_setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0) return E("setsockopt(SO_LINGER)", errno);
    }
    socks[id].fd = 0;
    if (sk_close(fd) < 0) return E("close", errno);
    return OK;
  }
  if (!strcmp(op, "setsockopt")) {
    const char* opt;
    if ((bad = want_sock(r, &id, &fd)) || (bad = want_str(r, "opt", &opt))) return BAD(bad);
    bad = NULL;
    int on = opt_bool(r, "on", &bad);
    if (bad || on < 0) return BAD("on: expected a boolean");
    int rc;
    if (!strcmp(opt, "reuseAddr")) rc = setopt(fd, SOL_SOCKET, SO_REUSEADDR, on);
    else if (!strcmp(opt, "reusePort")) rc = setopt(fd, SOL_SOCKET, SO_REUSEPORT, on);
    else if (!strcmp(opt, "noDelay")) rc = setopt(fd, IPPROTO_TCP, TCP_NODELAY, on);
    else return BAD("opt: expected 'reuseAddr', 'reusePort' or 'noDelay'");
    if (rc < 0) return E("setsockopt", errno);
    return OK;
  }
  if (!strcmp(op, "info")) {
    if ((bad = want_sock(r, &id, &fd))) return BAD(bad);
    struct tcp_info ti;
    socklen_t l = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (sk_getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) < 0) return E("getsockopt(TCP_INFO)", errno);
    putkey("state");
    const char* s = tcp_state_name(ti.tcpi_state);
    putstr(s, strlen(s));
#ifdef __FreeBSD__
    putkey("retransmits");
    putf("%u", 0u);  // FreeBSD's tcp_info has no per-timeout count
    putkey("totalRetrans");
    putf("%u", ti.tcpi_snd_rexmitpack);
#else
    putkey("retransmits");
    putf("%u", ti.tcpi_retransmits);
    putkey("totalRetrans");
    putf("%u", ti.tcpi_total_retrans);
#endif
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    sk_getsockname(fd, (struct sockaddr*)&ss, &len);
    putkey("local");
    put("{", 1);
    put_addr("addr", "port", &ss);
    put("}", 1);
    len = sizeof ss;
    if (sk_getpeername(fd, (struct sockaddr*)&ss, &len) == 0) {
      putkey("remote");
      put("{", 1);
      put_addr("addr", "port", &ss);
      put("}", 1);
    }
    return OK;
  }
  if (!strcmp(op, "closeAll")) {
    // "of": the channel to close (sent by the host's admin line, whose own ch is 0); default: this one.
    if ((bad = want_int(r, "of", 0, 1L << 30, ch, 0, &v))) return BAD(bad);
    ch = (int)v;
    int n = 0;
    for (int i = 1; i < MAX_SOCKS; i++)
      if (socks[i].fd > 0 && socks[i].ch == ch) {
        sk_close(socks[i].fd);
        socks[i].fd = 0;
        n++;
      }
    putkey("closed");
    putf("%d", n);
    return OK;
  }
  // Guest administration: files (sysctls under /proc/sys, tables under /proc/net) and commands.
  if (!strcmp(op, "read")) {
    const char* path;
    if ((bad = want_str(r, "path", &path))) return BAD(bad);
    int f = open(path, O_RDONLY | O_CLOEXEC);
    if (f < 0) return E("open", errno);
    size_t n;
    char* b = read_all(f, &n);
    close(f);
    putkey("data");
    putstr(b, n);
    free(b);
    return OK;
  }
  if (!strcmp(op, "write")) {
    const char* path;
    const char* data;
    if ((bad = want_str(r, "path", &path)) || (bad = want_str(r, "data", &data))) return BAD(bad);
    int f = open(path, O_WRONLY | O_CLOEXEC | O_TRUNC);
    if (f < 0) return E("open", errno);
    size_t n = get(r, "data")->len;
    ssize_t k = write(f, data, n);
    int e = errno;
    close(f);
    if (k < 0) return E("write", e);
    return OK;
  }
  if (!strcmp(op, "exec")) {
    struct field* a = get(r, "argv");
    if (!a || a->type != F_ARR || a->narr == 0) return BAD("argv: expected a non-empty array of strings");
    if ((bad = want_int(r, "timeoutMs", 1, 600000, 15000, 0, &v))) return BAD(bad);
    int po[2], pe[2];
    if (pipe2(po, O_CLOEXEC) < 0) return E("pipe", errno);
    if (pipe2(pe, O_CLOEXEC) < 0) { close(po[0]); close(po[1]); return E("pipe", errno); }
    pid_t pid = fork();
    if (pid < 0) return E("fork", errno);
    if (pid == 0) {
      int nul = open("/dev/null", O_RDONLY);
      dup2(nul, 0);
      dup2(po[1], 1);
      dup2(pe[1], 2);
      a->arr[a->narr] = NULL;
      execvp(a->arr[0], a->arr);
      dprintf(2, "exec %s: %s\n", a->arr[0], strerror(errno));
      _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    // Both pipes are drained in turn; outputs here are small (ip, sysctl), so no deadlock in practice.
    size_t no, ne;
    char* so = read_all(po[0], &no);
    char* se = read_all(pe[0], &ne);
    close(po[0]);
    close(pe[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    putkey("code");
    putf("%d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
    putkey("stdout");
    putstr(so, no);
    putkey("stderr");
    putstr(se, ne);
    free(so);
    free(se);
    return OK;
  }
  snprintf(badmsg, sizeof badmsg, "op: unknown operation '%s'", op);
  return BAD(badmsg);
}

static void answer(int wfd, const char* line) {
  struct req r;
  outlen = 0;
  put("{", 1);
  const char* perr = parse(line, &r);
  long id = -1, ch = 0;
  struct err e = OK;
  if (perr) {
    e = BAD("not a JSON line");
  } else {
    struct field* f = get(&r, "id");
    struct field* c = get(&r, "ch");
    if (c && c->type == F_NUM) ch = (long)c->num;
    if (!f || f->type != F_NUM) e = BAD("id: expected a number");
    else {
      id = (long)f->num;
      struct field* o = get(&r, "op");
      if (!o || o->type != F_STR) e = BAD("op: expected a string");
      else e = dispatch(o->str, &r, (int)ch);
    }
  }
  req_free(&r);
  if (e.code) {
    outlen = 1;  // drop partial results
    out[1] = 0;
  }
  putkey("id");
  putf("%ld", id);
  if (ch) {
    putkey("ch");
    putf("%ld", ch);
  }
  putkey("ok");
  put(e.code ? "false" : "true", e.code ? 5 : 4);
  if (e.code) {
    putkey("code");
    putstr(e.code, strlen(e.code));
    if (e.eno) { putkey("errno"); putf("%d", e.eno); }
    if (e.syscall) { putkey("syscall"); putstr(e.syscall, strlen(e.syscall)); }
    putkey("message");
    putstr(e.message, strlen(e.message));
    if (e.timedOut) { putkey("timedOut"); put("true", 4); }
  }
  put("}\n", 2);
  for (size_t off = 0; off < outlen;) {
    ssize_t k = write(wfd, out + off, outlen - off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) exit(1);
    off += (size_t)k;
  }
}

#ifdef PEER_LWIP
static struct netif tap_netif;
static sys_sem_t lwip_ready;
static void on_tcpip_ready(void* arg) { (void)arg; sys_sem_signal(&lwip_ready); }

// lwIP's own stack on the tap: tapif's thread reads frames, the tcpip thread runs TCP.
static int start_lwip(const char* addr, const char* mask, const char* gw) {
  ip4_addr_t a, m, g;
  if (!ip4addr_aton(addr, &a) || !ip4addr_aton(mask, &m) || !ip4addr_aton(gw, &g)) { fprintf(stderr, "lwip-peer: bad address\n"); return 1; }
  if (!getenv("PRECONFIGURED_TAPIF")) { fprintf(stderr, "lwip-peer: set PRECONFIGURED_TAPIF to an existing tap\n"); return 1; }
  sys_sem_new(&lwip_ready, 0);
  tcpip_init(on_tcpip_ready, NULL);
  sys_sem_wait(&lwip_ready);
  LOCK_TCPIP_CORE();
  struct netif* n = netif_add(&tap_netif, &a, &m, &g, NULL, tapif_init, tcpip_input);
  if (n) {
    netif_set_default(n);
    netif_set_up(n);
    netif_set_link_up(n);
  }
  UNLOCK_TCPIP_CORE();
  if (!n) { fprintf(stderr, "lwip-peer: netif_add failed (tap %s)\n", getenv("PRECONFIGURED_TAPIF")); return 1; }
  return 0;
}
#endif

int main(int argc, char** argv) {
  int rfd = 0, wfd = 1;
  signal(SIGPIPE, SIG_IGN);
#ifdef PEER_LWIP
  if (argc != 4) { fprintf(stderr, "usage: PRECONFIGURED_TAPIF=tap lwip-peer ADDR NETMASK GW\n"); return 2; }
  if (start_lwip(argv[1], argv[2], argv[3]) != 0) return 1;
  argc = 1;  // control over stdin/stdout
#endif
  if (argc > 1) {
    // A device (virtio serial port or tty): raw mode, so the line discipline does not echo or mangle.
    rfd = wfd = open(argv[1], O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (rfd < 0) { perror(argv[1]); return 1; }
    struct termios t;
    if (tcgetattr(rfd, &t) == 0) { cfmakeraw(&t); tcsetattr(rfd, TCSANOW, &t); }
  }
  // The first line tells the host the guest is up.
  const char* ready = "{\"id\":0,\"ok\":true,\"ready\":true}\n";
  if (write(wfd, ready, strlen(ready)) < 0) return 1;
  size_t cap = 1 << 16, len = 0;
  char* buf = malloc(cap);
  for (;;) {
    if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
    ssize_t k = read(rfd, buf + len, cap - len - 1);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    len += (size_t)k;
    char* nl;
    size_t start = 0;
    while ((nl = memchr(buf + start, '\n', len - start))) {
      *nl = 0;
      char* line = buf + start;
      start = (size_t)(nl - buf) + 1;
      while (*line == '\r' || *line == ' ') line++;
      if (*line) answer(wfd, line);
    }
    memmove(buf, buf + start, len - start);
    len -= start;
  }
  for (int i = 1; i < MAX_SOCKS; i++)
    if (socks[i].fd > 0) sk_close(socks[i].fd);
  return 0;
}

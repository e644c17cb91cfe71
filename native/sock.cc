// Plain kernel TCP sockets for the peer program. Node's net module cannot set SO_LINGER and libuv
// always sets SO_REUSEADDR on bind, and labs are about exactly those knobs, so the peer uses these.
// All calls are synchronous with explicit poll() timeouts: the peer process runs one command at a time.
// System errors come back as values {ok:false, code, errno, syscall, message} (labs are ABOUT the
// errors); bad argument types throw TypeError/RangeError naming the field.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "errors.h"
#include "modules.h"

namespace tcplab {
namespace {

Napi::Object ErrValue(Napi::Env env, const std::string& syscall, int err) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", false);
  o.Set("code", ErrnoName(err));
  o.Set("errno", err);
  o.Set("syscall", syscall);
  o.Set("message", syscall + ": " + ErrnoName(err) + " " + std::strerror(err));
  return o;
}

Napi::Object Ok(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", true);
  return o;
}

int ArgFd(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || !info[i].IsNumber()) ThrowType(info.Env(), "fd", "expected a socket fd (number)");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < 0 || d > 1 << 30 || d != static_cast<int>(d)) ThrowRange(info.Env(), "fd", "must be a non-negative integer");
  return static_cast<int>(d);
}

int ArgInt(const Napi::CallbackInfo& info, size_t i, const char* field, int lo, int hi) {
  if (info.Length() <= i || !info[i].IsNumber()) ThrowType(info.Env(), field, "expected a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d != static_cast<long long>(d) || d < lo || d > hi)
    ThrowRange(info.Env(), field, "must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(d);
}

bool ArgBool(const Napi::CallbackInfo& info, size_t i, const char* field) {
  if (info.Length() <= i || !info[i].IsBoolean()) ThrowType(info.Env(), field, "expected a boolean");
  return info[i].As<Napi::Boolean>().Value();
}

// Parses "198.18.0.1" or "2001:2::1" + port into a sockaddr_storage.
socklen_t ArgAddr(const Napi::CallbackInfo& info, size_t i, sockaddr_storage* ss) {
  if (info.Length() <= i || !info[i].IsString()) ThrowType(info.Env(), "addr", "expected an IPv4 or IPv6 address string");
  std::string a = info[i].As<Napi::String>().Utf8Value();
  int port = ArgInt(info, i + 1, "port", 0, 65535);
  std::memset(ss, 0, sizeof(*ss));
  auto* v4 = reinterpret_cast<sockaddr_in*>(ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(ss);
  if (inet_pton(AF_INET, a.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return sizeof(sockaddr_in);
  }
  if (inet_pton(AF_INET6, a.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return sizeof(sockaddr_in6);
  }
  ThrowType(info.Env(), "addr", "'" + a + "' is not an IPv4 or IPv6 address literal");
}

void SetAddr(Napi::Object o, const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* v4 = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &v4->sin_addr, buf, sizeof buf);
    port = ntohs(v4->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* v6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    port = ntohs(v6->sin6_port);
  }
  o.Set("addr", std::string(buf));
  o.Set("port", port);
}

// Waits for `events` on fd; returns >0 ready, 0 timeout, <0 error (errno set).
int WaitFor(int fd, short events, int timeoutMs) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left < 0) left = 0;
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

Napi::Value Socket(const Napi::CallbackInfo& info) {
  int family = ArgInt(info, 0, "family", 4, 6);
  if (family != 4 && family != 6) ThrowRange(info.Env(), "family", "must be 4 or 6");
  // Nonblocking: every wait goes through poll() with the caller's timeout, so nothing can hang.
  int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return ErrValue(info.Env(), "socket", errno);
  if (family == 6) {
    int one = 1;  // v6 sockets stay v6-only, so a lab's 4-tuples are exactly what it asked for
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  Napi::Object o = Ok(info.Env());
  o.Set("fd", fd);
  return o;
}

Napi::Value SetIntOpt(const Napi::CallbackInfo& info, int level, int name, const char* sys) {
  int fd = ArgFd(info, 0);
  int v = ArgBool(info, 1, "on") ? 1 : 0;
  if (setsockopt(fd, level, name, &v, sizeof v) < 0) return ErrValue(info.Env(), sys, errno);
  return Ok(info.Env());
}

Napi::Value SetReuseAddr(const Napi::CallbackInfo& info) {
  return SetIntOpt(info, SOL_SOCKET, SO_REUSEADDR, "setsockopt(SO_REUSEADDR)");
}
Napi::Value SetReusePort(const Napi::CallbackInfo& info) {
  return SetIntOpt(info, SOL_SOCKET, SO_REUSEPORT, "setsockopt(SO_REUSEPORT)");
}
Napi::Value SetNoDelay(const Napi::CallbackInfo& info) {
  return SetIntOpt(info, IPPROTO_TCP, TCP_NODELAY, "setsockopt(TCP_NODELAY)");
}

Napi::Value SetLinger(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  linger l{};
  l.l_onoff = ArgBool(info, 1, "on") ? 1 : 0;
  l.l_linger = ArgInt(info, 2, "secs", 0, 3600);
  if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0) return ErrValue(info.Env(), "setsockopt(SO_LINGER)", errno);
  return Ok(info.Env());
}

Napi::Value Bind(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  sockaddr_storage ss;
  socklen_t len = ArgAddr(info, 1, &ss);
  if (bind(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) return ErrValue(info.Env(), "bind", errno);
  return Ok(info.Env());
}

Napi::Value Listen(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  int backlog = ArgInt(info, 1, "backlog", 0, 65535);
  if (listen(fd, backlog) < 0) return ErrValue(info.Env(), "listen", errno);
  return Ok(info.Env());
}

Napi::Value Connect(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  sockaddr_storage ss;
  socklen_t len = ArgAddr(info, 1, &ss);
  int timeoutMs = ArgInt(info, 3, "timeoutMs", 0, 600000);
  if (connect(fd, reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    if (errno != EINPROGRESS) return ErrValue(info.Env(), "connect", errno);
    int r = WaitFor(fd, POLLOUT, timeoutMs);
    if (r < 0) return ErrValue(info.Env(), "poll", errno);
    if (r == 0) {
      Napi::Object o = ErrValue(info.Env(), "connect", ETIMEDOUT);
      o.Set("timedOut", true);  // our own timeout, not the kernel's: the SYN may still be retrying
      return o;
    }
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0) return ErrValue(info.Env(), "getsockopt(SO_ERROR)", errno);
    if (err != 0) return ErrValue(info.Env(), "connect", err);
  }
  return Ok(info.Env());
}

Napi::Value Accept(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  int timeoutMs = ArgInt(info, 1, "timeoutMs", 0, 600000);
  int r = WaitFor(fd, POLLIN, timeoutMs);
  if (r < 0) return ErrValue(info.Env(), "poll", errno);
  if (r == 0) {
    Napi::Object o = ErrValue(info.Env(), "accept", ETIMEDOUT);
    o.Set("timedOut", true);
    return o;
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int c = accept4(fd, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (c < 0) return ErrValue(info.Env(), "accept", errno);
  Napi::Object o = Ok(info.Env());
  o.Set("fd", c);
  Napi::Object peer = Napi::Object::New(info.Env());
  SetAddr(peer, ss);
  o.Set("peer", peer);
  return o;
}

Napi::Value Send(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  if (info.Length() < 2 || !info[1].IsBuffer()) ThrowType(info.Env(), "data", "expected a Buffer");
  auto buf = info[1].As<Napi::Buffer<uint8_t>>();
  int timeoutMs = ArgInt(info, 2, "timeoutMs", 0, 600000);
  size_t off = 0;
  while (off < buf.Length()) {
    ssize_t n = send(fd, buf.Data() + off, buf.Length() - off, MSG_NOSIGNAL);
    if (n >= 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return ErrValue(info.Env(), "send", errno);
    int r = WaitFor(fd, POLLOUT, timeoutMs);
    if (r < 0) return ErrValue(info.Env(), "poll", errno);
    if (r == 0) {
      Napi::Object o = ErrValue(info.Env(), "send", ETIMEDOUT);
      o.Set("timedOut", true);
      o.Set("bytes", static_cast<double>(off));
      return o;
    }
  }
  Napi::Object o = Ok(info.Env());
  o.Set("bytes", static_cast<double>(off));
  return o;
}

// Returns {ok, data, eof, timedOut}: a timeout or EOF is an outcome here, not an error.
Napi::Value Recv(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  int max = ArgInt(info, 1, "max", 1, 16 << 20);
  int timeoutMs = ArgInt(info, 2, "timeoutMs", 0, 600000);
  int r = WaitFor(fd, POLLIN, timeoutMs);
  if (r < 0) return ErrValue(info.Env(), "poll", errno);
  Napi::Object o = Ok(info.Env());
  if (r == 0) {
    o.Set("data", Napi::Buffer<uint8_t>::New(info.Env(), 0));
    o.Set("eof", false);
    o.Set("timedOut", true);
    return o;
  }
  std::vector<uint8_t> buf(static_cast<size_t>(max));
  ssize_t n;
  do n = recv(fd, buf.data(), buf.size(), 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) n = 0;  // spurious wakeup: nothing yet
    else return ErrValue(info.Env(), "recv", errno);
    o.Set("data", Napi::Buffer<uint8_t>::New(info.Env(), 0));
    o.Set("eof", false);
    o.Set("timedOut", true);
    return o;
  }
  o.Set("data", Napi::Buffer<uint8_t>::Copy(info.Env(), buf.data(), static_cast<size_t>(n)));
  o.Set("eof", n == 0);
  o.Set("timedOut", false);
  return o;
}

Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  if (info.Length() < 2 || !info[1].IsString()) ThrowType(info.Env(), "how", "expected 'rd', 'wr' or 'rdwr'");
  std::string h = info[1].As<Napi::String>().Utf8Value();
  int how = h == "rd" ? SHUT_RD : h == "wr" ? SHUT_WR : h == "rdwr" ? SHUT_RDWR : -1;
  if (how < 0) ThrowType(info.Env(), "how", "expected 'rd', 'wr' or 'rdwr', got '" + h + "'");
  if (shutdown(fd, how) < 0) return ErrValue(info.Env(), "shutdown", errno);
  return Ok(info.Env());
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  // Linux ignores O_NONBLOCK for a lingering close (SO_LINGER {1,n>0} blocks up to n s); {1,0} sends RST.
  if (close(fd) < 0) return ErrValue(info.Env(), "close", errno);
  return Ok(info.Env());
}

Napi::Value Name(const Napi::CallbackInfo& info, bool peer) {
  int fd = ArgFd(info, 0);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  int r = peer ? getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) : getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (r < 0) return ErrValue(info.Env(), peer ? "getpeername" : "getsockname", errno);
  Napi::Object o = Ok(info.Env());
  SetAddr(o, ss);
  return o;
}
Napi::Value GetSockName(const Napi::CallbackInfo& info) { return Name(info, false); }
Napi::Value GetPeerName(const Napi::CallbackInfo& info) { return Name(info, true); }

const char* TcpStateName(int s) {
  static const char* names[] = {"UNKNOWN", "ESTABLISHED", "SYN-SENT", "SYN-RECV", "FIN-WAIT-1", "FIN-WAIT-2", "TIME-WAIT",
                                "CLOSE", "CLOSE-WAIT", "LAST-ACK", "LISTEN", "CLOSING", "NEW-SYN-RECV"};
  return (s >= 0 && s < static_cast<int>(sizeof names / sizeof names[0])) ? names[s] : "UNKNOWN";
}

Napi::Value TcpInfo(const Napi::CallbackInfo& info) {
  int fd = ArgFd(info, 0);
  tcp_info ti{};
  socklen_t len = sizeof ti;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0) return ErrValue(info.Env(), "getsockopt(TCP_INFO)", errno);
  Napi::Object o = Ok(info.Env());
  o.Set("state", TcpStateName(ti.tcpi_state));
  o.Set("retransmits", ti.tcpi_retransmits);
  o.Set("rtoUs", ti.tcpi_rto);
  o.Set("rttUs", ti.tcpi_rtt);
  o.Set("unacked", ti.tcpi_unacked);
  o.Set("totalRetrans", ti.tcpi_total_retrans);
  return o;
}

}  // namespace

void InitSock(Napi::Env env, Napi::Object exports) {
  Napi::Object s = Napi::Object::New(env);
  s.Set("socket", Napi::Function::New(env, Socket, "socket"));
  s.Set("setReuseAddr", Napi::Function::New(env, SetReuseAddr, "setReuseAddr"));
  s.Set("setReusePort", Napi::Function::New(env, SetReusePort, "setReusePort"));
  s.Set("setNoDelay", Napi::Function::New(env, SetNoDelay, "setNoDelay"));
  s.Set("setLinger", Napi::Function::New(env, SetLinger, "setLinger"));
  s.Set("bind", Napi::Function::New(env, Bind, "bind"));
  s.Set("listen", Napi::Function::New(env, Listen, "listen"));
  s.Set("connect", Napi::Function::New(env, Connect, "connect"));
  s.Set("accept", Napi::Function::New(env, Accept, "accept"));
  s.Set("send", Napi::Function::New(env, Send, "send"));
  s.Set("recv", Napi::Function::New(env, Recv, "recv"));
  s.Set("shutdown", Napi::Function::New(env, Shutdown, "shutdown"));
  s.Set("close", Napi::Function::New(env, Close, "close"));
  s.Set("getsockname", Napi::Function::New(env, GetSockName, "getsockname"));
  s.Set("getpeername", Napi::Function::New(env, GetPeerName, "getpeername"));
  s.Set("tcpInfo", Napi::Function::New(env, TcpInfo, "tcpInfo"));
  exports.Set("sock", s);
}

}  // namespace tcplab

// Named network namespaces: an RAII guard around setns(2), interface lookups and sockets opened inside.
#include "netns.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "errors.h"
#include "modules.h"

namespace tcplab {

namespace {
// Closes an fd on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};
}  // namespace

NetnsGuard::NetnsGuard(Napi::Env env, const std::string& name) {
  if (name.empty()) return;
  Fd orig(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (orig.fd < 0) throw SysError(env, "open", errno, "/proc/thread-self/ns/net");
  std::string path = "/run/netns/" + name;
  Fd target(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (target.fd < 0) throw SysError(env, "open", errno, "network namespace " + name + " (" + path + ")");
  if (::setns(target.fd, CLONE_NEWNET) != 0) throw SysError(env, "setns", errno, "network namespace " + name);
  orig_ = orig.release();
}

NetnsGuard::~NetnsGuard() {
  if (orig_ < 0) return;
  if (::setns(orig_, CLONE_NEWNET) != 0) {
    // Continuing in the wrong namespace would silently send crafted traffic to the wrong place.
    std::fprintf(stderr, "tcplab: FATAL: cannot return to the original network namespace: %s\n", std::strerror(errno));
    std::abort();
  }
  ::close(orig_);
}

std::string NetnsArg(Napi::Env env, const Napi::Value& v, const std::string& field) {
  if (v.IsUndefined() || v.IsNull()) return "";
  if (!v.IsString()) ThrowType(env, field, "must be a network namespace name (string) or undefined");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.empty() || s.size() > 255 || s.find('/') != std::string::npos || s == "." || s == "..")
    ThrowRange(env, field, "'" + s + "' is not a valid namespace name (as listed by `ip netns list`)");
  return s;
}

std::string IfnameArg(Napi::Env env, const Napi::Value& v, const std::string& field) {
  if (!v.IsString()) ThrowType(env, field, "must be an interface name (string)");
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.empty() || s.size() >= IFNAMSIZ || s.find('/') != std::string::npos || s.find(' ') != std::string::npos)
    ThrowRange(env, field, "'" + s + "' is not a valid interface name (1-15 characters, as in `ip link`)");
  return s;
}

IfInfo LookupInterface(Napi::Env env, const std::string& ifname) {
  Fd s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (s.fd < 0) throw SysError(env, "socket", errno, "interface lookup");
  IfInfo info{};
  struct ifreq ifr{};
  std::memcpy(ifr.ifr_name, ifname.c_str(), ifname.size());
  if (::ioctl(s.fd, SIOCGIFINDEX, &ifr) != 0) throw SysError(env, "ioctl(SIOCGIFINDEX)", errno, "interface " + ifname);
  info.ifindex = ifr.ifr_ifindex;
  if (::ioctl(s.fd, SIOCGIFHWADDR, &ifr) != 0) throw SysError(env, "ioctl(SIOCGIFHWADDR)", errno, "interface " + ifname);
  std::memcpy(info.mac, ifr.ifr_hwaddr.sa_data, 6);
  if (::ioctl(s.fd, SIOCGIFMTU, &ifr) != 0) throw SysError(env, "ioctl(SIOCGIFMTU)", errno, "interface " + ifname);
  info.mtu = ifr.ifr_mtu;
  return info;
}

int SocketIn(Napi::Env env, const std::string& netns, int domain, int type, int protocol) {
  NetnsGuard guard(env, netns);
  int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw SysError(env, "socket", errno, netns.empty() ? "" : "in network namespace " + netns);
  return fd;
}

namespace {

// interfaceInfo(ifname, netns?) -> {ifindex, mac: 'aa:bb:..', mtu}
Napi::Value InterfaceInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string ifname = IfnameArg(env, info[0], "ifname");
  std::string netns = NetnsArg(env, info[1], "netns");
  IfInfo r;
  {
    NetnsGuard guard(env, netns);
    r = LookupInterface(env, ifname);
  }
  char mac[18];
  std::snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", r.mac[0], r.mac[1], r.mac[2], r.mac[3], r.mac[4],
                r.mac[5]);
  Napi::Object o = Napi::Object::New(env);
  o.Set("ifindex", r.ifindex);
  o.Set("mac", mac);
  o.Set("mtu", r.mtu);
  return o;
}

// threadNetnsId() -> 'dev:inode' of the calling thread's namespace (tests check the guard came back).
Napi::Value ThreadNetnsId(const Napi::CallbackInfo& info) {
  struct stat st{};
  if (::stat("/proc/thread-self/ns/net", &st) != 0) throw SysError(info.Env(), "stat", errno, "/proc/thread-self/ns/net");
  return Napi::String::New(info.Env(), std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino));
}

// netnsId(name) -> 'dev:inode' of a named namespace, entering it through the guard.
Napi::Value NetnsId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string netns = NetnsArg(env, info[0], "netns");
  NetnsGuard guard(env, netns);
  return ThreadNetnsId(info);
}

// realtimeNs() -> bigint CLOCK_REALTIME in ns: the clock of SO_TIMESTAMPNS, so it orders against captures.
Napi::Value RealtimeNs(const Napi::CallbackInfo& info) {
  struct timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return Napi::BigInt::New(info.Env(), uint64_t(uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec)));
}

}  // namespace

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("interfaceInfo", Napi::Function::New(env, InterfaceInfo, "interfaceInfo"));
  exports.Set("threadNetnsId", Napi::Function::New(env, ThreadNetnsId, "threadNetnsId"));
  exports.Set("netnsId", Napi::Function::New(env, NetnsId, "netnsId"));
  exports.Set("realtimeNs", Napi::Function::New(env, RealtimeNs, "realtimeNs"));
}

}  // namespace tcplab

// Enter a named network namespace for the duration of a scope (RAII), and look up interfaces inside one.
#pragma once
#include <napi.h>
#include <cstdint>
#include <string>

namespace tcplab {

// Enters /run/netns/NAME on the calling thread in the constructor and returns to the thread's original
// namespace (saved from /proc/thread-self/ns/net, not the process's) in the destructor, also when the
// scope is left by an exception. An empty name is a no-op, so callers can pass an optional namespace.
class NetnsGuard {
 public:
  NetnsGuard(Napi::Env env, const std::string& name);
  ~NetnsGuard();
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;

 private:
  int orig_ = -1;  // fd of the thread's original namespace; -1 when nothing was entered
};

// Reads an optional namespace name from opts[field] (undefined -> ""), validating it (TypeError/RangeError).
std::string NetnsArg(Napi::Env env, const Napi::Value& v, const std::string& field);
// Reads a required interface name (1..15 chars, no '/').
std::string IfnameArg(Napi::Env env, const Napi::Value& v, const std::string& field);

struct IfInfo {
  int ifindex;
  uint8_t mac[6];
  int mtu;
};
// Looks up an interface in the current namespace (call inside a NetnsGuard). Throws SysError (ENODEV).
IfInfo LookupInterface(Napi::Env env, const std::string& ifname);

// socket(2) inside a namespace (empty = current), close-on-exec. Throws SysError on failure.
int SocketIn(Napi::Env env, const std::string& netns, int domain, int type, int protocol);

}  // namespace tcplab

#include "errors.h"

#include <cerrno>
#include <cstring>

namespace tcplab {

std::string ErrnoName(int err) {
  // strerrorname_np is glibc >= 2.32; Debian 12 has 2.36.
  const char* n = strerrorname_np(err);
  return n ? std::string(n) : "E" + std::to_string(err);
}

static std::string Hint(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return " (run as root, or grant CAP_NET_RAW and CAP_NET_ADMIN: sudo setcap cap_net_raw,cap_net_admin+ep $(which node))";
    case ENOENT:
      return " (does the network namespace or interface exist? `ip netns list`, `ip link`)";
    case ENODEV:
      return " (no such interface in that namespace: check `ip -n NS link`)";
    default:
      return "";
  }
}

Napi::Error SysError(Napi::Env env, const std::string& syscall, int err, const std::string& context) {
  std::string msg = syscall + " failed: " + ErrnoName(err) + " " + std::strerror(err);
  if (!context.empty()) msg += " [" + context + "]";
  msg += Hint(err);
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, ErrnoName(err)));
  e.Set("errno", Napi::Number::New(env, err));
  e.Set("syscall", Napi::String::New(env, syscall));
  return e;
}

void ThrowType(Napi::Env env, const std::string& field, const std::string& what) {
  Napi::TypeError e = Napi::TypeError::New(env, field + ": " + what);
  e.Set("field", Napi::String::New(env, field));
  throw e;
}

void ThrowRange(Napi::Env env, const std::string& field, const std::string& what) {
  Napi::RangeError e = Napi::RangeError::New(env, field + ": " + what);
  e.Set("field", Napi::String::New(env, field));
  throw e;
}

}  // namespace tcplab

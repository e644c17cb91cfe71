// A deliberate heap overflow in a tiny N-API module: .ci/sanitize loads it the same way as the sanitized
// addon (node + LD_PRELOAD=libasan) and requires ASan to report it, so a broken setup cannot pass silently.
#include <node_api.h>

#include <cstdlib>

static napi_value Overflow(napi_env env, napi_callback_info) {
  volatile char* p = static_cast<char*>(std::malloc(8));
  volatile char c = p[8];
  (void)c;
  std::free(const_cast<char*>(p));
  return nullptr;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "overflow", NAPI_AUTO_LENGTH, Overflow, nullptr, &f);
  napi_set_named_property(env, exports, "overflow", f);
  return exports;
}

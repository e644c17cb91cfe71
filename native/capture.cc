// Stub: filled in by its owner.
#include "modules.h"
namespace tcplab {
void InitCapture(Napi::Env env, Napi::Object exports) {}
}  // namespace tcplab

// Stub: filled in by its owner.
#include "modules.h"
namespace tcplab {
void InitSock(Napi::Env env, Napi::Object exports) {}
}  // namespace tcplab

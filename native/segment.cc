// Stub: filled in by its owner.
#include "modules.h"
namespace tcplab {
void InitSegment(Napi::Env env, Napi::Object exports) {}
}  // namespace tcplab

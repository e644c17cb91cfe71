// Module init: each part of the wire registers its own functions.
#include <napi.h>
#include "modules.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  tcplab::InitSegment(env, exports);
  tcplab::InitNetns(env, exports);
  tcplab::InitSender(env, exports);
  tcplab::InitCapture(env, exports);
  tcplab::InitSock(env, exports);
  tcplab::InitBatch(env, exports);
  return exports;
}

NODE_API_MODULE(tcplab, Init)

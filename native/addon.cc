// Module init: each part of the wire registers its own functions.
#include <napi.h>
#include "layout.h"
#include "modules.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // abiVersion: bump when an export changes shape; layoutHash: native/layout.json's tables. src/wire/native.ts
  // checks both on load, so a stale build says "rebuild" instead of decoding garbage.
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  exports.Set("layoutHash", Napi::Number::New(env, tcplab::layout::kHash));
  tcplab::InitSegment(env, exports);
  tcplab::InitNetns(env, exports);
  tcplab::InitSender(env, exports);
  tcplab::InitCapture(env, exports);
  tcplab::InitSock(env, exports);
  tcplab::InitBatch(env, exports);
  return exports;
}

NODE_API_MODULE(tcplab, Init)

// One Init per native module; addon.cc calls them all.
#pragma once
#include <napi.h>

namespace tcplab {
void InitSegment(Napi::Env env, Napi::Object exports);  // segment.cc: encode/decode/checksums
void InitNetns(Napi::Env env, Napi::Object exports);    // netns.cc: namespace helpers
void InitSender(Napi::Env env, Napi::Object exports);   // sender.cc: raw IP / AF_PACKET senders
void InitCapture(Napi::Env env, Napi::Object exports);  // capture.cc: AF_PACKET capture
void InitBatch(Napi::Env env, Napi::Object exports);    // batch.cc: decodeBatch for inspect
void InitSock(Napi::Env env, Napi::Object exports);     // sock.cc: plain kernel TCP sockets for peers
}  // namespace tcplab

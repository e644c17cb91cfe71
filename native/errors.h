// Errors thrown to JS carry errno, its symbolic name and a hint with the fix.
#pragma once
#include <napi.h>
#include <string>

namespace tcplab {
// Symbolic name for an errno value ("EADDRNOTAVAIL"), or "E<number>".
std::string ErrnoName(int err);
// A JS Error with .code (errno name), .errno (number), .syscall and a hint in the message.
Napi::Error SysError(Napi::Env env, const std::string& syscall, int err, const std::string& context = "");
// Throw a TypeError/RangeError naming the field.
[[noreturn]] void ThrowType(Napi::Env env, const std::string& field, const std::string& what);
[[noreturn]] void ThrowRange(Napi::Env env, const std::string& field, const std::string& what);
}  // namespace tcplab

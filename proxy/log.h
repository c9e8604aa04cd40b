// Leveled logging for the proxy engine: a thin layer over observe/log.h, which owns the
// level, the line format and where lines go. Never pass request data (tokens, header values,
// query strings) to these functions.
#pragma once

#include <cstdint>

#include "observe/log.h"

namespace jwtgate::proxy {

// The same enumerators as before (Debug, Info, Warn, Error); debug lines appear only when
// observe::setLevel(Level::Debug) is in force.
using LogLevel = observe::Level;

// Writes "jwtgate: <level>: <text>" when the level is enabled (see observe::log).
void logMessage(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));

// Returns true at most once per `interval_ms` for one `last_ms` slot (per-thread state held
// by the caller), so warnings on a hot failure path stay rate-limited.
inline bool rateLimitAllows(uint64_t* last_ms, uint64_t now_ms, uint64_t interval_ms) {
  return observe::rateLimitAllows(last_ms, now_ms, interval_ms);
}

}  // namespace jwtgate::proxy

// Minimal leveled logging to stderr for the proxy engine: lifecycle at info, degraded service
// at warn (rate-limited by the caller), fatal problems at error. Never pass request data
// (tokens, header values, query strings) to these functions.
#pragma once

#include <cstdint>

namespace jwtgate::proxy {

enum class LogLevel : uint8_t { Debug, Info, Warn, Error };

// TODO(logging): route through the project's logger once the logging section exists; until
// then debug is off and everything else goes to stderr as "jwtgate: <level>: <text>".
void logMessage(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));

// Returns true at most once per `interval_ms` for one `last_ms` slot (per-thread state held
// by the caller), so warnings on a hot failure path stay rate-limited.
bool rateLimitAllows(uint64_t* last_ms, uint64_t now_ms, uint64_t interval_ms);

}  // namespace jwtgate::proxy

// Where the key service's log lines go: a function the program supplies (the default,
// stderrLogSink(), hands them to observe/log.h). Lines never carry key material or tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "observe/log.h"

namespace jwtgate::jwks {

enum class LogLevel : std::uint8_t { Info, Warn, Error };

using LogSink = std::function<void(LogLevel level, std::string_view text)>;

// The observe level a key-service level is written at.
observe::Level toObserveLevel(LogLevel level);

// Writes each line through observe::logText ("jwtgate: <level>: <text>", one write per
// line, the process-wide level applies), so lines of different threads do not mix.
LogSink stderrLogSink();

}  // namespace jwtgate::jwks

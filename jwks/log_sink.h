// Where the key service's log lines go: a function the program supplies (the default writes
// "jwtgate: <level>: <text>" to stderr). Lines never carry key material or tokens.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

namespace jwtgate::jwks {

enum class LogLevel : std::uint8_t { Info, Warn, Error };

using LogSink = std::function<void(LogLevel level, std::string_view text)>;

// Writes each line with one fprintf to stderr, so lines of different threads do not mix.
LogSink stderrLogSink();

}  // namespace jwtgate::jwks

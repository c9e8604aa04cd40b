// The default log sink: stderr, in the proxy engine's format.
#include "jwks/log_sink.h"

#include <cstdio>
#include <string>

namespace jwtgate::jwks {

LogSink stderrLogSink() {
  return [](LogLevel level, std::string_view text) {
    const char* name = "info";
    switch (level) {
      case LogLevel::Info:
        name = "info";
        break;
      case LogLevel::Warn:
        name = "warn";
        break;
      case LogLevel::Error:
        name = "error";
        break;
    }
    std::string line(text);
    std::fprintf(stderr, "jwtgate: %s: %s\n", name, line.c_str());
  };
}

}  // namespace jwtgate::jwks

// Parsers for the scalar values of the configuration file: durations, sizes, addresses and
// the worker count. Each returns the value or a message that says what was expected.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/proxy_config.h"
#include "verifier/result.h"

namespace jwtgate::proxy {

// "500ms", "10s", "5m", "1h" (and "0"): milliseconds. A number without a unit is refused
// (except 0) so that "30" cannot silently mean 30 ms or 30 s.
Result<uint64_t, std::string> parseDuration(std::string_view text);

// "4096", "16KiB", "10MiB", "1GiB" (also with a "B" suffix for bytes): a byte count. Decimal
// units (KB, MB) are refused because they are ambiguous.
Result<uint64_t, std::string> parseSize(std::string_view text);

// "127.0.0.1:8080" or "[::1]:8080" with numeric addresses; port 0 is allowed.
Result<ListenAddress, std::string> parseListenAddress(std::string_view text);

// "host:port", "[::1]:3000" or "unix:/path/to/socket". A host name is resolved once, here
// (at load time), never on the request path.
Result<UpstreamAddress, std::string> parseUpstreamAddress(std::string_view text);

// "stdout", "stderr" or "off": where the access log goes.
Result<AccessLogSettings::Output, std::string> parseLogOutput(std::string_view text);

// "N" (1..1024) or "auto": one worker per core the process may run on.
Result<uint32_t, std::string> parseWorkers(std::string_view text);

// The number of cores this process may run on (its CPU affinity), at least 1.
uint32_t usableCoreCount();

}  // namespace jwtgate::proxy

// Listening sockets: one per worker and address, each bound with SO_REUSEPORT so the kernel
// spreads connections over the workers without a shared accept lock.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "verifier/result.h"

namespace jwtgate::proxy {

// A non-blocking, close-on-exec TCP socket bound to `address` and listening. IPv6 sockets
// are IPv6-only. Returns the descriptor, or a message naming the failing call.
Result<int, std::string> openListenSocket(const sockaddr_storage& address, socklen_t length);

// The port a bound socket got (for port 0 in the config); 0 when unknown.
uint16_t boundPort(int fd);

// "127.0.0.1:8080" or "[::1]:8080".
std::string formatAddress(const sockaddr_storage& address);

}  // namespace jwtgate::proxy

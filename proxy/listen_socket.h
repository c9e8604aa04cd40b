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

// Checks that no other socket listens on `address` before the workers bind it with
// SO_REUSEPORT, which would otherwise let a second process of the same user (a stale
// jwtgate, say) share the port and take part of the traffic. Binds a probe socket without
// SO_REUSEPORT and closes it. Returns a message when the address is taken.
// NOTE: a process binding the port between this probe and the workers' binds is not caught;
// the window is a few system calls at start-up.
Result<bool, std::string> checkAddressFree(const sockaddr_storage& address, socklen_t length);

// The port a bound socket got (for port 0 in the config); 0 when unknown.
uint16_t boundPort(int fd);

// "127.0.0.1:8080" or "[::1]:8080".
std::string formatAddress(const sockaddr_storage& address);

}  // namespace jwtgate::proxy

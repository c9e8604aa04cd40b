// The settings of the forwarding engine: where to listen, where to forward, how many worker
// loops, and the limits and timeouts every connection obeys. Filled by the config loader.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace jwtgate::proxy {

// A TCP address to listen on. `address` holds the numeric form; the port may be 0 (the kernel
// picks one; the server reports the bound port).
struct ListenAddress {
  std::string text;  // as written in the config, for messages
  sockaddr_storage address{};
  socklen_t address_length = 0;
};

// Where requests go: a TCP address (resolved once at load time) or a Unix socket path.
struct UpstreamAddress {
  enum class Kind : uint8_t { Tcp, Unix };
  Kind kind = Kind::Tcp;
  std::string text;       // as written in the config, for messages
  std::string authority;  // host:port, sent as Host when a client sent none (HTTP/1.0)
  std::string unix_path;  // Kind::Unix only
  sockaddr_storage address{};
  socklen_t address_length = 0;
};

struct Limits {
  size_t max_header_bytes = 32 * 1024;  // request line + headers; beyond -> 431
  uint32_t max_header_count = 100;      // beyond -> 431
  uint64_t max_body_bytes = 0;          // 0 = unlimited; beyond -> 413
  uint32_t max_connections = 10000;     // open client connections per process
  uint32_t max_idle_upstream = 64;      // idle pooled upstream connections per worker
  // Protocols a client may upgrade to (lower case, names only). Upgrade offers of any other
  // protocol are removed and the request goes upstream as an ordinary one.
  std::vector<std::string> upgrade_protocols = {"websocket"};
};

// Every value is in milliseconds; 0 turns the timeout off (for `drain`: do not wait).
struct Timeouts {
  uint64_t request_header_ms = 10'000;     // whole request head; beyond -> 408
  uint64_t client_idle_ms = 60'000;        // keep-alive idle, and stalled transfers
  uint64_t upstream_connect_ms = 2'000;    // beyond -> 503
  uint64_t upstream_response_ms = 30'000;  // until the first response byte; beyond -> 504
  uint64_t drain_ms = 15'000;              // after SIGTERM/SIGINT, for in-flight requests
  // After the first SIGTERM/SIGINT: keep accepting and serving this long (readiness reports
  // draining) before the drain starts; 0 drains at once.
  uint64_t shutdown_grace_ms = 0;
};

// The access log: one JSON line per request on `output`. Lines wait in a per-worker buffer
// of `buffer_bytes`; when it is full, lines are dropped and counted rather than blocking.
struct AccessLogSettings {
  enum class Output : uint8_t { Stdout, Stderr, Off };
  Output output = Output::Stdout;
  std::string subject_claim = "sub";       // the claim logged as "subject"; "" logs none
  std::vector<std::string> secret_claims;  // claim paths that never appear in a log line
  size_t buffer_bytes = 1024 * 1024;
};

struct ProxyConfig {
  std::vector<ListenAddress> listen;
  UpstreamAddress upstream;
  uint32_t workers = 1;  // resolved: `auto` becomes the number of usable cores
  // true: keep incoming X-Forwarded-Proto/-Host, Forwarded and X-Real-IP; false: the first
  // two are replaced, the last two removed.
  bool trust_forwarded = false;
  Limits limits;
  Timeouts timeouts;
  AccessLogSettings access_log;
};

}  // namespace jwtgate::proxy

// The forwarding engine's counters and latency histograms, one set per worker (written by
// that worker's thread only, read by any), and their rendering as the jwtgate_* families.
#pragma once

#include <time.h>

#include <cstdint>
#include <span>
#include <string_view>

#include "observe/metrics.h"

namespace jwtgate::proxy {

// CLOCK_MONOTONIC in nanoseconds (a vDSO call, no system call): the request timings.
inline uint64_t monotonicNanos() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(now.tv_nsec);
}

// The label values of jwtgate_upstream_errors_total{kind}; stable.
enum class UpstreamErrorKind : uint8_t {
  ConnectFailed,    // refused, unreachable
  ConnectTimeout,   // timeouts.upstream_connect
  ResponseTimeout,  // timeouts.upstream_response
  Reset,            // closed or reset before or during the response
  BadResponse,      // a response the proxy could not parse or accept
};
inline constexpr size_t kUpstreamErrorKinds = 5;

std::string_view toString(UpstreamErrorKind kind);

// Per worker. Every member has one writer (the worker's thread): relaxed load and store.
struct WorkerStats {
  observe::Counter connections_accepted;
  observe::Gauge open_connections;
  observe::Counter requests;  // request heads parsed
  observe::Counter local_replies;
  observe::Counter proxy_errors;
  observe::Counter upstream_connects;
  observe::Counter upstream_reuses;
  observe::Counter upstream_requests;  // request heads sent upstream, retries included
  observe::Counter upstream_retries;
  observe::Counter upstream_failures;
  observe::Counter accept_pauses;
  observe::Counter responses[4];  // by status class: 2xx, 3xx, 4xx, 5xx
  observe::Counter upstream_errors[kUpstreamErrorKinds];
  observe::Histogram request_duration{observe::kLatencyBounds};
  observe::Histogram upstream_duration{observe::kLatencyBounds};

  // Counts a final response sent to the client (1xx and 0 are not counted).
  void countResponse(int status) {
    if (status >= 200 && status < 600) {
      responses[status / 100 - 2].add();
    }
  }
  void countUpstreamError(UpstreamErrorKind kind) {
    upstream_errors[static_cast<size_t>(kind)].add();
  }
};

// Values that belong to the process rather than to a worker.
struct EngineTotals {
  bool draining = false;
  uint32_t workers = 0;
  uint64_t log_lines_written = 0;
  uint64_t log_lines_dropped = 0;
};

// Renders every engine family (always all of them, 0 when unused), summed over `workers`.
void renderEngineMetrics(observe::MetricsText& out, std::span<const WorkerStats* const> workers,
                         const EngineTotals& totals);

}  // namespace jwtgate::proxy

// Summing the workers' engine metrics into the Prometheus families.
#include "proxy/engine_metrics.h"

namespace jwtgate::proxy {

std::string_view toString(UpstreamErrorKind kind) {
  switch (kind) {
    case UpstreamErrorKind::ConnectFailed:
      return "connect_failed";
    case UpstreamErrorKind::ConnectTimeout:
      return "connect_timeout";
    case UpstreamErrorKind::ResponseTimeout:
      return "response_timeout";
    case UpstreamErrorKind::Reset:
      return "reset";
    case UpstreamErrorKind::BadResponse:
      return "bad_response";
  }
  return "other";
}

void renderEngineMetrics(observe::MetricsText& out, std::span<const WorkerStats* const> workers,
                         const EngineTotals& totals) {
  // Sums first: a scrape reads each value once.
  uint64_t responses[4] = {};
  uint64_t upstream_errors[kUpstreamErrorKinds] = {};
  uint64_t upstream_requests = 0;
  uint64_t upstream_retries = 0;
  uint64_t accepted = 0;
  int64_t open = 0;
  observe::HistogramSum request_duration(observe::kLatencyBounds);
  observe::HistogramSum upstream_duration(observe::kLatencyBounds);
  for (const WorkerStats* stats : workers) {
    for (size_t i = 0; i < 4; ++i) {
      responses[i] += stats->responses[i].value();
    }
    for (size_t i = 0; i < kUpstreamErrorKinds; ++i) {
      upstream_errors[i] += stats->upstream_errors[i].value();
    }
    upstream_requests += stats->upstream_requests.value();
    upstream_retries += stats->upstream_retries.value();
    accepted += stats->connections_accepted.value();
    open += stats->open_connections.value();
    request_duration.add(stats->request_duration);
    upstream_duration.add(stats->upstream_duration);
  }

  out.family("jwtgate_http_requests_total", "counter",
             "Responses sent to clients, by status class (local replies included).");
  constexpr std::string_view kClasses[] = {"2xx", "3xx", "4xx", "5xx"};
  for (size_t i = 0; i < 4; ++i) {
    out.sample("jwtgate_http_requests_total", {{"code", kClasses[i]}}, responses[i]);
  }
  out.family("jwtgate_request_duration_seconds", "histogram",
             "From the request head parsed to the last response byte handed to the client.");
  out.histogram("jwtgate_request_duration_seconds", {}, request_duration);
  out.family("jwtgate_upstream_duration_seconds", "histogram",
             "From the request sent upstream to the last response byte received.");
  out.histogram("jwtgate_upstream_duration_seconds", {}, upstream_duration);
  out.family("jwtgate_upstream_errors_total", "counter",
             "Failed upstream exchanges, by kind (retried ones included).");
  for (size_t i = 0; i < kUpstreamErrorKinds; ++i) {
    out.sample("jwtgate_upstream_errors_total",
               {{"kind", toString(static_cast<UpstreamErrorKind>(i))}}, upstream_errors[i]);
  }
  out.family("jwtgate_upstream_requests_total", "counter",
             "Request heads sent upstream (each retry counts again).");
  out.sample("jwtgate_upstream_requests_total", {}, upstream_requests);
  out.family("jwtgate_upstream_retries_total", "counter",
             "Requests retried on a fresh upstream connection.");
  out.sample("jwtgate_upstream_retries_total", {}, upstream_retries);
  out.family("jwtgate_open_connections", "gauge", "Client connections now open.");
  out.sample("jwtgate_open_connections", {}, open);
  out.family("jwtgate_connections_accepted_total", "counter", "Client connections accepted.");
  out.sample("jwtgate_connections_accepted_total", {}, accepted);
  out.family("jwtgate_access_log_lines_total", "counter",
             "Access log lines queued for output, and dropped because the buffer was full.");
  out.sample("jwtgate_access_log_lines_total", {{"result", "written"}}, totals.log_lines_written);
  out.sample("jwtgate_access_log_lines_total", {{"result", "dropped"}}, totals.log_lines_dropped);
  out.family("jwtgate_draining", "gauge", "1 from the first SIGTERM/SIGINT on.");
  out.sample("jwtgate_draining", {}, totals.draining ? 1 : 0);
  out.family("jwtgate_workers", "gauge", "Worker threads.");
  out.sample("jwtgate_workers", {}, totals.workers);
}

}  // namespace jwtgate::proxy

// The engine's families: every one present even when nothing happened, and the workers'
// values summed.
#include "proxy/engine_metrics.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace jwtgate::proxy {
namespace {

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

}  // namespace

TEST_SUITE("proxy/engine_metrics") {
  TEST_CASE("every family is rendered with zeros when nothing happened") {
    observe::MetricsText out;
    renderEngineMetrics(out, {}, EngineTotals{});
    std::string text = out.take();
    for (const char* line : {
             "jwtgate_http_requests_total{code=\"2xx\"} 0",
             "jwtgate_http_requests_total{code=\"5xx\"} 0",
             "jwtgate_request_duration_seconds_count 0",
             "jwtgate_upstream_duration_seconds_count 0",
             "jwtgate_upstream_errors_total{kind=\"connect_failed\"} 0",
             "jwtgate_upstream_errors_total{kind=\"connect_timeout\"} 0",
             "jwtgate_upstream_errors_total{kind=\"response_timeout\"} 0",
             "jwtgate_upstream_errors_total{kind=\"reset\"} 0",
             "jwtgate_upstream_errors_total{kind=\"bad_response\"} 0",
             "jwtgate_upstream_requests_total 0",
             "jwtgate_upstream_retries_total 0",
             "jwtgate_open_connections 0",
             "jwtgate_connections_accepted_total 0",
             "jwtgate_access_log_lines_total{result=\"written\"} 0",
             "jwtgate_access_log_lines_total{result=\"dropped\"} 0",
             "jwtgate_draining 0",
             "jwtgate_workers 0",
             "# TYPE jwtgate_request_duration_seconds histogram",
             "# TYPE jwtgate_open_connections gauge",
         }) {
      CAPTURE(line);
      CHECK(has(text, line));
    }
  }

  TEST_CASE("the workers' counters and histograms are summed") {
    WorkerStats first;
    WorkerStats second;
    first.countResponse(200);
    first.countResponse(204);
    second.countResponse(404);
    second.countResponse(503);
    second.countResponse(101);  // interim and switching responses are not counted
    second.countResponse(0);
    first.countUpstreamError(UpstreamErrorKind::Reset);
    second.countUpstreamError(UpstreamErrorKind::Reset);
    second.countUpstreamError(UpstreamErrorKind::BadResponse);
    first.upstream_requests.add(3);
    second.upstream_requests.add(4);
    first.upstream_retries.add();
    first.connections_accepted.add(5);
    second.connections_accepted.add(2);
    first.open_connections.add(2);
    second.open_connections.add(1);
    first.request_duration.observeNanos(50'000);      // 0.05 ms: first bucket
    second.request_duration.observeNanos(3'000'000);  // 3 ms: le 0.005
    second.upstream_duration.observeNanos(20'000'000'000);  // beyond every bound

    const WorkerStats* workers[] = {&first, &second};
    EngineTotals totals;
    totals.draining = true;
    totals.workers = 2;
    totals.log_lines_written = 9;
    totals.log_lines_dropped = 1;
    observe::MetricsText out;
    renderEngineMetrics(out, workers, totals);
    std::string text = out.take();
    for (const char* line : {
             "jwtgate_http_requests_total{code=\"2xx\"} 2",
             "jwtgate_http_requests_total{code=\"3xx\"} 0",
             "jwtgate_http_requests_total{code=\"4xx\"} 1",
             "jwtgate_http_requests_total{code=\"5xx\"} 1",
             "jwtgate_upstream_errors_total{kind=\"reset\"} 2",
             "jwtgate_upstream_errors_total{kind=\"bad_response\"} 1",
             "jwtgate_upstream_requests_total 7",
             "jwtgate_upstream_retries_total 1",
             "jwtgate_connections_accepted_total 7",
             "jwtgate_open_connections 3",
             "jwtgate_request_duration_seconds_bucket{le=\"0.0001\"} 1",
             "jwtgate_request_duration_seconds_bucket{le=\"0.0025\"} 1",
             "jwtgate_request_duration_seconds_bucket{le=\"0.005\"} 2",
             "jwtgate_request_duration_seconds_count 2",
             "jwtgate_upstream_duration_seconds_bucket{le=\"10\"} 0",
             "jwtgate_upstream_duration_seconds_bucket{le=\"+Inf\"} 1",
             "jwtgate_access_log_lines_total{result=\"written\"} 9",
             "jwtgate_access_log_lines_total{result=\"dropped\"} 1",
             "jwtgate_draining 1",
             "jwtgate_workers 2",
         }) {
      CAPTURE(line);
      CHECK(has(text, line));
    }
  }
}

}  // namespace jwtgate::proxy

// Metric primitives and the Prometheus text exposition (version 0.0.4).
#include "observe/metrics.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace jwtgate::observe {
namespace {

// One parsed sample line: name, labels (unescaped) and the value text.
struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string value;
};

// A strict reader for sample lines as the format defines them; false on any deviation.
bool parseSample(const std::string& line, Sample* out) {
  size_t i = 0;
  while (i < line.size() &&
         (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '_' || line[i] == ':')) {
    ++i;
  }
  if (i == 0) {
    return false;
  }
  out->name = line.substr(0, i);
  out->labels.clear();
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const size_t eq = line.find("=\"", i);
      if (eq == std::string::npos) {
        return false;
      }
      std::string key = line.substr(i, eq - i);
      std::string value;
      i = eq + 2;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\') {
          if (i + 1 >= line.size()) {
            return false;
          }
          const char next = line[i + 1];
          if (next == 'n') {
            value += '\n';
          } else if (next == '\\' || next == '"') {
            value += next;
          } else {
            return false;
          }
          i += 2;
        } else if (line[i] == '\n') {
          return false;
        } else {
          value += line[i++];
        }
      }
      if (i >= line.size()) {
        return false;
      }
      ++i;  // closing quote
      out->labels.emplace_back(std::move(key), std::move(value));
      if (i < line.size() && line[i] == ',') {
        ++i;
      }
    }
    if (i >= line.size()) {
      return false;
    }
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') {
    return false;
  }
  out->value = line.substr(i + 1);
  return !out->value.empty() && out->value.find(' ') == std::string::npos;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    REQUIRE(nl != std::string::npos);  // every line, the last included, ends with '\n'
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::vector<Sample> samples(const std::string& text) {
  std::vector<Sample> out;
  for (const std::string& line : lines(text)) {
    if (line.rfind("# ", 0) == 0) {
      continue;
    }
    Sample sample;
    CAPTURE(line);
    REQUIRE(parseSample(line, &sample));
    out.push_back(sample);
  }
  return out;
}

std::string render(double value) {
  std::string out;
  appendMetricNumber(out, value);
  return out;
}

}  // namespace

TEST_SUITE("observe/metrics") {
  TEST_CASE("per-thread counters summed after several threads counted") {
    constexpr size_t kThreads = 4;
    constexpr uint64_t kAdds = 100000;
    std::vector<Counter> counters(kThreads);
    SharedCounter shared;
    std::vector<std::thread> threads;
    for (size_t t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (uint64_t i = 0; i < kAdds; ++i) {
          counters[t].add();
          shared.add(2);
        }
        counters[t].add(t);
      });
    }
    for (auto& thread : threads) {
      thread.join();
    }
    uint64_t total = 0;
    for (const Counter& counter : counters) {
      total += counter.value();
    }
    CHECK(total == kThreads * kAdds + (0 + 1 + 2 + 3));
    CHECK(shared.value() == 2 * kThreads * kAdds);
  }

  TEST_CASE("a gauge is set and moved both ways") {
    Gauge gauge;
    CHECK(gauge.value() == 0);
    gauge.add(5);
    gauge.add(-7);
    CHECK(gauge.value() == -2);
    gauge.set(42);
    CHECK(gauge.value() == 42);
  }

  TEST_CASE("a histogram counts a value equal to a bound in that bound's bucket") {
    Histogram histogram(kLatencyBounds);
    REQUIRE(histogram.bucketCount() == std::size(kLatencyBounds) + 1);
    histogram.observeNanos(0);            // first bucket (le 0.0001)
    histogram.observeNanos(100000);       // exactly 0.0001 s: first bucket
    histogram.observeNanos(100001);       // second bucket (le 0.00025)
    histogram.observeNanos(1000000000);   // exactly 1 s: the "1" bucket (index 12)
    histogram.observeNanos(10000000001);  // above 10 s: overflow
    histogram.observeNanos(UINT64_C(1) << 62);
    CHECK(histogram.bucket(0) == 2);
    CHECK(histogram.bucket(1) == 1);
    CHECK(histogram.bucket(12) == 1);
    CHECK(histogram.bucket(16) == 2);
    CHECK(histogram.count() == 6);
    CHECK(histogram.sumNanos() ==
          100000 + 100001 + 1000000000 + UINT64_C(10000000001) + (UINT64_C(1) << 62));
  }

  TEST_CASE("numbers print integers as integers and the rest in their shortest form") {
    CHECK(render(0) == "0");
    CHECK(render(-0.0) == "0");
    CHECK(render(3) == "3");
    CHECK(render(-12) == "-12");
    CHECK(render(0.25) == "0.25");
    CHECK(render(0.0001) == "0.0001");
    CHECK(render(1.5e-5) == "0.000015");
    CHECK(render(1.5e-7) == "1.5e-07");
    CHECK(render(123456789012.5) == "123456789012.5");
    CHECK(render(1e21) == "1e+21");
    CHECK(render(std::numeric_limits<double>::quiet_NaN()) == "NaN");
    CHECK(render(std::numeric_limits<double>::infinity()) == "+Inf");
    CHECK(render(-std::numeric_limits<double>::infinity()) == "-Inf");
    for (double v : {0.1, 1.0 / 3, 123456.789, 2.5e-10}) {
      CAPTURE(v);
      CHECK(std::stod(render(v)) == v);
    }

    MetricsText text;
    text.family("u", "gauge", "unsigned");
    text.sample("u", {}, std::numeric_limits<uint64_t>::max());
    text.family("s", "gauge", "signed");
    text.sample("s", {}, std::numeric_limits<int64_t>::min());
    text.sample("s", {}, -1);
    text.sample("s", {}, 7);
    CHECK(text.take() ==
          "# HELP u unsigned\n# TYPE u gauge\nu 18446744073709551615\n"
          "# HELP s signed\n# TYPE s gauge\ns -9223372036854775808\ns -1\ns 7\n");
  }

  TEST_CASE("label values escape backslash, double quote and newline; help escapes too") {
    const std::string hostile = "a\\b\"c\nd}e,f=g";
    MetricsText text;
    text.family("jwtgate_test_total", "counter", "line one\nback\\slash \"quoted\"");
    text.sample("jwtgate_test_total", {{"route", hostile}, {"outcome", "allowed"}}, 3u);
    const std::string out = text.take();
    CHECK(out ==
          "# HELP jwtgate_test_total line one\\nback\\\\slash \"quoted\"\n"
          "# TYPE jwtgate_test_total counter\n"
          "jwtgate_test_total{route=\"a\\\\b\\\"c\\nd}e,f=g\",outcome=\"allowed\"} 3\n");

    // And a strict reader gets the original value back.
    const std::vector<Sample> parsed = samples(out);
    REQUIRE(parsed.size() == 1);
    REQUIRE(parsed[0].labels.size() == 2);
    CHECK(parsed[0].labels[0].first == "route");
    CHECK(parsed[0].labels[0].second == hostile);
    CHECK(parsed[0].labels[1].second == "allowed");
  }

  TEST_CASE("every byte in a label value survives the round trip through the text") {
    std::string all;
    for (int b = 1; b < 256; ++b) {
      all += static_cast<char>(b);
    }
    MetricsText text;
    text.family("m", "gauge", "h");
    text.sample("m", {{"v", all}}, 1);
    const std::vector<Sample> parsed = samples(text.take());
    REQUIRE(parsed.size() == 1);
    CHECK(parsed[0].labels[0].second == all);
  }

  TEST_CASE("HELP and TYPE appear once per family and samples stay grouped under it") {
    MetricsText text;
    text.family("a_total", "counter", "A");
    text.sample("a_total", {{"k", "1"}}, 1);
    text.family("b", "gauge", "B");
    text.sample("b", {}, 2);
    text.family("a_total", "counter", "A again");  // ignored
    text.sample("a_total", {{"k", "2"}}, 3);
    text.family("empty_total", "counter", "no samples yet");
    CHECK(text.take() ==
          "# HELP a_total A\n# TYPE a_total counter\na_total{k=\"1\"} 1\na_total{k=\"2\"} 3\n"
          "# HELP b B\n# TYPE b gauge\nb 2\n"
          "# HELP empty_total no samples yet\n# TYPE empty_total counter\n");
    CHECK(text.take().empty());  // take() leaves the builder empty
  }

  TEST_CASE("a histogram renders cumulative buckets, +Inf, the sum in seconds and the count") {
    static constexpr double kBounds[] = {0.001, 0.01, 0.1};
    Histogram worker1(kBounds);
    Histogram worker2(kBounds);
    worker1.observeNanos(500000);      // 0.0005 s
    worker1.observeNanos(5000000);     // 0.005 s
    worker2.observeNanos(1000000);     // 0.001 s exactly: le 0.001
    worker2.observeNanos(2000000000);  // 2 s: only +Inf
    worker2.observeNanos(50000000);    // 0.05 s

    HistogramSum sum(kBounds);
    sum.add(worker1);
    sum.add(worker2);
    CHECK(sum.count() == 5);
    CHECK(sum.buckets()[0] == 2);
    CHECK(sum.buckets()[3] == 1);

    MetricsText text;
    text.family("jwtgate_request_duration_seconds", "histogram", "Request time.");
    text.histogram("jwtgate_request_duration_seconds", {{"route", "r\"1"}}, sum);
    text.histogram("jwtgate_request_duration_seconds", {}, HistogramSum(kBounds));
    const std::string out = text.take();
    CHECK(out ==
          "# HELP jwtgate_request_duration_seconds Request time.\n"
          "# TYPE jwtgate_request_duration_seconds histogram\n"
          "jwtgate_request_duration_seconds_bucket{route=\"r\\\"1\",le=\"0.001\"} 2\n"
          "jwtgate_request_duration_seconds_bucket{route=\"r\\\"1\",le=\"0.01\"} 3\n"
          "jwtgate_request_duration_seconds_bucket{route=\"r\\\"1\",le=\"0.1\"} 4\n"
          "jwtgate_request_duration_seconds_bucket{route=\"r\\\"1\",le=\"+Inf\"} 5\n"
          "jwtgate_request_duration_seconds_sum{route=\"r\\\"1\"} 2.0565\n"
          "jwtgate_request_duration_seconds_count{route=\"r\\\"1\"} 5\n"
          "jwtgate_request_duration_seconds_bucket{le=\"0.001\"} 0\n"
          "jwtgate_request_duration_seconds_bucket{le=\"0.01\"} 0\n"
          "jwtgate_request_duration_seconds_bucket{le=\"0.1\"} 0\n"
          "jwtgate_request_duration_seconds_bucket{le=\"+Inf\"} 0\n"
          "jwtgate_request_duration_seconds_sum 0\n"
          "jwtgate_request_duration_seconds_count 0\n");
  }

  TEST_CASE("the latency table renders every bound as a readable le") {
    Histogram histogram(kLatencyBounds);
    histogram.observeNanos(3000000);  // 0.003 s
    HistogramSum sum(kLatencyBounds);
    sum.add(histogram);
    MetricsText text;
    text.family("h", "histogram", "h");
    text.histogram("h", {}, sum);
    std::vector<std::string> les;
    uint64_t previous = 0;
    for (const Sample& sample : samples(text.take())) {
      if (sample.name != "h_bucket") {
        continue;
      }
      REQUIRE(sample.labels.size() == 1);
      les.push_back(sample.labels[0].second);
      const uint64_t value = std::stoull(sample.value);
      CHECK(value >= previous);  // cumulative
      previous = value;
    }
    CHECK(les == std::vector<std::string>{"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005",
                                          "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
                                          "5", "10", "+Inf"});
    CHECK(previous == 1);
  }

  TEST_CASE("the registry renders its collectors in the order they were added") {
    MetricsRegistry registry;
    std::vector<std::thread> adders;
    for (int t = 0; t < 4; ++t) {
      adders.emplace_back([&registry, t] {
        registry.add([t](MetricsText& text) {
          text.family("shared", "gauge", "one family from four collectors");
          text.sample("shared", {{"t", std::to_string(t)}}, t);
        });
      });
    }
    for (auto& adder : adders) {
      adder.join();
    }
    registry.add([](MetricsText& text) {
      text.family("last", "gauge", "added last");
      text.sample("last", {}, 1);
    });
    const std::string out = registry.render();
    const std::vector<Sample> parsed = samples(out);
    REQUIRE(parsed.size() == 5);
    CHECK(parsed[4].name == "last");
    std::map<std::string, int> seen;
    for (size_t i = 0; i < 4; ++i) {
      CHECK(parsed[i].name == "shared");
      seen[parsed[i].labels[0].second]++;
    }
    CHECK(seen.size() == 4);
    CHECK(out.find("# TYPE shared gauge\n") == out.rfind("# TYPE shared gauge\n"));
    CHECK(registry.render() == out);  // rendering again gives the same text
  }

  TEST_CASE("the label table interns values and maps the overflow to other") {
    LabelTable table(4);
    CHECK(table.size() == 0);
    CHECK(table.name(0).empty());
    const uint32_t a = table.intern("alpha");
    const uint32_t b = table.intern("beta");
    CHECK(a == 0);
    CHECK(b == 1);
    CHECK(table.intern("alpha") == a);
    CHECK(table.intern("gamma") == 2);
    CHECK(table.size() == 3);
    CHECK(table.name(3).empty());  // not given out yet
    CHECK(table.intern("delta") == 3);
    CHECK(table.intern("epsilon") == 3);
    CHECK(table.name(3) == "other");
    CHECK(table.size() == 4);
    CHECK(table.name(b) == "beta");
    CHECK(table.intern("gamma") == 2);
    CHECK(table.name(99).empty());
  }

  TEST_CASE("label names are readable while another thread interns") {
    LabelTable table(256);
    std::thread writer([&table] {
      for (int i = 0; i < 300; ++i) {
        table.intern("route-" + std::to_string(i));
      }
    });
    size_t bad = 0;
    for (int round = 0; round < 2000; ++round) {
      const size_t size = table.size();
      for (uint32_t id = 0; id < size && id < 255; ++id) {
        if (table.name(id) != "route-" + std::to_string(id)) {
          ++bad;
        }
      }
    }
    writer.join();
    CHECK(bad == 0);
    CHECK(table.size() == 256);
    CHECK(table.name(255) == "other");
  }
}

}  // namespace jwtgate::observe

// Metric primitives that cost a plain load and store on the hot path (one writer per value,
// any number of readers) and the Prometheus text exposition (version 0.0.4) built from them.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace jwtgate::observe {

// One writer thread, any number of readers: relaxed load+store, no locked instruction.
// Values written by several threads need one Counter per thread, summed when scraped, or
// a SharedCounter.
class Counter {
 public:
  void add(uint64_t n = 1) {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// A counter any thread may add to (a locked add): for rare events on several threads.
class SharedCounter {
 public:
  void add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// One writer thread, any number of readers.
class Gauge {
 public:
  void set(int64_t v) { value_.store(v, std::memory_order_relaxed); }
  void add(int64_t d) {
    value_.store(value_.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
  }
  int64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<int64_t> value_{0};
};

// Upper bounds in seconds (Prometheus "le") for latencies.
inline constexpr double kLatencyBounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                            0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                            1,      2.5,     5,      10};

// Fixed upper bounds in seconds, one writer, any number of readers. The bounds must be
// strictly increasing and finite; they are a static table, kept by span (not copied), so
// they must outlive the histogram. Movable, not copyable.
class Histogram {
 public:
  explicit Histogram(std::span<const double> bounds_seconds);

  // Counts one observation in the first bucket whose bound is >= the value (a value equal
  // to a bound counts in that bucket, as "le" says); above every bound: the overflow bucket.
  void observeNanos(uint64_t nanos);

  // For scraping. bucketCount() == bounds().size() + 1; bucket(i) is the non-cumulative
  // count of bucket i, the last one being the overflow (+Inf) bucket.
  std::span<const double> bounds() const { return bounds_; }
  size_t bucketCount() const { return bounds_.size() + 1; }
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t sumNanos() const { return sum_nanos_.load(std::memory_order_relaxed); }
  // The sum of the buckets, so it always equals the +Inf bucket when rendered.
  uint64_t count() const;

 private:
  std::span<const double> bounds_;
  std::unique_ptr<uint64_t[]> bound_nanos_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<uint64_t> sum_nanos_{0};
};

// Accumulates several Histogram of the same bounds (e.g. one per worker) for rendering.
// A plain value type owned by the scraping thread.
class HistogramSum {
 public:
  explicit HistogramSum(std::span<const double> bounds_seconds);

  // Adds every bucket and the sum of `histogram`, whose bounds must have the same size
  // (asserted; they should be the same table).
  void add(const Histogram& histogram);

  std::span<const double> bounds() const { return bounds_; }
  // Non-cumulative counts, size bounds().size() + 1 (the last is the +Inf overflow).
  std::span<const uint64_t> buckets() const { return buckets_; }
  uint64_t count() const;
  uint64_t sumNanos() const { return sum_nanos_; }
  double sumSeconds() const { return static_cast<double>(sum_nanos_) / 1e9; }

 private:
  std::span<const double> bounds_;
  std::vector<uint64_t> buckets_;
  uint64_t sum_nanos_ = 0;
};

using MetricLabel = std::pair<std::string_view, std::string_view>;
using MetricLabels = std::initializer_list<MetricLabel>;

// Builds the Prometheus text exposition (version 0.0.4). Samples are grouped under their
// family whatever the call order, and HELP/TYPE appear once per family, in the order the
// families were first declared, so several collectors may contribute to one family.
// Label values are escaped (backslash, double quote, newline); HELP text too (backslash,
// newline). Names are not checked: they come from the code, not from input.
// Integral values print as integers; doubles in their shortest exact digits ("3", "0.25",
// "0.0001"; exponent form below 1e-5 or from 1e16: "1.5e-07"), NaN as "NaN", infinities
// as "+Inf" / "-Inf".
class MetricsText {
 public:
  // Declares a family: type is "counter", "gauge", "histogram" (or "untyped"/"summary").
  // A second declaration of the same name is ignored.
  void family(std::string_view name, std::string_view type, std::string_view help);

  // One sample. `name` is the family name (for a counter, the _total name itself). A sample
  // of an undeclared family gets a family without HELP/TYPE lines.
  // labels: {{"route", "admin"}, {"outcome", "allowed"}}, or {} for none.
  void sample(std::string_view name, MetricLabels labels, double value);
  template <std::integral T>
  void sample(std::string_view name, MetricLabels labels, T value) {
    if constexpr (std::is_signed_v<T>) {
      sampleInteger(name, labels, static_cast<int64_t>(value), value < 0);
    } else {
      sampleInteger(name, labels, static_cast<uint64_t>(value), false);
    }
  }

  // name_bucket{labels..., le="<bound>"} with cumulative counts, le="+Inf" equal to the
  // count, then name_sum (seconds) and name_count. `name` is the family name.
  void histogram(std::string_view name, MetricLabels labels, const HistogramSum& sum);

  // The whole text; leaves the builder empty.
  std::string take();

 private:
  struct Family {
    std::string name;
    std::string header;  // HELP and TYPE lines, may be empty
    std::string body;    // sample lines
  };

  Family& familyFor(std::string_view name);
  void sampleInteger(std::string_view name, MetricLabels labels, uint64_t magnitude, bool negative);
  void appendSampleHead(std::string& out, std::string_view name, std::string_view suffix,
                        MetricLabels labels, std::string_view le);

  std::vector<Family> families_;
  std::unordered_map<std::string, size_t> index_;
  size_t last_ = 0;  // index of the family used last (fast path)
};

// Appends a number as the exposition prints it (see MetricsText).
void appendMetricNumber(std::string& out, double value);

// Collectors render their families; the admin listener calls render() on /metrics.
class MetricsRegistry {
 public:
  using Collector = std::function<void(MetricsText&)>;

  // Thread-safe; collectors (and whatever they capture) must live as long as the registry.
  void add(Collector c);

  // Calls each collector in the order added (outside the registry's lock, so a collector
  // may be slow or add another collector) and returns the exposition text.
  std::string render() const;

 private:
  mutable std::mutex mutex_;
  std::vector<Collector> collectors_;
};

// Process-wide interning of label values that come from the config (route and provider
// names), so per-worker arrays can be indexed by a small id across reloads. Append-only:
// an id keeps its name for the table's lifetime.
class LabelTable {
 public:
  // capacity >= 2 (smaller is raised to 2). Ids 0..capacity-2 name interned values; once
  // those are taken, every new value gets id capacity-1, whose name is "other".
  explicit LabelTable(size_t capacity);
  LabelTable(const LabelTable&) = delete;
  LabelTable& operator=(const LabelTable&) = delete;

  // The id of `value`, interning it if new. Takes a mutex: config time only.
  uint32_t intern(std::string_view value);

  // The name of `id`, "" for an id not yet given out. Thread-safe, lock-free; the view
  // lives as long as the table.
  std::string_view name(uint32_t id) const;

  // Ids below size() are given out (size() == capacity() once "other" is in use).
  // Thread-safe.
  size_t size() const { return size_.load(std::memory_order_acquire); }
  size_t capacity() const { return capacity_; }

 private:
  size_t capacity_;
  std::unique_ptr<std::string[]> names_;
  std::atomic<size_t> size_{0};
  std::mutex mutex_;
  std::unordered_map<std::string, uint32_t> ids_;
};

}  // namespace jwtgate::observe

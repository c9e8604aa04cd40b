// Histograms, the Prometheus text builder, the collector registry and the label table.
#include "observe/metrics.h"

#include <cassert>
#include <charconv>
#include <cmath>

namespace jwtgate::observe {
namespace {

void appendUnsigned(std::string& out, uint64_t value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof(digits), value);
  out.append(digits, result.ptr);
}

// Label values: backslash, double quote and line feed are escaped (text format 0.0.4).
void appendLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

// HELP text: backslash and line feed are escaped.
void appendHelp(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

}  // namespace

void appendMetricNumber(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  if (value == 0) {
    out += '0';  // also for -0
    return;
  }

  // The shortest digits that read back exactly; plain notation in the usual range (so a
  // bound reads "0.0001", not "1e-04"), exponent notation beyond it. Integral values come
  // out without a point.
  const double magnitude = std::fabs(value);
  const auto format =
      magnitude >= 1e-5 && magnitude < 1e16 ? std::chars_format::fixed : std::chars_format::general;
  char text[64];
  const auto result = std::to_chars(text, text + sizeof(text), value, format);
  out.append(text, result.ptr);
}

Histogram::Histogram(std::span<const double> bounds_seconds)
    : bounds_(bounds_seconds),
      bound_nanos_(std::make_unique<uint64_t[]>(bounds_seconds.size())),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_seconds.size() + 1)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    assert(std::isfinite(bounds_[i]) && bounds_[i] >= 0);
    assert(i == 0 || bounds_[i] > bounds_[i - 1]);
    bound_nanos_[i] = static_cast<uint64_t>(std::llround(bounds_[i] * 1e9));
  }
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    buckets_[i].store(0, std::memory_order_relaxed);
  }
}

void Histogram::observeNanos(uint64_t nanos) {
  // A linear scan: the tables are short and most observations land in the first buckets.
  size_t i = 0;
  const size_t n = bounds_.size();
  while (i < n && nanos > bound_nanos_[i]) {
    ++i;
  }
  std::atomic<uint64_t>& bucket = buckets_[i];
  bucket.store(bucket.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  sum_nanos_.store(sum_nanos_.load(std::memory_order_relaxed) + nanos, std::memory_order_relaxed);
}

uint64_t Histogram::count() const {
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += bucket(i);
  }
  return total;
}

HistogramSum::HistogramSum(std::span<const double> bounds_seconds)
    : bounds_(bounds_seconds), buckets_(bounds_seconds.size() + 1, 0) {}

void HistogramSum::add(const Histogram& histogram) {
  assert(histogram.bounds().size() == bounds_.size());
  const size_t n = std::min(histogram.bucketCount(), buckets_.size());
  for (size_t i = 0; i < n; ++i) {
    buckets_[i] += histogram.bucket(i);
  }
  sum_nanos_ += histogram.sumNanos();
}

uint64_t HistogramSum::count() const {
  uint64_t total = 0;
  for (uint64_t b : buckets_) {
    total += b;
  }
  return total;
}

MetricsText::Family& MetricsText::familyFor(std::string_view name) {
  if (last_ < families_.size() && families_[last_].name == name) {
    return families_[last_];
  }
  auto found = index_.find(std::string(name));
  if (found == index_.end()) {
    found = index_.emplace(std::string(name), families_.size()).first;
    families_.push_back(Family{std::string(name), {}, {}});
  }
  last_ = found->second;
  return families_[last_];
}

void MetricsText::family(std::string_view name, std::string_view type, std::string_view help) {
  Family& family = familyFor(name);
  if (!family.header.empty()) {
    return;
  }
  family.header += "# HELP ";
  family.header += name;
  family.header += ' ';
  appendHelp(family.header, help);
  family.header += "\n# TYPE ";
  family.header += name;
  family.header += ' ';
  family.header += type;
  family.header += '\n';
}

void MetricsText::appendSampleHead(std::string& out, std::string_view name, std::string_view suffix,
                                   MetricLabels labels, std::string_view le) {
  out += name;
  out += suffix;
  if (labels.size() > 0 || !le.empty()) {
    out += '{';
    bool first = true;
    for (const MetricLabel& label : labels) {
      if (!first) {
        out += ',';
      }
      first = false;
      out += label.first;
      out += "=\"";
      appendLabelValue(out, label.second);
      out += '"';
    }
    if (!le.empty()) {
      out += first ? "le=\"" : ",le=\"";
      out += le;
      out += '"';
    }
    out += '}';
  }
  out += ' ';
}

void MetricsText::sample(std::string_view name, MetricLabels labels, double value) {
  std::string& out = familyFor(name).body;
  appendSampleHead(out, name, "", labels, "");
  appendMetricNumber(out, value);
  out += '\n';
}

void MetricsText::sampleInteger(std::string_view name, MetricLabels labels, uint64_t magnitude,
                                bool negative) {
  std::string& out = familyFor(name).body;
  appendSampleHead(out, name, "", labels, "");
  if (negative) {
    // magnitude holds the two's complement of the value; negate it back without overflow.
    out += '-';
    appendUnsigned(out, ~magnitude + 1);
  } else {
    appendUnsigned(out, magnitude);
  }
  out += '\n';
}

void MetricsText::histogram(std::string_view name, MetricLabels labels, const HistogramSum& sum) {
  std::string& out = familyFor(name).body;
  const std::span<const double> bounds = sum.bounds();
  const std::span<const uint64_t> buckets = sum.buckets();

  // Cumulative buckets: each "le" counts every observation at or below its bound.
  uint64_t cumulative = 0;
  std::string le;
  for (size_t i = 0; i < bounds.size(); ++i) {
    cumulative += buckets[i];
    le.clear();
    appendMetricNumber(le, bounds[i]);
    appendSampleHead(out, name, "_bucket", labels, le);
    appendUnsigned(out, cumulative);
    out += '\n';
  }
  cumulative += buckets[bounds.size()];
  appendSampleHead(out, name, "_bucket", labels, "+Inf");
  appendUnsigned(out, cumulative);
  out += '\n';

  appendSampleHead(out, name, "_sum", labels, "");
  appendMetricNumber(out, sum.sumSeconds());
  out += '\n';
  appendSampleHead(out, name, "_count", labels, "");
  appendUnsigned(out, cumulative);
  out += '\n';
}

std::string MetricsText::take() {
  size_t size = 0;
  for (const Family& family : families_) {
    size += family.header.size() + family.body.size();
  }
  std::string text;
  text.reserve(size);
  for (const Family& family : families_) {
    text += family.header;
    text += family.body;
  }
  families_.clear();
  index_.clear();
  last_ = 0;
  return text;
}

void MetricsRegistry::add(Collector c) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(c));
}

std::string MetricsRegistry::render() const {
  std::vector<Collector> collectors;
  {
    std::lock_guard lock(mutex_);
    collectors = collectors_;
  }
  MetricsText text;
  for (const Collector& collector : collectors) {
    collector(text);
  }
  return text.take();
}

LabelTable::LabelTable(size_t capacity)
    : capacity_(capacity < 2 ? 2 : capacity), names_(std::make_unique<std::string[]>(capacity_)) {
  names_[capacity_ - 1] = "other";
}

uint32_t LabelTable::intern(std::string_view value) {
  std::lock_guard lock(mutex_);
  const auto found = ids_.find(std::string(value));
  if (found != ids_.end()) {
    return found->second;
  }
  const size_t size = size_.load(std::memory_order_relaxed);
  if (size >= capacity_ - 1) {
    size_.store(capacity_, std::memory_order_release);
    return static_cast<uint32_t>(capacity_ - 1);
  }

  // Fill the slot before publishing the new size: readers only look below size().
  names_[size] = std::string(value);
  ids_.emplace(std::string(value), static_cast<uint32_t>(size));
  size_.store(size + 1, std::memory_order_release);
  return static_cast<uint32_t>(size);
}

std::string_view LabelTable::name(uint32_t id) const {
  if (id >= size_.load(std::memory_order_acquire)) {
    return {};
  }
  return names_[id];
}

}  // namespace jwtgate::observe

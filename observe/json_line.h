// A tiny appender for one JSON object per line (the access log), escaping every byte that
// could break the line or the JSON: hostile request bytes can never forge or split a line.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace jwtgate::observe {

// Appends `value` as a JSON string, quotes included: '"' and '\' are backslash-escaped, every
// byte below 0x20 and 0x7F become \u00XX, invalid UTF-8 (overlong forms, surrogates, values
// above U+10FFFF, truncated or stray bytes) becomes U+FFFD, one per maximal ill-formed
// subsequence; valid UTF-8 is copied as is.
void appendJsonString(std::string& out, std::string_view value);

// Usage:
//   std::string buf;
//   JsonLine line(buf);                 // appends '{'
//   line.field("method", method);       // "method":"GET"
//   line.field("status", 200);          // "status":200
//   line.field("duration_ms", 1.2345, 3);  // "duration_ms":1.235 (fixed decimals)
//   line.end();                         // appends "}\n"
// Fields appear in call order. Names are escaped like values. The line borrows `out`, which
// must outlive it; nothing is appended after end().
class JsonLine {
 public:
  explicit JsonLine(std::string& out);

  void field(std::string_view name, std::string_view value);
  // Without this, a string literal would pick the bool overload.
  void field(std::string_view name, const char* value) { field(name, std::string_view(value)); }
  void field(std::string_view name, const std::string& value) {
    field(name, std::string_view(value));
  }
  void field(std::string_view name, bool value);
  template <std::integral T>
  requires(!std::same_as<T, bool>) void field(std::string_view name, T value) {
    if constexpr (std::is_signed_v<T>) {
      fieldSigned(name, static_cast<int64_t>(value));
    } else {
      fieldUnsigned(name, static_cast<uint64_t>(value));
    }
  }
  // Fixed-point with `decimals` digits after the point (0..9; clamped); NaN and infinities
  // are written as null.
  void field(std::string_view name, double value, int decimals);
  // `json` is appended as it is: the caller guarantees it is one valid JSON value.
  void rawField(std::string_view name, std::string_view json);

  // Closes the object and the line: "}\n".
  void end();

 private:
  void key(std::string_view name);
  void fieldSigned(std::string_view name, int64_t value);
  void fieldUnsigned(std::string_view name, uint64_t value);

  std::string& out_;
  bool first_ = true;
};

}  // namespace jwtgate::observe

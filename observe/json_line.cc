// JSON string escaping with UTF-8 repair, and the one-line object appender.
#include "observe/json_line.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace jwtgate::observe {
namespace {

constexpr char kReplacement[] = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

// Bytes that the fast path cannot copy as they are.
bool needsCare(unsigned char byte) {
  return byte < 0x20 || byte == '"' || byte == '\\' || byte >= 0x7F;
}

// The length of the well-formed UTF-8 sequence at `at`, or 0 when ill-formed; *bad then
// holds how many bytes the maximal ill-formed subsequence spans (at least 1), which become
// one U+FFFD (Unicode's recommended practice). Table 3-7 of the Unicode standard.
size_t sequenceLength(const unsigned char* at, size_t left, size_t* bad) {
  const unsigned char lead = at[0];
  size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    low = lead == 0xE0 ? 0xA0 : 0x80;   // no overlong forms
    high = lead == 0xED ? 0x9F : 0xBF;  // no surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    low = lead == 0xF0 ? 0x90 : 0x80;   // no overlong forms
    high = lead == 0xF4 ? 0x8F : 0xBF;  // nothing above U+10FFFF
  } else {
    *bad = 1;  // a stray continuation byte, C0, C1 or F5..FF
    return 0;
  }

  for (size_t i = 1; i < length; ++i) {
    const unsigned char lo = i == 1 ? low : 0x80;
    const unsigned char hi = i == 1 ? high : 0xBF;
    if (i >= left || at[i] < lo || at[i] > hi) {
      *bad = i;
      return 0;
    }
  }
  return length;
}

void appendControl(std::string& out, unsigned char byte) {
  static constexpr char kHex[] = "0123456789abcdef";
  const char escaped[6] = {'\\', 'u', '0', '0', kHex[byte >> 4], kHex[byte & 0xF]};
  out.append(escaped, sizeof(escaped));
}

}  // namespace

void appendJsonString(std::string& out, std::string_view value) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(value.data());
  const size_t size = value.size();
  out.reserve(out.size() + size + 2);
  out += '"';
  size_t i = 0;
  while (i < size) {
    // Copy the run of plain bytes in one append.
    size_t run = i;
    while (run < size && !needsCare(bytes[run])) {
      ++run;
    }
    out.append(value.data() + i, run - i);
    i = run;
    if (i == size) {
      break;
    }

    const unsigned char byte = bytes[i];
    if (byte == '"' || byte == '\\') {
      out += '\\';
      out += static_cast<char>(byte);
      ++i;
    } else if (byte < 0x20 || byte == 0x7F) {
      appendControl(out, byte);
      ++i;
    } else {
      size_t bad = 0;
      const size_t length = sequenceLength(bytes + i, size - i, &bad);
      if (length > 0) {
        out.append(value.data() + i, length);
        i += length;
      } else {
        out += kReplacement;
        i += bad;
      }
    }
  }
  out += '"';
}

JsonLine::JsonLine(std::string& out) : out_(out) { out_ += '{'; }

void JsonLine::key(std::string_view name) {
  if (!first_) {
    out_ += ',';
  }
  first_ = false;
  appendJsonString(out_, name);
  out_ += ':';
}

void JsonLine::field(std::string_view name, std::string_view value) {
  key(name);
  appendJsonString(out_, value);
}

void JsonLine::field(std::string_view name, bool value) {
  key(name);
  out_ += value ? "true" : "false";
}

void JsonLine::fieldSigned(std::string_view name, int64_t value) {
  key(name);
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof(digits), value);
  out_.append(digits, result.ptr);
}

void JsonLine::fieldUnsigned(std::string_view name, uint64_t value) {
  key(name);
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof(digits), value);
  out_.append(digits, result.ptr);
}

void JsonLine::field(std::string_view name, double value, int decimals) {
  key(name);
  if (!std::isfinite(value)) {
    out_ += "null";
    return;
  }
  decimals = decimals < 0 ? 0 : (decimals > 9 ? 9 : decimals);
  char digits[64];
  const auto result =
      std::to_chars(digits, digits + sizeof(digits), value, std::chars_format::fixed, decimals);
  if (result.ec != std::errc()) {
    out_ += "null";  // beyond 64 characters: no latency or size gets there
    return;
  }
  out_.append(digits, result.ptr);
}

void JsonLine::rawField(std::string_view name, std::string_view json) {
  key(name);
  out_ += json;
}

void JsonLine::end() { out_ += "}\n"; }

}  // namespace jwtgate::observe

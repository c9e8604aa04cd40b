// ASCII helpers shared by the auth layer: HTTP names and schemes are case-insensitive ASCII,
// never locale-dependent.
#pragma once

#include <cstddef>
#include <string_view>

namespace jwtgate::auth {

constexpr char lowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr char upperAscii(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

constexpr bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) {
      return false;
    }
  }
  return true;
}

// The value of a hexadecimal digit of either case, or -1 for any other byte.
constexpr int hexDigitValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

// Optional whitespace (RFC 9110 section 5.6.3): space and horizontal tab.
constexpr bool isOws(char c) { return c == ' ' || c == '\t'; }

constexpr std::string_view trimOws(std::string_view text) {
  while (!text.empty() && isOws(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && isOws(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

}  // namespace jwtgate::auth

// Cache-Control parsing (RFC 9111 section 5.2) for key server responses.
#include "jwks/cache_control.h"

#include <algorithm>

namespace jwtgate::jwks {
namespace {

// NOTE: 2^31 seconds stands for "forever" (RFC 9111 section 1.2.2).
constexpr std::uint64_t kDeltaSecondsCap = 2147483648ULL;

constexpr char lowerAscii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lowerAscii(x) == lowerAscii(y);
         });
}

constexpr bool isOws(char c) { return c == ' ' || c == '\t'; }

// tchar (RFC 9110 section 5.6.2).
bool isTokenChar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A cursor over a field value: directives are read one at a time.
class DirectiveReader {
 public:
  explicit DirectiveReader(std::string_view text) : text_(text) {}

  // Reads the next directive; false at the end. `name` is empty for a malformed member,
  // which is skipped up to the next comma outside a quoted string.
  bool next(std::string_view* name, std::string* argument, bool* has_argument) {
    skipSeparators();
    if (pos_ >= text_.size()) {
      return false;
    }
    argument->clear();
    *has_argument = false;

    size_t start = pos_;
    while (pos_ < text_.size() && isTokenChar(text_[pos_])) {
      ++pos_;
    }
    *name = text_.substr(start, pos_ - start);
    skipOws();
    if (pos_ < text_.size() && text_[pos_] == '=') {
      ++pos_;
      skipOws();
      *has_argument = true;
      // An empty or unterminated argument keeps the name with an empty (invalid) value.
      if (!readArgument(argument)) {
        argument->clear();
      }
      skipOws();
    }

    // Anything but a comma (or the end) after the member makes it malformed.
    if (pos_ < text_.size() && text_[pos_] != ',') {
      *name = {};
      skipToComma();
    }
    return true;
  }

 private:
  void skipOws() {
    while (pos_ < text_.size() && isOws(text_[pos_])) {
      ++pos_;
    }
  }

  void skipSeparators() {
    while (pos_ < text_.size() && (isOws(text_[pos_]) || text_[pos_] == ',')) {
      ++pos_;
    }
  }

  // A token, or a quoted-string with backslash escapes (RFC 9110 section 5.6.4).
  bool readArgument(std::string* out) {
    if (pos_ < text_.size() && text_[pos_] == '"') {
      ++pos_;
      while (pos_ < text_.size()) {
        char c = text_[pos_++];
        if (c == '"') {
          return true;
        }
        if (c == '\\' && pos_ < text_.size()) {
          c = text_[pos_++];
        }
        out->push_back(c);
      }
      return false;  // unterminated
    }
    size_t start = pos_;
    while (pos_ < text_.size() && isTokenChar(text_[pos_])) {
      ++pos_;
    }
    out->assign(text_.substr(start, pos_ - start));
    return !out->empty();
  }

  void skipToComma() {
    bool quoted = false;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (!quoted && c == ',') {
        return;
      }
      if (quoted && c == '\\') {
        ++pos_;
      } else if (c == '"') {
        quoted = !quoted;
      }
      ++pos_;
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace

std::optional<std::uint32_t> parseDeltaSeconds(std::string_view text) {
  if (text.empty()) {
    return std::nullopt;
  }
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    value =
        std::min<std::uint64_t>(value * 10 + static_cast<std::uint64_t>(c - '0'), kDeltaSecondsCap);
  }
  return static_cast<std::uint32_t>(value);
}

CacheDirectives parseCacheControl(std::string_view value) {
  CacheDirectives out;
  DirectiveReader reader(value);
  std::string_view name;
  std::string argument;
  bool has_argument = false;
  while (reader.next(&name, &argument, &has_argument)) {
    if (equalsIgnoreCase(name, "no-store")) {
      out.no_store = true;
    } else if (equalsIgnoreCase(name, "no-cache")) {
      // The qualified form (no-cache="field") restricts only the named fields; treating it
      // like the plain form merely shortens the lifetime, which is the safe side.
      out.no_cache = true;
    } else if (equalsIgnoreCase(name, "max-age")) {
      std::optional<std::uint32_t> seconds =
          has_argument ? parseDeltaSeconds(argument) : std::nullopt;
      if (!seconds || (out.max_age && *out.max_age != *seconds)) {
        out.invalid_max_age = true;
      } else {
        out.max_age = seconds;
      }
    }
  }
  if (out.invalid_max_age) {
    out.max_age.reset();
  }
  return out;
}

std::chrono::seconds keyLifetime(const CacheDirectives& directives,
                                 std::optional<std::uint32_t> age, const LifetimeBounds& bounds) {
  std::chrono::seconds minimum = bounds.minimum;
  std::chrono::seconds maximum = std::max(bounds.maximum, bounds.minimum);
  if (directives.no_store || directives.no_cache || directives.invalid_max_age ||
      !directives.max_age) {
    return minimum;
  }

  // RFC 9111 section 4.2: what is left of the freshness lifetime after the response's age.
  std::int64_t left =
      static_cast<std::int64_t>(*directives.max_age) - static_cast<std::int64_t>(age.value_or(0));
  return std::clamp(std::chrono::seconds(left), minimum, maximum);
}

}  // namespace jwtgate::jwks

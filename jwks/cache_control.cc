// Cache-Control parsing (RFC 9111 section 5.2) for key server responses.
#include "jwks/cache_control.h"

#include <algorithm>
#include <chrono>

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

// A cursor over an HTTP-date: every piece must be exactly where the format puts it.
class DateReader {
 public:
  explicit DateReader(std::string_view text) : text_(text) {}

  bool literal(std::string_view expected) {
    if (text_.substr(pos_, expected.size()) != expected) {
      return false;
    }
    pos_ += expected.size();
    return true;
  }

  bool digits(size_t count, int* out) {
    if (pos_ + count > text_.size()) {
      return false;
    }
    int value = 0;
    for (size_t i = 0; i < count; ++i) {
      char c = text_[pos_ + i];
      if (c < '0' || c > '9') {
        return false;
      }
      value = value * 10 + (c - '0');
    }
    pos_ += count;
    *out = value;
    return true;
  }

  // asctime's day: two digits, or a space and one digit.
  bool dayOfAsctime(int* out) {
    if (pos_ < text_.size() && text_[pos_] == ' ') {
      ++pos_;
      return digits(1, out);
    }
    return digits(2, out);
  }

  bool time(int* hour, int* minute, int* second) {
    return digits(2, hour) && literal(":") && digits(2, minute) && literal(":") &&
           digits(2, second);
  }

  // Names are case-sensitive in an HTTP-date. `full`: "Sunday" rather than "Sun".
  bool dayName(bool full) {
    constexpr std::string_view kShort[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    constexpr std::string_view kFull[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                          "Friday", "Saturday", "Sunday"};
    for (size_t i = 0; i < 7; ++i) {
      if (literal(full ? kFull[i] : kShort[i])) {
        return true;
      }
    }
    return false;
  }

  bool month(int* out) {
    constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; ++i) {
      if (literal(kMonths[i])) {
        *out = i + 1;
        return true;
      }
    }
    return false;
  }

  bool done() const { return pos_ == text_.size(); }

 private:
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

std::optional<std::int64_t> parseHttpDate(std::string_view text, std::int64_t now_seconds) {
  DateReader reader(text);
  int day = 0;
  int month = 0;
  int year = 0;
  int hour = 0;
  int minute = 0;
  int second = 0;
  bool parsed = false;

  if (text.size() == 29 && text[3] == ',') {
    // IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
    parsed = reader.dayName(false) && reader.literal(", ") && reader.digits(2, &day) &&
             reader.literal(" ") && reader.month(&month) && reader.literal(" ") &&
             reader.digits(4, &year) && reader.literal(" ") &&
             reader.time(&hour, &minute, &second) && reader.literal(" GMT") && reader.done();
  } else if (text.find(',') != std::string_view::npos) {
    // RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    int short_year = 0;
    parsed = reader.dayName(true) && reader.literal(", ") && reader.digits(2, &day) &&
             reader.literal("-") && reader.month(&month) && reader.literal("-") &&
             reader.digits(2, &short_year) && reader.literal(" ") &&
             reader.time(&hour, &minute, &second) && reader.literal(" GMT") && reader.done();
    if (parsed) {
      const int this_year = static_cast<int>(std::chrono::year_month_day(
          std::chrono::floor<std::chrono::days>(std::chrono::sys_seconds(
              std::chrono::seconds(now_seconds)))).year());
      year = this_year - (this_year % 100) + short_year;
      if (year > this_year + 50) {
        year -= 100;
      }
    }
  } else {
    // asctime: Sun Nov  6 08:49:37 1994
    parsed = reader.dayName(false) && reader.literal(" ") && reader.month(&month) &&
             reader.literal(" ") && reader.dayOfAsctime(&day) && reader.literal(" ") &&
             reader.time(&hour, &minute, &second) && reader.literal(" ") &&
             reader.digits(4, &year) && reader.done();
  }
  // A leap second (60) is allowed by the grammar; it is counted as the next second.
  if (!parsed || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }

  const std::chrono::year_month_day date{std::chrono::year(year),
                                         std::chrono::month(static_cast<unsigned>(month)),
                                         std::chrono::day(static_cast<unsigned>(day))};
  if (!date.ok()) {
    return std::nullopt;
  }
  const std::int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

std::optional<std::int64_t> expiresLifetime(std::string_view expires, std::string_view date,
                                            std::int64_t now_seconds) {
  if (expires.empty()) {
    return std::nullopt;
  }
  std::optional<std::int64_t> expires_at = parseHttpDate(expires, now_seconds);
  if (!expires_at) {
    return 0;
  }
  std::int64_t sent_at = parseHttpDate(date, now_seconds).value_or(now_seconds);
  return std::max<std::int64_t>(*expires_at - sent_at, 0);
}

std::chrono::seconds keyLifetime(const CacheDirectives& directives,
                                 std::optional<std::uint32_t> age, const LifetimeBounds& bounds,
                                 std::optional<std::int64_t> expires_lifetime) {
  std::chrono::seconds minimum = bounds.minimum;
  std::chrono::seconds maximum = std::max(bounds.maximum, bounds.minimum);
  if (directives.no_store || directives.no_cache || directives.invalid_max_age) {
    return minimum;
  }

  // RFC 9111 section 4.2.1: max-age wins over Expires.
  std::int64_t lifetime = 0;
  if (directives.max_age) {
    lifetime = static_cast<std::int64_t>(*directives.max_age);
  } else if (expires_lifetime) {
    lifetime = std::min<std::int64_t>(*expires_lifetime, kDeltaSecondsCap);
  } else {
    return minimum;
  }

  // RFC 9111 section 4.2: what is left of the freshness lifetime after the response's age.
  std::int64_t left = lifetime - static_cast<std::int64_t>(age.value_or(0));
  return std::clamp(std::chrono::seconds(left), minimum, maximum);
}

}  // namespace jwtgate::jwks

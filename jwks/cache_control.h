// How long fetched keys may be kept: the Cache-Control directives of a key server's response
// (RFC 9111 section 5.2) turned into a lifetime within the configured bounds.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace jwtgate::jwks {

// The response directives that matter to a private client holding keys.
struct CacheDirectives {
  std::optional<std::uint32_t> max_age;  // seconds; absent when not sent (or unusable)
  bool no_store = false;                 // with or without a field-name argument
  bool no_cache = false;
  // max-age was sent but is not delta-seconds, or sent twice with different values: the
  // response counts as stale (RFC 9111 section 4.2.1).
  bool invalid_max_age = false;
};

// Parses one or more Cache-Control field values (several fields joined with ","). Directive
// names are case-insensitive; arguments may be tokens or quoted strings; unknown directives
// and malformed members are ignored. Never fails.
CacheDirectives parseCacheControl(std::string_view value);

// Parses delta-seconds (RFC 9111 section 1.2.2: one or more digits), as in the Age field.
// Values beyond 2^31 are capped there; anything else (empty, signs, spaces) is nullopt.
std::optional<std::uint32_t> parseDeltaSeconds(std::string_view text);

struct LifetimeBounds {
  std::chrono::seconds minimum{300};
  std::chrono::seconds maximum{86400};

  bool operator==(const LifetimeBounds&) const = default;
};

// An HTTP-date (RFC 9110 section 5.6.7) as seconds since the Unix epoch: IMF-fixdate
// ("Sun, 06 Nov 1994 08:49:37 GMT") and the two obsolete forms a recipient must accept
// (RFC 850 and asctime). A two-digit year is read as the most recent year with those digits
// that is not more than 50 years after `now_seconds`. nullopt for anything else.
std::optional<std::int64_t> parseHttpDate(std::string_view text, std::int64_t now_seconds);

// The freshness lifetime an Expires field gives (RFC 9111 section 4.2.1): Expires minus
// Date, or minus `now_seconds` when Date is absent or unusable. nullopt without Expires; an
// Expires that is not a valid date (such as "0") means already expired: 0.
std::optional<std::int64_t> expiresLifetime(std::string_view expires, std::string_view date,
                                            std::int64_t now_seconds);

// The time the keys of a response may be used before they are stale: max-age, or without it
// the Expires lifetime, minus the response's Age, within `bounds`. no-store, no-cache, an
// unusable max-age or no freshness information at all give the minimum (refetch as soon as
// the bounds allow).
std::chrono::seconds keyLifetime(const CacheDirectives& directives,
                                 std::optional<std::uint32_t> age, const LifetimeBounds& bounds,
                                 std::optional<std::int64_t> expires_lifetime = std::nullopt);

}  // namespace jwtgate::jwks

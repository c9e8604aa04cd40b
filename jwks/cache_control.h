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

// The time the keys of a response may be used before they are stale: max-age minus the
// response's Age, within `bounds`. no-store, no-cache, an unusable max-age or none at all
// give the minimum (refetch as soon as the bounds allow).
// TODO(remote-keys): Expires (with Date) is not read; a server that sends only Expires gets
// the minimum lifetime, which is the safe side.
std::chrono::seconds keyLifetime(const CacheDirectives& directives,
                                 std::optional<std::uint32_t> age, const LifetimeBounds& bounds);

}  // namespace jwtgate::jwks

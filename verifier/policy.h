// What one identity provider's tokens must satisfy: algorithms, issuer, audiences, time
// rules, header type, required claims and parsing limits. Built from configuration.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "verifier/algorithm.h"
#include "verifier/claims.h"

namespace jwtgate::verifier {

inline constexpr std::size_t kDefaultMaxTokenBytes = 8 * 1024;
inline constexpr std::size_t kDefaultMaxJsonDepth = 16;
inline constexpr std::int64_t kDefaultLeewaySeconds = 60;

// A provider policy. Immutable once built; share it by const reference (or shared_ptr to
// const) between threads.
struct Policy {
  // The "alg" values accepted. Empty refuses every token (AlgorithmNotAllowed).
  AlgorithmSet algorithms;

  // When set, "iss" must be present (IssuerMissing) and equal this byte for byte
  // (IssuerMismatch).
  std::optional<std::string> issuer;

  // When non-empty, "aud" must be present (AudienceMissing) and be, or contain, one of these
  // (AudienceMismatch). An "aud" of another JSON type is BadAudience even when this is empty.
  std::vector<std::string> audiences;

  // Whether "exp" must be present (ExpirationMissing). A max lifetime implies it.
  bool require_expiration = true;

  // Clock skew tolerated on exp, nbf and iat, in seconds. Negative values count as 0.
  std::int64_t leeway_seconds = kDefaultLeewaySeconds;

  // When set, exp - iat (or exp - now without "iat") may not exceed this (LifetimeTooLong).
  std::optional<std::int64_t> max_lifetime_seconds;

  // When set, the header's "typ" must be present and name this media type (TypeMismatch).
  // Compared case-insensitively, with "application/" implied for values without a '/'
  // (RFC 7515 section 4.1.9): "at+jwt" matches "application/at+JWT".
  std::optional<std::string> required_type;

  // Claims every token of this provider must carry (ClaimMissing / ClaimMismatch).
  std::vector<ClaimRequirement> required_claims;

  // The longest compact token accepted, checked before any decoding (TokenTooLarge).
  std::size_t max_token_bytes = kDefaultMaxTokenBytes;

  // The deepest nesting of arrays and objects accepted in the header and the payload, the
  // top-level object counting as 1 (JsonTooDeep). Capped at kMaxJsonDepthCap.
  std::size_t max_json_depth = kDefaultMaxJsonDepth;
};

}  // namespace jwtgate::verifier

// What the authentication layer counts: per-worker blocks of single-writer counters (one
// worker writes, a metrics scrape reads from another thread at any time), the fixed outcome
// and refusal-reason values that label them, and their Prometheus rendering.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "auth/bearer_response.h"
#include "observe/metrics.h"
#include "verifier/status.h"

namespace jwtgate::auth {

// How a request came out, as jwtgate_auth_requests_total{outcome} and the access log say.
enum class AuthOutcome : std::uint8_t {
  Allowed,    // Forwarded with an identity.
  Refused,    // Answered locally (401, 403, 400, 503).
  Reported,   // Report mode: would have been refused; forwarded marked.
  Anonymous,  // allow_missing, and the request carried no credential.
  Open,       // A route with auth: none.
  NoRoute,    // No route covers the request (404 or 403).
};
inline constexpr std::size_t kAuthOutcomeCount = 6;

// "allowed", "refused", "reported", "anonymous", "open", "no_route".
std::string_view toString(AuthOutcome outcome);

// Why a request was refused (or would have been, in report mode): the values of
// jwtgate_auth_refusals_total{reason} and of the access log's "reason".
enum class RefusalReason : std::uint8_t {
  MissingToken,   // No credential where the route's providers look.
  Malformed,      // Not a compact JWS, bad base64url, not JSON, an empty credential.
  BadSignature,   // The signature does not verify.
  Expired,        // exp is past.
  NotYetValid,    // nbf (or iat) is in the future.
  Issuer,         // iss missing or wrong.
  Audience,       // aud missing, wrong or malformed.
  UnknownKey,     // No key carries the kid, or none fits the algorithm.
  Algorithm,      // alg missing, unsupported or not allowed.
  Scope,          // A required scope is missing.
  Role,           // A required role is missing.
  Claim,          // A required claim (provider or route) is missing or differs.
  TokenTooLarge,  // Over the provider's max_token_bytes.
  HeaderValue,    // A claim cannot become a header value.
  Duplicate,      // A repeated credential, differing credentials, a duplicate JSON member.
  NoKeys,         // The provider has no usable keys.
  BadTarget,      // The request target is refused (path normalisation, regex limits).
  NoRoute,        // No route covers the request.
  Other,          // Anything else (crit, typ, lifetime, ...).
};
inline constexpr std::size_t kRefusalReasonCount = 19;

// "missing_token", "malformed", ... (the enumerators in snake_case).
std::string_view toString(RefusalReason reason);

// The reason a verifier status (not Ok) counts as.
RefusalReason reasonFor(verifier::Status status);

inline constexpr std::size_t kMaxRouteLabels = 256;
inline constexpr std::size_t kMaxProviderLabels = 64;

// Process-wide interning of route and provider names (append-only, so that a label id
// stays valid across reloads). Intern at configuration time only.
observe::LabelTable& routeLabels();
observe::LabelTable& providerLabels();

// The label id of "no route" (the route label is empty).
std::uint32_t noRouteLabel();

// One worker filter's counters. Written only by that worker's thread; read by scrapes from
// any thread (observe::Counter is a relaxed load and store). Owned by an AuthFilterGroup
// (or the filter itself when it has none) and never moved: its address is stable.
struct AuthMetrics {
  AuthMetrics();
  AuthMetrics(const AuthMetrics&) = delete;
  AuthMetrics& operator=(const AuthMetrics&) = delete;

  // By route label id (routeLabels()) and AuthOutcome.
  std::array<std::array<observe::Counter, kAuthOutcomeCount>, kMaxRouteLabels> requests;
  std::array<observe::Counter, kRefusalReasonCount> refusals;  // By RefusalReason.
  std::array<observe::Counter, 8> refusal_kinds;  // By Refusal (the HTTP answer), for stats.
  observe::Counter cache_hits;
  observe::Counter cache_misses;    // Lookups that found nothing and led to a verifier run.
  observe::Counter key_waits;       // Requests suspended until a remote key fetch ended.
  observe::Histogram verification;  // Full verifier runs only (kLatencyBounds).
};

// Renders the auth families (jwtgate_auth_requests_total, jwtgate_auth_refusals_total,
// jwtgate_token_cache_{hits,misses}_total, jwtgate_verification_duration_seconds) summed
// over `blocks`; every family is present, with no samples (or zero) when nothing counted.
void renderAuthMetrics(std::span<const AuthMetrics* const> blocks, observe::MetricsText& out);

}  // namespace jwtgate::auth

// The auth metric labels, the verifier-status mapping and the rendering of the auth families.
#include "auth/auth_metrics.h"

namespace jwtgate::auth {

std::string_view toString(AuthOutcome outcome) {
  switch (outcome) {
    case AuthOutcome::Allowed:
      return "allowed";
    case AuthOutcome::Refused:
      return "refused";
    case AuthOutcome::Reported:
      return "reported";
    case AuthOutcome::Anonymous:
      return "anonymous";
    case AuthOutcome::Open:
      return "open";
    case AuthOutcome::NoRoute:
      return "no_route";
  }
  return "refused";
}

std::string_view toString(RefusalReason reason) {
  switch (reason) {
    case RefusalReason::MissingToken:
      return "missing_token";
    case RefusalReason::Malformed:
      return "malformed";
    case RefusalReason::BadSignature:
      return "bad_signature";
    case RefusalReason::Expired:
      return "expired";
    case RefusalReason::NotYetValid:
      return "not_yet_valid";
    case RefusalReason::Issuer:
      return "issuer";
    case RefusalReason::Audience:
      return "audience";
    case RefusalReason::UnknownKey:
      return "unknown_key";
    case RefusalReason::Algorithm:
      return "algorithm";
    case RefusalReason::Scope:
      return "scope";
    case RefusalReason::Role:
      return "role";
    case RefusalReason::Claim:
      return "claim";
    case RefusalReason::TokenTooLarge:
      return "token_too_large";
    case RefusalReason::HeaderValue:
      return "header_value";
    case RefusalReason::Duplicate:
      return "duplicate";
    case RefusalReason::NoKeys:
      return "no_keys";
    case RefusalReason::BadTarget:
      return "bad_target";
    case RefusalReason::NoRoute:
      return "no_route";
    case RefusalReason::Other:
      return "other";
  }
  return "other";
}

RefusalReason reasonFor(verifier::Status status) {
  using verifier::Status;
  switch (status) {
    case Status::TokenTooLarge:
      return RefusalReason::TokenTooLarge;
    case Status::MalformedToken:
    case Status::BadBase64:
    case Status::HeaderNotJson:
    case Status::PayloadNotJson:
    case Status::JsonTooDeep:
    case Status::BadNumericDate:
      return RefusalReason::Malformed;
    case Status::DuplicateMember:
      return RefusalReason::Duplicate;
    case Status::AlgorithmMissing:
    case Status::AlgorithmUnsupported:
    case Status::AlgorithmNotAllowed:
      return RefusalReason::Algorithm;
    case Status::KeyNotFound:
    case Status::NoMatchingKey:
      return RefusalReason::UnknownKey;
    case Status::SignatureInvalid:
      return RefusalReason::BadSignature;
    case Status::Expired:
      return RefusalReason::Expired;
    case Status::NotYetValid:
    case Status::IssuedInFuture:
      return RefusalReason::NotYetValid;
    case Status::IssuerMissing:
    case Status::IssuerMismatch:
      return RefusalReason::Issuer;
    case Status::AudienceMissing:
    case Status::AudienceMismatch:
    case Status::BadAudience:
      return RefusalReason::Audience;
    case Status::ExpirationMissing:
    case Status::ClaimMissing:
    case Status::ClaimMismatch:
      return RefusalReason::Claim;
    case Status::InsufficientScope:
      return RefusalReason::Scope;
    case Status::Ok:
    case Status::UnsupportedCrit:
    case Status::TypeMismatch:
    case Status::LifetimeTooLong:
      return RefusalReason::Other;
  }
  return RefusalReason::Other;
}

// TODO(metrics): label ids are never reclaimed, so a process whose reloads keep renaming
// routes runs out of ids and counts new names as "other"; reclaiming needs every worker's
// counters of a name to be retired first.
observe::LabelTable& routeLabels() {
  static observe::LabelTable table(kMaxRouteLabels);
  return table;
}

observe::LabelTable& providerLabels() {
  static observe::LabelTable table(kMaxProviderLabels);
  return table;
}

std::uint32_t noRouteLabel() {
  static const std::uint32_t id = routeLabels().intern("");
  return id;
}

AuthMetrics::AuthMetrics() : verification(observe::kLatencyBounds) {}

void renderAuthMetrics(std::span<const AuthMetrics* const> blocks, observe::MetricsText& out) {
  // Requests by route and outcome, for every route name interned so far.
  out.family("jwtgate_auth_requests_total", "counter",
             "Requests seen by the auth filter, by route and outcome.");
  const std::size_t routes = routeLabels().size();
  for (std::uint32_t route = 0; route < routes; ++route) {
    for (std::size_t outcome = 0; outcome < kAuthOutcomeCount; ++outcome) {
      std::uint64_t total = 0;
      for (const AuthMetrics* block : blocks) {
        total += block->requests[route][outcome].value();
      }
      out.sample("jwtgate_auth_requests_total",
                 {{"route", routeLabels().name(route)},
                  {"outcome", toString(static_cast<AuthOutcome>(outcome))}},
                 total);
    }
  }

  out.family("jwtgate_auth_refusals_total", "counter",
             "Refusals (enforced and reported) by reason.");
  for (std::size_t reason = 0; reason < kRefusalReasonCount; ++reason) {
    std::uint64_t total = 0;
    for (const AuthMetrics* block : blocks) {
      total += block->refusals[reason].value();
    }
    out.sample("jwtgate_auth_refusals_total",
               {{"reason", toString(static_cast<RefusalReason>(reason))}}, total);
  }

  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  observe::HistogramSum verification(observe::kLatencyBounds);
  for (const AuthMetrics* block : blocks) {
    hits += block->cache_hits.value();
    misses += block->cache_misses.value();
    verification.add(block->verification);
  }
  out.family("jwtgate_token_cache_hits_total", "counter", "Tokens found in a worker's cache.");
  out.sample("jwtgate_token_cache_hits_total", {}, hits);
  out.family("jwtgate_token_cache_misses_total", "counter",
             "Tokens not found in the cache, verified in full.");
  out.sample("jwtgate_token_cache_misses_total", {}, misses);
  out.family("jwtgate_verification_duration_seconds", "histogram",
             "Duration of full token verifications (cache misses).");
  out.histogram("jwtgate_verification_duration_seconds", {}, verification);
}

}  // namespace jwtgate::auth

// The authentication filter's request path. Everything a request needs is kept per worker
// and reused (buffers, the verifier, the token cache), so that a request whose token is
// cached allocates nothing.
#include "auth/auth_filter.h"

#include <openssl/evp.h>
#include <time.h>

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "auth/ascii.h"
#include "auth/remote_keys.h"
#include "auth/token_cache.h"
#include "auth/token_extractor.h"
#include "jwks/key_waiters.h"
#include "proxy/log.h"
#include "verifier/verifier.h"

namespace jwtgate::auth {

namespace {

using proxy::FilterVerdict;
using verifier::Status;

constexpr std::size_t kNoIndex = ~std::size_t{0};

// NOTE: report mode and refused claim headers log one line per request; beyond this many
// lines per second and worker the rest are counted and summarised, so that a flood cannot
// fill the disk.
constexpr std::uint32_t kMaxLogLinesPerSecond = 50;

// What the cache keeps per (provider, token): the verified token and the provider's claim
// headers, rendered once.
struct CachedIdentity {
  struct Slice {
    std::uint32_t offset = 0;
    std::uint32_t length = 0;
    bool present = false;  // false: the claim is absent, the header is not set.
  };

  explicit CachedIdentity(verifier::VerifiedToken verified) : token(std::move(verified)) {}

  verifier::VerifiedToken token;
  std::string values;          // The rendered header values, back to back.
  std::vector<Slice> headers;  // One per claims_to_headers entry.
  // The first claims_to_headers entry whose value cannot be a header value, or kNoIndex.
  std::size_t unforwardable = kNoIndex;
};

// Renders the provider's claim headers once per verified token.
void renderHeaders(const Provider& provider, CachedIdentity& identity) {
  const verifier::ClaimsView claims = identity.token.claims();
  identity.headers.resize(provider.claims_to_headers.size());
  for (std::size_t i = 0; i < provider.claims_to_headers.size(); ++i) {
    auto rendered = verifier::render(claims, provider.claims_to_headers[i].claim);
    if (!rendered) {
      if (rendered.error() == verifier::RenderError::Missing) {
        continue;
      }
      identity.unforwardable = i;
      return;
    }
    // A value with surrounding whitespace would be trimmed by some parsers and not by
    // others: refuse it like a control character rather than forward an altered identity.
    const std::string& value = *rendered;
    if (!value.empty() && (isOws(value.front()) || isOws(value.back()))) {
      identity.unforwardable = i;
      return;
    }
    identity.headers[i] = {static_cast<std::uint32_t>(identity.values.size()),
                           static_cast<std::uint32_t>(value.size()), true};
    identity.values.append(value);
  }
}

// The payload segment of a verified compact token: the verifier accepts only canonical
// base64url, so this is exactly base64url(payload).
std::string_view payloadSegment(std::string_view token) {
  const std::size_t first = token.find('.');
  const std::size_t second = token.find('.', first + 1);
  return token.substr(first + 1, second - first - 1);
}

// Failures the token's own issuer could have produced (its signature verified): they say
// more about a token than a wrong key or a bad signature does.
int failureRank(Status status) {
  switch (status) {
    case Status::PayloadNotJson:
    case Status::ExpirationMissing:
    case Status::Expired:
    case Status::NotYetValid:
    case Status::IssuedInFuture:
    case Status::LifetimeTooLong:
    case Status::BadNumericDate:
    case Status::IssuerMissing:
    case Status::IssuerMismatch:
    case Status::AudienceMissing:
    case Status::AudienceMismatch:
    case Status::BadAudience:
    case Status::ClaimMissing:
    case Status::ClaimMismatch:
      return 2;
    default:
      return 1;
  }
}

std::string_view describeProblem(ExtractProblem problem) {
  switch (problem) {
    case ExtractProblem::RepeatedHeader:
      return "The credential header appears more than once";
    case ExtractProblem::RepeatedCookie:
      return "The credential cookie appears more than once";
    case ExtractProblem::RepeatedParameter:
      return "The credential parameter appears more than once";
    case ExtractProblem::EmptyToken:
      return "The credential is empty";
    case ExtractProblem::ConflictingLocations:
      return "The request carries different credentials";
    case ExtractProblem::None:
      break;
  }
  return "Malformed credentials";
}

// "sha256:1a2b3c4d/812": enough to tell tokens apart in logs, nothing to replay.
void fingerprint(std::string_view token, char (&out)[40]) {
  if (token.empty()) {
    std::snprintf(out, sizeof(out), "none");
    return;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(token.data(), token.size(), digest, &length, EVP_sha256(), nullptr) != 1 ||
      length < 4) {
    std::snprintf(out, sizeof(out), "unhashed/%zu", token.size());
    return;
  }
  std::snprintf(out, sizeof(out), "sha256:%02x%02x%02x%02x/%zu", digest[0], digest[1], digest[2],
                digest[3], token.size());
}

bool containsName(const std::vector<std::string_view>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

// RequestContext seen through the FilterRequest interface.
class ContextRequest final : public FilterRequest {
 public:
  explicit ContextRequest(proxy::RequestContext& context) : context_(context) {}
  std::string_view method() const override { return context_.method(); }
  std::string_view target() const override { return context_.target(); }
  std::size_t headerCount() const override { return context_.headerCount(); }
  proxy::HeaderField header(std::size_t index) const override { return context_.header(index); }
  bool isRemoved(std::size_t index) const override { return context_.isRemoved(index); }
  bool removeHeader(std::size_t index) override { return context_.removeHeader(index); }
  bool addHeader(std::string_view name, std::string_view value) override {
    return context_.addHeader(name, value);
  }
  bool setTarget(std::string_view target) override { return context_.setTarget(target); }
  proxy::LocalReply& respond(int status) override { return context_.respond(status); }

 private:
  proxy::RequestContext& context_;
};

}  // namespace

std::int64_t wallClockSeconds() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME_COARSE, &now);
  return static_cast<std::int64_t>(now.tv_sec);
}

class AuthFilter::Worker {
 public:
  Worker(std::shared_ptr<const AuthConfig> config, SecondsClock clock);
  FilterVerdict decide(FilterRequest& request);
  std::size_t cachedTokens() const { return cache_ ? cache_->size() : 0; }

  // ---- remote keys ----
  // The fetch a request may wait for: the key service's provider index and the fetch
  // epoch to wait past (service -1: none).
  struct KeyWaitHint {
    int service = -1;
    std::uint64_t epoch = 0;
  };
  void setRemoteKeys(RemoteKeys* remote, jwks::KeyWaiters* waiters) {
    remote_ = remote;
    waiters_ = waiters;
  }
  // Before each decide(): whether it may end in Pending (a wait), and whether it follows a
  // wait (a kid still unknown is then remembered, so it is refused at once next time).
  void beginRun(bool may_wait, bool after_wait) {
    may_wait_ = may_wait && waiters_ != nullptr;
    after_wait_ = after_wait;
    hint_ = {};
  }
  const KeyWaitHint& keyWaitHint() const { return hint_; }
  // ---- end remote keys ----

  AuthStats stats;

 private:
  // A credential that one provider of the route found. The view points into the request.
  struct Candidate {
    ProviderIndex provider;
    std::string_view token;
  };

  // How the route's requirement came out. Views point into the config, the verifier's
  // static texts or the request.
  struct Outcome {
    bool ok = true;
    RefusalInput refusal;
    std::string_view reason;  // Stable name for logs ("expired", "missing_token", ...).
    int provider = -1;        // The provider the outcome is about, -1 for none.
    std::string_view token;   // The credential it is about, logged as a fingerprint only.
    std::string_view header;  // The claim header that could not be set, if that is why.

    static Outcome refused(RefusalInput refusal, std::string_view reason, int provider = -1,
                           std::string_view token = {}, std::string_view header = {}) {
      Outcome outcome;
      outcome.ok = false;
      outcome.refusal = refusal;
      outcome.reason = reason;
      outcome.provider = provider;
      outcome.token = token;
      outcome.header = header;
      return outcome;
    }
  };

  struct VerifyResult {
    const CachedIdentity* identity = nullptr;
    Status status = Status::Ok;
    bool unavailable = false;  // The provider has no keys.
  };

  struct PendingHeader {
    std::uint32_t name_offset, name_length, value_offset, value_length;
  };

  void collectFields(FilterRequest& request);
  std::string_view findField(std::string_view name) const;
  Outcome evaluate(const Requirement& requirement, std::int64_t now);
  Outcome evaluateOneOf(const Requirement& requirement, std::int64_t now);
  Outcome evaluateAll(const Requirement& requirement, std::int64_t now);
  const verifier::KeySet* keysFor(ProviderIndex provider);
  // ---- remote keys ----
  int remoteIndex(ProviderIndex provider) const {
    return remote_ != nullptr ? remote_->serviceIndex(provider) : -1;
  }
  void noteMissingKeys(ProviderIndex provider);
  void noteUnknownKid(ProviderIndex provider, std::string_view token);
  // ---- end remote keys ----
  const CachedIdentity* cached(ProviderIndex provider, std::string_view token, std::int64_t now);
  VerifyResult verifyNew(ProviderIndex provider, std::string_view token, std::int64_t now);
  Outcome accept(const Requirement& requirement, ProviderIndex provider,
                 const CachedIdentity& identity, std::string_view token, bool route_checks);
  Outcome failure(const VerifyResult& result, ProviderIndex provider, std::string_view token);
  void addPending(std::string_view name, std::string_view value);
  void removeCredentials(FilterRequest& request, const Requirement& requirement);
  void removeCookies(FilterRequest& request);
  void removeParameters();
  FilterVerdict forward(FilterRequest& request, const Route& route, std::string_view path,
                        bool with_identity);
  FilterVerdict pass(FilterRequest& request, const Route& route, std::string_view path) {
    const FilterVerdict verdict = forward(request, route, path, true);
    stats.passed += verdict == FilterVerdict::Pass ? 1 : 0;
    return verdict;
  }
  FilterVerdict refuse(FilterRequest& request, const RefusalInput& input);
  FilterVerdict report(FilterRequest& request, const Route& route, std::string_view path,
                       const Outcome& outcome);
  void countRefusal(Refusal refusal) { ++stats.refusals[static_cast<std::size_t>(refusal)]; }
  bool allowLogLine(std::int64_t now);
  void logOutcome(proxy::LogLevel level, const char* what, const Route& route,
                  const Outcome& outcome);

  std::shared_ptr<const AuthConfig> config_;
  SecondsClock clock_;
  // ---- remote keys ----
  RemoteKeys* remote_ = nullptr;
  jwks::KeyWaiters* waiters_ = nullptr;
  bool may_wait_ = false;
  bool after_wait_ = false;
  KeyWaitHint hint_;
  // ---- end remote keys ----
  ResponseOptions response_options_;
  verifier::Verifier verifier_;
  std::vector<KeySetView> key_views_;  // Per provider.
  std::optional<TokenCache<CachedIdentity>> cache_;
  std::optional<CachedIdentity> uncached_;  // The identity in use when it was not cached.

  // Per request; cleared, never shrunk.
  std::int64_t now_ = 0;
  std::vector<proxy::HeaderField> fields_;
  std::vector<std::size_t> field_indexes_;
  std::vector<Candidate> candidates_;
  std::vector<ProviderIndex> identity_providers_;
  std::string pending_text_;
  std::vector<PendingHeader> pending_;
  std::vector<std::string_view> cookies_to_remove_;
  std::vector<std::string_view> parameters_to_remove_;
  std::string path_;
  std::string_view query_;
  bool has_query_ = false;
  std::string query_buffer_;
  std::string query_scratch_;
  std::string cookie_buffer_;
  std::string target_;
  std::string info_;
  HttpRefusal refusal_;

  // Log rate limit.
  std::int64_t log_second_ = 0;
  std::uint32_t log_lines_ = 0;
  std::uint64_t log_suppressed_ = 0;
};

AuthFilter::Worker::Worker(std::shared_ptr<const AuthConfig> config, SecondsClock clock)
    : config_(std::move(config)),
      clock_(clock ? std::move(clock) : SecondsClock(wallClockSeconds)) {
  response_options_.realm = config_->settings.realm;
  response_options_.include_descriptions = config_->settings.error_descriptions;
  key_views_.resize(config_->providers.size());
  const CacheSettings& cache = config_->settings.cache;
  if (cache.max_entries > 0) {
    // A per-worker random seed: nobody can aim tokens at one bucket of the cache's index.
    std::random_device random;
    const std::uint64_t seed = (std::uint64_t{random()} << 32) ^ random();
    cache_.emplace(TokenCacheLimits{cache.max_entries, cache.max_bytes}, seed);
  }
}

FilterVerdict AuthFilter::Worker::decide(FilterRequest& request) {
  ++stats.requests;
  now_ = clock_();
  pending_.clear();
  pending_text_.clear();
  identity_providers_.clear();

  // Incoming copies of the headers jwtgate sets never reach the upstream, on any route.
  for (std::size_t i = 0; i < request.headerCount(); ++i) {
    if (!request.isRemoved(i) &&
        config_->reserved_headers.isIdentityHeader(request.header(i).name)) {
      request.removeHeader(i);
    }
  }
  collectFields(request);

  // The route is chosen by the normalised path, which is also what the upstream gets.
  const auto target = normalizeTarget(request.target(), path_, config_->settings.paths);
  if (!target) {
    return refuse(request, {Refusal::BadTarget, "The request target is not acceptable", {}});
  }
  const RouteMatch match = config_->routes.match(request.method(), findField("host"), target->path);
  if (match.error) {
    return refuse(request, {Refusal::BadTarget, "The request path cannot be matched", {}});
  }
  if (match.route == nullptr) {
    const bool forbidden = config_->routes.noRouteStatus() == NoRouteStatus::Forbidden;
    return refuse(request,
                  {forbidden ? Refusal::NoRouteForbidden : Refusal::NoRouteNotFound, {}, {}});
  }
  const Route& route = *match.route;
  query_ = target->query;
  has_query_ = target->has_query;
  if (!route.requirement) {
    return pass(request, route, target->path);
  }

  // The requirement; then the credentials go whatever the outcome (keep_token: false).
  const Requirement& requirement = *route.requirement;
  const Outcome outcome = evaluate(requirement, now_);
  // ---- remote keys: a fetch in flight may still bring the key; wait for it before the
  // credentials are touched, so that deciding again later sees the same request ----
  if (!outcome.ok && hint_.service >= 0) {
    return FilterVerdict::Pending;
  }
  // ---- end remote keys ----
  removeCredentials(request, requirement);
  if (outcome.ok) {
    return pass(request, route, target->path);
  }
  if (requirement.mode == AuthMode::Enforce) {
    // Refusals are the client's business, except a token the issuer signed with a claim
    // that cannot be forwarded, or a provider without keys: the operator must know.
    if (!outcome.header.empty() || outcome.refusal.refusal == Refusal::Unavailable) {
      logOutcome(proxy::LogLevel::Warn, "refused", route, outcome);
    }
    // TODO(logging): every other refusal belongs in a debug line once levels are configurable.
    return refuse(request, outcome.refusal);
  }

  return report(request, route, target->path, outcome);
}

FilterVerdict AuthFilter::Worker::report(FilterRequest& request, const Route& route,
                                         std::string_view path, const Outcome& outcome) {
  // Forwarded without any identity, marked with what would have happened.
  countRefusal(outcome.refusal.refusal);
  logOutcome(proxy::LogLevel::Info, "report: would refuse", route, outcome);
  pending_.clear();
  pending_text_.clear();
  identity_providers_.clear();
  addPending(config_->settings.report_header, toString(outcome.refusal.refusal));
  const FilterVerdict verdict = forward(request, route, path, false);
  stats.reported += verdict == FilterVerdict::Pass ? 1 : 0;
  return verdict;
}

void AuthFilter::Worker::collectFields(FilterRequest& request) {
  fields_.clear();
  field_indexes_.clear();
  for (std::size_t i = 0; i < request.headerCount(); ++i) {
    if (!request.isRemoved(i)) {
      fields_.push_back(request.header(i));
      field_indexes_.push_back(i);
    }
  }
}

std::string_view AuthFilter::Worker::findField(std::string_view name) const {
  for (const proxy::HeaderField& field : fields_) {
    if (equalsIgnoreCase(field.name, name)) {
      return field.value;
    }
  }
  return {};
}

AuthFilter::Worker::Outcome AuthFilter::Worker::evaluate(const Requirement& requirement,
                                                         std::int64_t now) {
  // Each provider looks in its own locations; a malformed or repeated credential anywhere
  // is refused, never resolved by picking one.
  candidates_.clear();
  for (ProviderIndex index : requirement.providers) {
    const Provider& provider = *config_->providers[index];
    const ExtractedToken found = extractToken(provider.token_from, fields_, query_);
    if (found.status == ExtractStatus::InvalidRequest) {
      return Outcome::refused({Refusal::InvalidRequest, describeProblem(found.problem), {}},
                              toString(found.problem), index);
    }
    if (found.status == ExtractStatus::Found) {
      candidates_.push_back({index, found.token});
    }
  }

  if (candidates_.empty()) {
    if (requirement.allow_missing) {
      ++stats.anonymous;
      return {};
    }
    return Outcome::refused({Refusal::MissingToken, {}, {}}, "missing_token");
  }
  return requirement.provider_rule == ProviderRule::All ? evaluateAll(requirement, now)
                                                        : evaluateOneOf(requirement, now);
}

AuthFilter::Worker::Outcome AuthFilter::Worker::evaluateOneOf(const Requirement& requirement,
                                                              std::int64_t now) {
  const std::string_view token = candidates_.front().token;
  for (const Candidate& candidate : candidates_) {
    if (candidate.token != token) {
      return Outcome::refused(
          {Refusal::InvalidRequest, describeProblem(ExtractProblem::ConflictingLocations), {}},
          toString(ExtractProblem::ConflictingLocations), candidate.provider);
    }
  }

  // A provider that accepted this token before answers from the cache; otherwise each
  // provider verifies it in listed order and the first to accept it is the identity.
  for (const Candidate& candidate : candidates_) {
    if (const CachedIdentity* identity = cached(candidate.provider, token, now)) {
      ++stats.cache_hits;
      return accept(requirement, candidate.provider, *identity, token, true);
    }
  }
  Outcome best = Outcome::refused({Refusal::InvalidToken, {}, {}}, "invalid_token", -1, token);
  int best_rank = -1;
  for (const Candidate& candidate : candidates_) {
    const VerifyResult result = verifyNew(candidate.provider, token, now);
    if (result.identity != nullptr) {
      return accept(requirement, candidate.provider, *result.identity, token, true);
    }
    const int rank = result.unavailable ? 0 : failureRank(result.status);
    if (rank > best_rank) {
      best = failure(result, candidate.provider, token);
      best_rank = rank;
    }
  }
  return best;
}

AuthFilter::Worker::Outcome AuthFilter::Worker::evaluateAll(const Requirement& requirement,
                                                            std::int64_t now) {
  if (candidates_.size() != requirement.providers.size()) {
    return Outcome::refused({Refusal::MissingToken, {}, {}}, "missing_token");
  }
  for (const Candidate& candidate : candidates_) {
    const CachedIdentity* identity = cached(candidate.provider, candidate.token, now);
    if (identity != nullptr) {
      ++stats.cache_hits;
    } else {
      const VerifyResult result = verifyNew(candidate.provider, candidate.token, now);
      if (result.identity == nullptr) {
        return failure(result, candidate.provider, candidate.token);
      }
      identity = result.identity;
    }
    // Processed at once: the next lookup may evict this entry. The route's checks are about
    // the first listed provider's token; the others need only be valid for their provider.
    const bool primary = &candidate == &candidates_.front();
    Outcome outcome = accept(requirement, candidate.provider, *identity, candidate.token, primary);
    if (!outcome.ok) {
      return outcome;
    }
  }
  return {};
}

const verifier::KeySet* AuthFilter::Worker::keysFor(ProviderIndex provider) {
  bool changed = false;
  const verifier::KeySet* keys =
      key_views_[provider].get(config_->providers[provider]->keys, &changed);
  // Tokens verified with the previous keys are verified again: a removed key takes effect.
  if (changed && cache_) {
    cache_->eraseProvider(provider);
  }
  return keys;
}

const CachedIdentity* AuthFilter::Worker::cached(ProviderIndex provider, std::string_view token,
                                                 std::int64_t now) {
  if (keysFor(provider) == nullptr || !cache_) {
    return nullptr;
  }
  return cache_->find(provider, token, now);
}

AuthFilter::Worker::VerifyResult AuthFilter::Worker::verifyNew(ProviderIndex index,
                                                               std::string_view token,
                                                               std::int64_t now) {
  const verifier::KeySet* keys = keysFor(index);
  if (keys == nullptr) {
    noteMissingKeys(index);
    return {nullptr, Status::Ok, true};
  }
  const Provider& provider = *config_->providers[index];
  ++stats.verifications;
  auto verified = verifier_.verify(token, provider.policy, *keys, now);
  if (!verified) {
    if (verified.error() == Status::KeyNotFound) {
      noteUnknownKid(index, token);
    }
    return {nullptr, verified.error(), false};
  }

  CachedIdentity identity(std::move(verified).value());
  renderHeaders(provider, identity);

  // Kept until the verifier itself would refuse the token, and never beyond max_age.
  std::int64_t expires = now + config_->settings.cache.max_age_seconds;
  if (const auto exp = identity.token.expiresAt()) {
    expires = std::min(expires, *exp + std::max<std::int64_t>(provider.policy.leeway_seconds, 0));
  }
  const std::size_t extra = identity.token.payload().size() * 2 + identity.values.size();
  const std::size_t max_bytes = config_->settings.cache.max_bytes;
  if (cache_ && (max_bytes == 0 || token.size() + extra <= max_bytes)) {
    // The insert cannot be refused now (the token is live and within the byte bound).
    cache_->insert(index, token, std::move(identity), expires, now, extra);
    const CachedIdentity* stored = cache_->find(index, token, now);
    assert(stored != nullptr);
    if (stored == nullptr) {
      return {nullptr, Status::Ok, true};  // Fail closed.
    }
    return {stored, Status::Ok, false};
  }
  uncached_.emplace(std::move(identity));
  return {&*uncached_, Status::Ok, false};
}

// ---- remote keys ----
void AuthFilter::Worker::noteMissingKeys(ProviderIndex provider) {
  const int service = remoteIndex(provider);
  if (service < 0 || !may_wait_ || hint_.service >= 0) {
    return;
  }
  if (const auto epoch = waiters_->shouldWaitForKeys(static_cast<std::size_t>(service))) {
    hint_ = {service, *epoch};
  }
}

void AuthFilter::Worker::noteUnknownKid(ProviderIndex provider, std::string_view token) {
  const int service = remoteIndex(provider);
  if (service < 0 || waiters_ == nullptr) {
    return;
  }
  // The protected-header segment stands for the kid: it carries it, and tokens naming the
  // same kid from one issuer share it, without decoding anything here.
  const std::string_view header = token.substr(0, token.find('.'));
  if (after_wait_) {
    waiters_->rememberUnknownKid(static_cast<std::size_t>(service), header);
    return;
  }
  if (!may_wait_ || hint_.service >= 0) {
    return;
  }
  if (const auto epoch = waiters_->shouldWaitForKid(static_cast<std::size_t>(service), header)) {
    hint_ = {service, *epoch};
  }
}
// ---- end remote keys ----

AuthFilter::Worker::Outcome AuthFilter::Worker::failure(const VerifyResult& result,
                                                        ProviderIndex provider,
                                                        std::string_view token) {
  if (result.unavailable) {
    // ---- remote keys: say why the provider has none, with the status it is configured for
    const int service = remoteIndex(provider);
    if (service >= 0) {
      const jwks::KeyAvailability availability =
          remote_->service().keys(static_cast<std::size_t>(service)).availability();
      const Refusal refusal = config_->providers[provider]->unavailable_status == 503
                                  ? Refusal::Unavailable
                                  : Refusal::InvalidToken;
      return Outcome::refused({refusal, jwks::describe(availability), {}},
                              jwks::toString(availability), provider, token);
    }
    // ---- end remote keys ----
    return Outcome::refused({Refusal::Unavailable, "The identity provider has no keys yet", {}},
                            "no_keys", provider, token);
  }
  return Outcome::refused(refusalFor(result.status), verifier::toString(result.status), provider,
                          token);
}

AuthFilter::Worker::Outcome AuthFilter::Worker::accept(const Requirement& requirement,
                                                       ProviderIndex index,
                                                       const CachedIdentity& identity,
                                                       std::string_view token, bool route_checks) {
  const Provider& provider = *config_->providers[index];
  if (identity.unforwardable != kNoIndex) {
    return Outcome::refused(
        {Refusal::InvalidToken, "A claim cannot be forwarded as a header value", {}},
        "claim_not_forwardable", index, token,
        provider.claims_to_headers[identity.unforwardable].name);
  }

  // Route checks run on every request, cached token or not.
  const verifier::ClaimsView claims = identity.token.claims();
  const auto grants =
      route_checks ? std::span(requirement.grants) : std::span<const verifier::ScopeRequirement>();
  const auto claim_rules =
      route_checks ? std::span(requirement.claims) : std::span<const verifier::ClaimRequirement>();
  for (const verifier::ScopeRequirement& grant : grants) {
    if (verifier::checkScopes(claims, grant) != Status::Ok) {
      return Outcome::refused(
          {Refusal::InsufficientScope, verifier::describe(Status::InsufficientScope),
           requirement.challenge_scopes},
          verifier::toString(Status::InsufficientScope), index, token);
    }
  }
  const Status claim_status = verifier::checkClaims(claims, claim_rules);
  if (claim_status != Status::Ok) {
    // A route's claim rule is an authorisation decision about a valid token: 403.
    return Outcome::refused({Refusal::InsufficientScope, verifier::describe(claim_status), {}},
                            verifier::toString(claim_status), index, token);
  }

  // The identity headers, applied only if the whole requirement passes.
  for (std::size_t i = 0; i < identity.headers.size(); ++i) {
    const CachedIdentity::Slice& slice = identity.headers[i];
    if (slice.present) {
      addPending(provider.claims_to_headers[i].name,
                 std::string_view(identity.values).substr(slice.offset, slice.length));
    }
  }
  if (!provider.forward_payload_header.empty()) {
    addPending(provider.forward_payload_header, payloadSegment(token));
  }
  identity_providers_.push_back(index);
  return {};
}

void AuthFilter::Worker::addPending(std::string_view name, std::string_view value) {
  PendingHeader header{};
  header.name_offset = static_cast<std::uint32_t>(pending_text_.size());
  header.name_length = static_cast<std::uint32_t>(name.size());
  pending_text_.append(name);
  header.value_offset = static_cast<std::uint32_t>(pending_text_.size());
  header.value_length = static_cast<std::uint32_t>(value.size());
  pending_text_.append(value);
  pending_.push_back(header);
}

void AuthFilter::Worker::removeCredentials(FilterRequest& request, const Requirement& requirement) {
  // Every location of a keep_token: false provider that holds something credential-like
  // (found, repeated or empty) is removed: the upstream never sees that provider's tokens.
  cookies_to_remove_.clear();
  parameters_to_remove_.clear();
  for (ProviderIndex index : requirement.providers) {
    const Provider& provider = *config_->providers[index];
    if (provider.keep_token) {
      continue;
    }
    for (const TokenSource& source : provider.token_from) {
      if (extractToken({&source, 1}, fields_, query_).status == ExtractStatus::None) {
        continue;
      }
      switch (source.location) {
        case TokenLocation::Header:
          for (std::size_t i = 0; i < fields_.size(); ++i) {
            if (equalsIgnoreCase(fields_[i].name, source.name)) {
              request.removeHeader(field_indexes_[i]);
            }
          }
          break;
        case TokenLocation::Cookie:
          cookies_to_remove_.push_back(source.name);
          break;
        case TokenLocation::Query:
          parameters_to_remove_.push_back(source.name);
          break;
      }
    }
  }
  if (!cookies_to_remove_.empty()) {
    removeCookies(request);
  }
  if (!parameters_to_remove_.empty()) {
    removeParameters();
  }
}

void AuthFilter::Worker::removeCookies(FilterRequest& request) {
  // Every Cookie field becomes one, without the credential cookies (RFC 6265 section 5.4:
  // pairs separated by "; ").
  cookie_buffer_.clear();
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (!equalsIgnoreCase(fields_[i].name, "cookie")) {
      continue;
    }
    request.removeHeader(field_indexes_[i]);
    std::string_view rest = fields_[i].value;
    while (!rest.empty()) {
      const std::size_t semicolon = rest.find(';');
      const std::string_view pair = trimOws(rest.substr(0, semicolon));
      rest = semicolon == std::string_view::npos ? std::string_view() : rest.substr(semicolon + 1);
      const std::string_view name = trimOws(pair.substr(0, pair.find('=')));
      if (pair.empty() ||
          (pair.find('=') != std::string_view::npos && containsName(cookies_to_remove_, name))) {
        continue;
      }
      cookie_buffer_.append(cookie_buffer_.empty() ? "" : "; ").append(pair);
    }
  }
  if (!cookie_buffer_.empty()) {
    request.addHeader("Cookie", cookie_buffer_);
  }
}

void AuthFilter::Worker::removeParameters() {
  const bool had_parameters = !query_.empty();
  for (std::string_view name : parameters_to_remove_) {
    if (removeQueryParameter(query_, name, query_scratch_)) {
      std::swap(query_buffer_, query_scratch_);
      query_ = query_buffer_;
    }
  }
  // "/a?access_token=x" goes upstream as "/a".
  if (had_parameters && query_.empty()) {
    has_query_ = false;
  }
}

FilterVerdict AuthFilter::Worker::forward(FilterRequest& request, const Route& route,
                                          std::string_view path, bool with_identity) {
  // The identity headers (or the report marker).
  for (const PendingHeader& header : pending_) {
    const std::string_view text = pending_text_;
    if (!request.addHeader(text.substr(header.name_offset, header.name_length),
                           text.substr(header.value_offset, header.value_length))) {
      // Values were checked when rendered; fail closed if the proxy disagrees.
      return refuse(request,
                    {Refusal::InvalidToken, "A claim cannot be forwarded as a header value", {}});
    }
  }
  if (!config_->settings.identity_info_header.empty()) {
    info_.assign(route.name);
    if (with_identity && !identity_providers_.empty()) {
      info_.append("; provider=");
      for (std::size_t i = 0; i < identity_providers_.size(); ++i) {
        info_.append(i == 0 ? "" : ",").append(config_->providers[identity_providers_[i]]->name);
      }
    }
    request.addHeader(config_->settings.identity_info_header, info_);
  }

  // The normalised path and the query (without a removed token parameter).
  target_.assign(path);
  if (has_query_) {
    target_.push_back('?');
    target_.append(query_);
  }
  if (target_ != request.target() && !request.setTarget(target_)) {
    return refuse(request, {Refusal::BadTarget, "The request target is not acceptable", {}});
  }
  return FilterVerdict::Pass;
}

FilterVerdict AuthFilter::Worker::refuse(FilterRequest& request, const RefusalInput& input) {
  ++stats.refused;
  countRefusal(input.refusal);
  buildRefusal(input, response_options_, refusal_);
  fillLocalReply(refusal_, request.respond(refusal_.status()));
  return FilterVerdict::Respond;
}

bool AuthFilter::Worker::allowLogLine(std::int64_t now) {
  if (now != log_second_) {
    if (log_suppressed_ > 0) {
      proxy::logMessage(proxy::LogLevel::Info, "auth: %llu similar lines suppressed",
                        static_cast<unsigned long long>(log_suppressed_));
    }
    log_second_ = now;
    log_lines_ = 0;
    log_suppressed_ = 0;
  }
  if (log_lines_ >= kMaxLogLinesPerSecond) {
    ++log_suppressed_;
    return false;
  }
  ++log_lines_;
  return true;
}

void AuthFilter::Worker::logOutcome(proxy::LogLevel level, const char* what, const Route& route,
                                    const Outcome& outcome) {
  if (!allowLogLine(now_)) {
    return;
  }
  // Never the token itself, a header value or the query: names, reasons, a fingerprint.
  char credential[40];
  fingerprint(outcome.token, credential);
  const std::string_view reason = outcome.reason;
  const char* provider =
      outcome.provider >= 0 ? config_->providers[outcome.provider]->name.c_str() : "-";
  const std::string_view refusal = toString(outcome.refusal.refusal);
  const std::string_view header = outcome.header;
  proxy::logMessage(level, "auth: %s: route=%s %.*s (%.*s%s%.*s) provider=%s credential=%s", what,
                    route.name.c_str(), static_cast<int>(refusal.size()), refusal.data(),
                    static_cast<int>(reason.size()), reason.data(), header.empty() ? "" : " in ",
                    static_cast<int>(header.size()), header.data(), provider, credential);
}

// ---- remote keys: this worker's waiters and the requests suspended on them ----
struct AuthFilter::KeyWaits {
  struct Held {
    proxy::PendingRequest request;
    std::uint64_t waiter = 0;
  };
  std::unique_ptr<jwks::KeyWaiters> waiters;
  std::unordered_map<std::uint64_t, Held> held;  // by slot
  std::uint64_t next_slot = 1;
};
// ---- end remote keys ----

AuthFilter::AuthFilter(std::shared_ptr<const AuthConfig> config, SecondsClock clock)
    : worker_(std::make_unique<Worker>(std::move(config), std::move(clock))) {}

AuthFilter::AuthFilter(std::shared_ptr<const AuthConfig> config, RemoteKeys* remote,
                       uv_loop_t* loop, SecondsClock clock)
    : AuthFilter(std::move(config), std::move(clock)) {
  if (remote == nullptr) {
    return;
  }
  waits_ = std::make_unique<KeyWaits>();
  if (loop != nullptr) {
    auto waiters = jwks::KeyWaiters::create(loop, remote->service());
    if (waiters) {
      waits_->waiters = std::move(*waiters);
    } else {
      // Fail closed: requests that would wait are refused instead.
      proxy::logMessage(proxy::LogLevel::Error, "auth: remote keys: no key waits here: %s",
                        waiters.error().c_str());
    }
  }
  worker_->setRemoteKeys(remote, waits_->waiters.get());
}

AuthFilter::~AuthFilter() = default;

proxy::FilterVerdict AuthFilter::onRequest(proxy::RequestContext& request) {
  ContextRequest adapter(request);
  worker_->beginRun(true, false);
  const FilterVerdict verdict = worker_->decide(adapter);
  if (verdict != FilterVerdict::Pending) {
    return verdict;
  }
  return waitForKeys(request, adapter);
}

// ---- remote keys ----
proxy::FilterVerdict AuthFilter::waitForKeys(proxy::RequestContext& request,
                                             FilterRequest& adapter) {
  const Worker::KeyWaitHint hint = worker_->keyWaitHint();
  const std::uint64_t slot = waits_->next_slot++;
  const jwks::WaitTicket ticket = waits_->waiters->wait(
      static_cast<std::size_t>(hint.service), hint.epoch, [this, slot](jwks::WaitOutcome outcome) {
        resumeAfterWait(slot, static_cast<std::uint8_t>(outcome));
      });
  if (ticket.state != jwks::WaitStart::Waiting) {
    // The fetch already ended, or this worker holds too many waits: decide now, for good.
    --worker_->stats.requests;
    worker_->beginRun(false, ticket.state == jwks::WaitStart::AlreadyDone);
    return worker_->decide(adapter);
  }
  ++worker_->stats.key_waits;
  waits_->held[slot] = {request.suspend(), ticket.id};
  return FilterVerdict::Pending;
}

void AuthFilter::resumeAfterWait(std::uint64_t slot, std::uint8_t outcome) {
  const auto found = waits_->held.find(slot);
  if (found == waits_->held.end()) {
    return;
  }
  const proxy::PendingRequest pending = found->second.request;
  waits_->held.erase(found);
  proxy::RequestContext* context = pending.context();
  if (context == nullptr || outcome == static_cast<std::uint8_t>(jwks::WaitOutcome::Cancelled)) {
    return;
  }
  ContextRequest adapter(*context);
  --worker_->stats.requests;
  worker_->beginRun(false, outcome == static_cast<std::uint8_t>(jwks::WaitOutcome::FetchDone));
  pending.resume(worker_->decide(adapter));
}

void AuthFilter::onCancelled(std::uint64_t pending_id) {
  if (!waits_) {
    return;
  }
  for (auto it = waits_->held.begin(); it != waits_->held.end(); ++it) {
    if (it->second.request.id() == pending_id) {
      waits_->waiters->cancel(it->second.waiter);
      waits_->held.erase(it);
      return;
    }
  }
}
// ---- end remote keys ----

proxy::FilterVerdict AuthFilter::decide(FilterRequest& request) {
  worker_->beginRun(false, false);
  return worker_->decide(request);
}

void AuthFilter::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  // ---- remote keys: every connection is closed by now; the waiters' handles go too ----
  if (waits_ && waits_->waiters) {
    waits_->waiters->close();
    waits_->held.clear();
  }
  // ---- end remote keys ----
  const AuthStats& s = worker_->stats;
  const auto count = [](std::uint64_t value) { return static_cast<unsigned long long>(value); };
  proxy::logMessage(proxy::LogLevel::Info,
                    "auth: worker stats: requests=%llu passed=%llu refused=%llu reported=%llu "
                    "anonymous=%llu cache_hits=%llu verifications=%llu key_waits=%llu",
                    count(s.requests), count(s.passed), count(s.refused), count(s.reported),
                    count(s.anonymous), count(s.cache_hits), count(s.verifications),
                    count(s.key_waits));
}

const AuthStats& AuthFilter::stats() const { return worker_->stats; }

std::size_t AuthFilter::cachedTokens() const { return worker_->cachedTokens(); }

proxy::RequestFilterFactory makeAuthFilterFactory(std::shared_ptr<const AuthConfig> config,
                                                  RemoteKeys* remote) {
  return [config, remote](uv_loop_t* loop) -> std::unique_ptr<proxy::RequestFilter> {
    if (remote != nullptr) {
      return std::make_unique<AuthFilter>(config, remote, loop);
    }
    return std::make_unique<AuthFilter>(config);
  };
}

}  // namespace jwtgate::auth

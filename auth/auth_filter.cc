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
#include "auth/auth_filter_group.h"
#include "auth/remote_keys.h"
#include "auth/token_cache.h"
#include "auth/token_extractor.h"
#include "jwks/key_waiters.h"
#include "observe/log.h"
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
  std::string values;          // The rendered header values, then the subject.
  std::vector<Slice> headers;  // One per claims_to_headers entry.
  Slice subject;               // The screened subject for the access log (may be absent).
  // The first claims_to_headers entry whose value cannot be a header value, or kNoIndex.
  std::size_t unforwardable = kNoIndex;
};

// The subject as the access log may show it: a string without control characters, or a
// number's JSON text, cut to `max_bytes` on a UTF-8 boundary; nullopt for anything else.
std::optional<std::string_view> screenedSubject(const verifier::ClaimsView& claims,
                                                const verifier::ClaimPath& path,
                                                std::size_t max_bytes) {
  const auto value = claims.find(path);
  if (!value) {
    return std::nullopt;
  }
  std::string_view text;
  if (value->isString()) {
    text = value->string();
  } else if (value->isNumber()) {
    text = value->numberText();
  } else {
    return std::nullopt;
  }
  for (const char c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return std::nullopt;
    }
  }
  if (text.size() > max_bytes) {
    std::size_t cut = max_bytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xc0) == 0x80) {
      --cut;
    }
    text = text.substr(0, cut);
  }
  return text;
}

void renderSubject(const std::optional<verifier::ClaimPath>& path, CachedIdentity& identity) {
  if (!path) {
    return;
  }
  const auto subject =
      screenedSubject(identity.token.claims(), *path, AuthFilter::kMaxLoggedSubject);
  if (subject && !subject->empty()) {
    identity.subject = {static_cast<std::uint32_t>(identity.values.size()),
                        static_cast<std::uint32_t>(subject->size()), true};
    identity.values.append(*subject);
  }
}

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
  void note(const proxy::FilterNote& note) override { context_.note(note); }

 private:
  proxy::RequestContext& context_;
};

}  // namespace

std::uint64_t monotonicNanos() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1000000000u +
         static_cast<std::uint64_t>(now.tv_nsec);
}

std::int64_t wallClockSeconds() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME_COARSE, &now);
  return static_cast<std::int64_t>(now.tv_sec);
}

// The request path for one configuration (a BoundAuthConfig) on one worker: the verifier,
// the token cache and the per-request buffers. Replaced (not changed) when the worker takes a
// new configuration; a request suspended for keys keeps the one it started with.
class AuthFilter::Worker {
 public:
  Worker(std::shared_ptr<const BoundAuthConfig> bound, const SecondsClock& clock,
         AuthMetrics& metrics);
  // Decides, then counts the decision and notes it on `request` (unless Pending).
  FilterVerdict decide(FilterRequest& request);
  std::size_t cachedTokens() const { return cache_ ? cache_->size() : 0; }
  const AuthConfig& config() const { return *config_; }
  const BoundAuthConfig& bound() const { return *bound_; }

  // ---- remote keys ----
  // The fetch a request may wait for: the provider and the fetch epoch to wait past
  // (provider -1: none).
  struct KeyWaitHint {
    int provider = -1;
    std::uint64_t epoch = 0;
  };
  // By ProviderIndex: this worker's waiters on the provider's key service, or null.
  void setWaiters(std::vector<jwks::KeyWaiters*> waiters) { waiters_ = std::move(waiters); }
  jwks::KeyWaiters* waitersFor(int provider) const {
    return provider >= 0 ? waiters_[static_cast<std::size_t>(provider)] : nullptr;
  }
  // Before each decide(): whether it may end in Pending (a wait), and whether it follows a
  // wait (a kid still unknown is then remembered, so it is refused at once next time).
  void beginRun(bool may_wait, bool after_wait) {
    may_wait_ = may_wait;
    after_wait_ = after_wait;
    hint_ = {};
  }
  const KeyWaitHint& keyWaitHint() const { return hint_; }
  // ---- end remote keys ----

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
    RefusalReason metric = RefusalReason::Other;  // For metrics and the access log.
    std::string_view reason;  // Stable name for logs ("expired", "missing_token", ...).
    int provider = -1;        // The provider the outcome is about, -1 for none.
    std::string_view token;   // The credential it is about, logged as a fingerprint only.
    std::string_view header;  // The claim header that could not be set, if that is why.

    static Outcome refused(RefusalInput refusal, RefusalReason metric, std::string_view reason,
                           int provider = -1, std::string_view token = {},
                           std::string_view header = {}) {
      Outcome outcome;
      outcome.ok = false;
      outcome.refusal = refusal;
      outcome.metric = metric;
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

  // What the request came to, counted and noted once decide() ends.
  struct Decision {
    AuthOutcome outcome = AuthOutcome::Refused;
    RefusalReason reason = RefusalReason::Other;
    Refusal refusal = Refusal::InvalidToken;
    std::uint32_t route_label = 0;
    std::string_view route;  // Into the config.
    int provider = -1;
  };

  FilterVerdict decideOnce(FilterRequest& request);
  void record(FilterRequest& request);
  void collectFields(FilterRequest& request);
  std::string_view findField(std::string_view name) const;
  Outcome evaluate(const Requirement& requirement, std::int64_t now);
  Outcome evaluateOneOf(const Requirement& requirement, std::int64_t now);
  Outcome evaluateAll(const Requirement& requirement, std::int64_t now);
  const verifier::KeySet* keysFor(ProviderIndex provider);
  // ---- remote keys ----
  jwks::KeyService* serviceFor(ProviderIndex provider) const {
    return bound_->key_services[provider].get();
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
    decision_.outcome = !route.requirement ? AuthOutcome::Open
                        : anonymous_       ? AuthOutcome::Anonymous
                                           : AuthOutcome::Allowed;
    if (!identity_providers_.empty()) {
      decision_.provider = static_cast<int>(identity_providers_.front());
    }
    return forward(request, route, path, true);
  }
  FilterVerdict refuse(FilterRequest& request, const RefusalInput& input, RefusalReason reason);
  FilterVerdict report(FilterRequest& request, const Route& route, std::string_view path,
                       const Outcome& outcome);
  bool allowLogLine(std::int64_t now);
  void logOutcome(proxy::LogLevel level, const char* what, const Route& route,
                  const Outcome& outcome);

  std::shared_ptr<const BoundAuthConfig> bound_;
  const AuthConfig* config_;
  const SecondsClock& clock_;  // the filter's
  AuthMetrics& metrics_;       // the filter's
  // ---- remote keys ----
  std::vector<jwks::KeyWaiters*> waiters_;  // by ProviderIndex
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
  Decision decision_;
  bool anonymous_ = false;
  std::string subject_;  // The identity's screened subject (copied: the cache may evict).

  // Log rate limit.
  std::int64_t log_second_ = 0;
  std::uint32_t log_lines_ = 0;
  std::uint64_t log_suppressed_ = 0;
};

AuthFilter::Worker::Worker(std::shared_ptr<const BoundAuthConfig> bound, const SecondsClock& clock,
                           AuthMetrics& metrics)
    : bound_(std::move(bound)), config_(bound_->config.get()), clock_(clock), metrics_(metrics) {
  waiters_.assign(config_->providers.size(), nullptr);
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
  decision_ = {};
  decision_.route_label = noRouteLabel();
  anonymous_ = false;
  subject_.clear();
  const FilterVerdict verdict = decideOnce(request);
  if (verdict != FilterVerdict::Pending) {
    record(request);
  }
  return verdict;
}

void AuthFilter::Worker::record(FilterRequest& request) {
  const Decision& d = decision_;
  metrics_.requests[d.route_label][static_cast<std::size_t>(d.outcome)].add();
  const bool refusal = d.outcome == AuthOutcome::Refused || d.outcome == AuthOutcome::Reported ||
                       d.outcome == AuthOutcome::NoRoute;
  if (refusal) {
    metrics_.refusals[static_cast<std::size_t>(d.reason)].add();
    metrics_.refusal_kinds[static_cast<std::size_t>(d.refusal)].add();
  }
  proxy::FilterNote note;
  note.route = d.route;
  note.provider = d.provider >= 0 ? std::string_view(config_->providers[d.provider]->name) : "";
  note.subject = subject_;
  note.outcome = toString(d.outcome);
  note.reason = refusal ? toString(d.reason) : std::string_view();
  request.note(note);
}

FilterVerdict AuthFilter::Worker::decideOnce(FilterRequest& request) {
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
    return refuse(request, {Refusal::BadTarget, "The request target is not acceptable", {}},
                  RefusalReason::BadTarget);
  }
  const RouteMatch match = config_->routes.match(request.method(), findField("host"), target->path);
  if (match.error) {
    return refuse(request, {Refusal::BadTarget, "The request path cannot be matched", {}},
                  RefusalReason::BadTarget);
  }
  if (match.route == nullptr) {
    const bool forbidden = config_->routes.noRouteStatus() == NoRouteStatus::Forbidden;
    return refuse(request,
                  {forbidden ? Refusal::NoRouteForbidden : Refusal::NoRouteNotFound, {}, {}},
                  RefusalReason::NoRoute);
  }
  const Route& route = *match.route;
  decision_.route = route.name;
  decision_.route_label =
      bound_->route_labels[static_cast<std::size_t>(match.route - config_->routes.routes().data())];
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
  if (!outcome.ok && hint_.provider >= 0) {
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
    } else if (observe::enabled(observe::Level::Debug)) {
      logOutcome(proxy::LogLevel::Debug, "refused", route, outcome);
    }
    decision_.provider = outcome.provider;
    return refuse(request, outcome.refusal, outcome.metric);
  }

  return report(request, route, target->path, outcome);
}

FilterVerdict AuthFilter::Worker::report(FilterRequest& request, const Route& route,
                                         std::string_view path, const Outcome& outcome) {
  // Forwarded without any identity, marked with what would have happened.
  logOutcome(proxy::LogLevel::Info, "report: would refuse", route, outcome);
  pending_.clear();
  pending_text_.clear();
  identity_providers_.clear();
  addPending(config_->settings.report_header, toString(outcome.refusal.refusal));
  decision_.outcome = AuthOutcome::Reported;
  decision_.reason = outcome.metric;
  decision_.refusal = outcome.refusal.refusal;
  decision_.provider = outcome.provider;
  return forward(request, route, path, false);
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
      const RefusalReason reason = found.problem == ExtractProblem::EmptyToken
                                       ? RefusalReason::Malformed
                                       : RefusalReason::Duplicate;
      return Outcome::refused({Refusal::InvalidRequest, describeProblem(found.problem), {}}, reason,
                              toString(found.problem), index);
    }
    if (found.status == ExtractStatus::Found) {
      candidates_.push_back({index, found.token});
    }
  }

  if (candidates_.empty()) {
    if (requirement.allow_missing) {
      anonymous_ = true;
      return {};
    }
    return Outcome::refused({Refusal::MissingToken, {}, {}}, RefusalReason::MissingToken,
                            "missing_token");
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
          RefusalReason::Duplicate, toString(ExtractProblem::ConflictingLocations),
          candidate.provider);
    }
  }

  // A provider that accepted this token before answers from the cache; otherwise each
  // provider verifies it in listed order and the first to accept it is the identity.
  for (const Candidate& candidate : candidates_) {
    if (const CachedIdentity* identity = cached(candidate.provider, token, now)) {
      metrics_.cache_hits.add();
      return accept(requirement, candidate.provider, *identity, token, true);
    }
  }
  Outcome best = Outcome::refused({Refusal::InvalidToken, {}, {}}, RefusalReason::Other,
                                  "invalid_token", -1, token);
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
    return Outcome::refused({Refusal::MissingToken, {}, {}}, RefusalReason::MissingToken,
                            "missing_token");
  }
  for (const Candidate& candidate : candidates_) {
    const CachedIdentity* identity = cached(candidate.provider, candidate.token, now);
    if (identity != nullptr) {
      metrics_.cache_hits.add();
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
  metrics_.cache_misses.add();
  const std::uint64_t started = monotonicNanos();
  auto verified = verifier_.verify(token, provider.policy, *keys, now);
  metrics_.verification.observeNanos(monotonicNanos() - started);
  if (!verified) {
    if (verified.error() == Status::KeyNotFound) {
      noteUnknownKid(index, token);
    }
    return {nullptr, verified.error(), false};
  }

  CachedIdentity identity(std::move(verified).value());
  renderHeaders(provider, identity);
  renderSubject(bound_->subject_claim, identity);

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
  jwks::KeyWaiters* waiters = waiters_[provider];
  if (waiters == nullptr || !may_wait_ || hint_.provider >= 0) {
    return;
  }
  if (const auto epoch = waiters->shouldWaitForKeys(0)) {
    hint_ = {static_cast<int>(provider), *epoch};
  }
}

void AuthFilter::Worker::noteUnknownKid(ProviderIndex provider, std::string_view token) {
  jwks::KeyWaiters* waiters = waiters_[provider];
  if (waiters == nullptr) {
    return;
  }
  // The protected-header segment stands for the kid: it carries it, and tokens naming the
  // same kid from one issuer share it, without decoding anything here.
  const std::string_view header = token.substr(0, token.find('.'));
  if (after_wait_) {
    waiters->rememberUnknownKid(0, header);
    return;
  }
  if (!may_wait_ || hint_.provider >= 0) {
    return;
  }
  if (const auto epoch = waiters->shouldWaitForKid(0, header)) {
    hint_ = {static_cast<int>(provider), *epoch};
  }
}
// ---- end remote keys ----

AuthFilter::Worker::Outcome AuthFilter::Worker::failure(const VerifyResult& result,
                                                        ProviderIndex provider,
                                                        std::string_view token) {
  if (result.unavailable) {
    // ---- remote keys: say why the provider has none, with the status it is configured for
    if (jwks::KeyService* service = serviceFor(provider)) {
      const jwks::KeyAvailability availability = service->keys(0).availability();
      const Refusal refusal = config_->providers[provider]->unavailable_status == 503
                                  ? Refusal::Unavailable
                                  : Refusal::InvalidToken;
      return Outcome::refused({refusal, jwks::describe(availability), {}}, RefusalReason::NoKeys,
                              jwks::toString(availability), static_cast<int>(provider), token);
    }
    // ---- end remote keys ----
    return Outcome::refused({Refusal::Unavailable, "The identity provider has no keys yet", {}},
                            RefusalReason::NoKeys, "no_keys", static_cast<int>(provider), token);
  }
  return Outcome::refused(refusalFor(result.status), reasonFor(result.status),
                          verifier::toString(result.status), static_cast<int>(provider), token);
}

AuthFilter::Worker::Outcome AuthFilter::Worker::accept(const Requirement& requirement,
                                                       ProviderIndex index,
                                                       const CachedIdentity& identity,
                                                       std::string_view token, bool route_checks) {
  const Provider& provider = *config_->providers[index];
  if (identity.unforwardable != kNoIndex) {
    return Outcome::refused(
        {Refusal::InvalidToken, "A claim cannot be forwarded as a header value", {}},
        RefusalReason::HeaderValue, "claim_not_forwardable", static_cast<int>(index), token,
        provider.claims_to_headers[identity.unforwardable].name);
  }
  // The route's identity (the primary token): its subject goes into the access log, also
  // when a route check refuses it below.
  if (route_checks) {
    const CachedIdentity::Slice& subject = identity.subject;
    subject_.assign(subject.present
                        ? std::string_view(identity.values).substr(subject.offset, subject.length)
                        : std::string_view());
    decision_.provider = static_cast<int>(index);
  }

  // Route checks run on every request, cached token or not.
  const verifier::ClaimsView claims = identity.token.claims();
  const auto grants =
      route_checks ? std::span(requirement.grants) : std::span<const verifier::ScopeRequirement>();
  const auto claim_rules =
      route_checks ? std::span(requirement.claims) : std::span<const verifier::ClaimRequirement>();
  for (std::size_t i = 0; i < grants.size(); ++i) {
    if (verifier::checkScopes(claims, grants[i]) != Status::Ok) {
      const RefusalReason reason =
          i < requirement.scope_grants ? RefusalReason::Scope : RefusalReason::Role;
      return Outcome::refused(
          {Refusal::InsufficientScope, verifier::describe(Status::InsufficientScope),
           requirement.challenge_scopes},
          reason, verifier::toString(Status::InsufficientScope), static_cast<int>(index), token);
    }
  }
  const Status claim_status = verifier::checkClaims(claims, claim_rules);
  if (claim_status != Status::Ok) {
    // A route's claim rule is an authorisation decision about a valid token: 403.
    return Outcome::refused({Refusal::InsufficientScope, verifier::describe(claim_status), {}},
                            RefusalReason::Claim, verifier::toString(claim_status),
                            static_cast<int>(index), token);
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
                    {Refusal::InvalidToken, "A claim cannot be forwarded as a header value", {}},
                    RefusalReason::HeaderValue);
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
    return refuse(request, {Refusal::BadTarget, "The request target is not acceptable", {}},
                  RefusalReason::BadTarget);
  }
  return FilterVerdict::Pass;
}

FilterVerdict AuthFilter::Worker::refuse(FilterRequest& request, const RefusalInput& input,
                                         RefusalReason reason) {
  const bool no_route =
      input.refusal == Refusal::NoRouteNotFound || input.refusal == Refusal::NoRouteForbidden;
  decision_.outcome = no_route ? AuthOutcome::NoRoute : AuthOutcome::Refused;
  decision_.reason = reason;
  decision_.refusal = input.refusal;
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
    std::shared_ptr<Worker> worker;  // the configuration the request started with
    jwks::KeyWaiters* waiters = nullptr;
  };
  // This worker's waiters on one key service (opened when a configuration first uses it).
  struct ServiceWaiters {
    std::shared_ptr<jwks::KeyService> service;
    std::unique_ptr<jwks::KeyWaiters> waiters;  // null: libuv refused; requests never wait
  };

  uv_loop_t* loop = nullptr;
  std::vector<ServiceWaiters> services;
  std::unordered_map<std::uint64_t, Held> held;  // by slot
  std::uint64_t next_slot = 1;

  jwks::KeyWaiters* waitersFor(const std::shared_ptr<jwks::KeyService>& service) {
    for (const ServiceWaiters& entry : services) {
      if (entry.service == service) {
        return entry.waiters.get();
      }
    }
    ServiceWaiters entry{service, nullptr};
    auto waiters = jwks::KeyWaiters::create(loop, *service);
    if (waiters) {
      entry.waiters = std::move(*waiters);
    } else {
      // Fail closed: requests that would wait are refused instead.
      proxy::logMessage(proxy::LogLevel::Error, "auth: remote keys: no key waits here: %s",
                        waiters.error().c_str());
    }
    services.push_back(std::move(entry));
    return services.back().waiters.get();
  }
};
// ---- end remote keys ----

AuthFilter::AuthFilter(std::shared_ptr<const AuthConfig> config, SecondsClock clock)
    : AuthFilter(std::move(config), nullptr, nullptr, std::move(clock)) {}

AuthFilter::AuthFilter(std::shared_ptr<const AuthConfig> config, RemoteKeys* remote,
                       uv_loop_t* loop, SecondsClock clock)
    : clock_(clock ? std::move(clock) : SecondsClock(wallClockSeconds)),
      own_metrics_(std::make_unique<AuthMetrics>()),
      metrics_(own_metrics_.get()) {
  init(bindAuthConfig(std::move(config), remote), loop);
}

AuthFilter::AuthFilter(std::shared_ptr<AuthFilterGroup> group, uv_loop_t* loop, SecondsClock clock)
    : clock_(clock ? std::move(clock) : SecondsClock(wallClockSeconds)), group_(std::move(group)) {
  metrics_ = group_->registerFilter();
  generation_ = group_->generation();
  init(group_->current(), loop);
}

AuthFilter::~AuthFilter() {
  if (!closed_ && group_) {
    group_->unregisterFilter();
  }
}

void AuthFilter::init(std::shared_ptr<const BoundAuthConfig> bound, uv_loop_t* loop) {
  if (loop != nullptr) {
    waits_ = std::make_unique<KeyWaits>();
    waits_->loop = loop;
  }
  adopt(std::move(bound));
}

void AuthFilter::adopt(std::shared_ptr<const BoundAuthConfig> bound) {
  // The new configuration gets a new Worker: a new verifier and an empty token cache.
  std::vector<jwks::KeyWaiters*> waiters(bound->key_services.size(), nullptr);
  if (waits_) {
    for (std::size_t i = 0; i < waiters.size(); ++i) {
      if (bound->key_services[i]) {
        waiters[i] = waits_->waitersFor(bound->key_services[i]);
      }
    }
  }
  worker_ = std::make_shared<Worker>(std::move(bound), clock_, *metrics_);
  worker_->setWaiters(std::move(waiters));
  pruneWaiters();
}

void AuthFilter::followGroup() {
  if (!group_) {
    return;
  }
  const std::uint64_t generation = group_->generation();
  if (generation == generation_) {
    return;
  }
  generation_ = generation;
  adopt(group_->current());
}

// Closes the waiters of services that neither the current configuration nor a suspended
// request uses any more (a provider removed by a reload).
void AuthFilter::pruneWaiters() {
  if (!waits_) {
    return;
  }
  auto& services = waits_->services;
  for (auto it = services.begin(); it != services.end();) {
    const auto& in_use = worker_->bound().key_services;
    bool used = std::find(in_use.begin(), in_use.end(), it->service) != in_use.end();
    for (const auto& [slot, held] : waits_->held) {
      const auto& theirs = held.worker->bound().key_services;
      used = used || std::find(theirs.begin(), theirs.end(), it->service) != theirs.end();
    }
    if (used) {
      ++it;
      continue;
    }
    if (it->waiters) {
      it->waiters->close();
    }
    it = services.erase(it);
  }
}

proxy::FilterVerdict AuthFilter::onRequest(proxy::RequestContext& request) {
  followGroup();
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
  jwks::KeyWaiters* waiters = worker_->waitersFor(hint.provider);
  const std::uint64_t slot = waits_->next_slot++;
  const jwks::WaitTicket ticket =
      waiters->wait(0, hint.epoch, [this, slot](jwks::WaitOutcome outcome) {
        resumeAfterWait(slot, static_cast<std::uint8_t>(outcome));
      });
  if (ticket.state != jwks::WaitStart::Waiting) {
    // The fetch already ended, or this worker holds too many waits: decide now, for good.
    worker_->beginRun(false, ticket.state == jwks::WaitStart::AlreadyDone);
    return worker_->decide(adapter);
  }
  metrics_->key_waits.add();
  waits_->held[slot] = {request.suspend(), ticket.id, worker_, waiters};
  return FilterVerdict::Pending;
}

void AuthFilter::resumeAfterWait(std::uint64_t slot, std::uint8_t outcome) {
  const auto found = waits_->held.find(slot);
  if (found == waits_->held.end()) {
    return;
  }
  const proxy::PendingRequest pending = found->second.request;
  const std::shared_ptr<Worker> worker = found->second.worker;
  waits_->held.erase(found);
  proxy::RequestContext* context = pending.context();
  if (context == nullptr || outcome == static_cast<std::uint8_t>(jwks::WaitOutcome::Cancelled)) {
    return;
  }
  // Decided again with the configuration it started with, whatever came since.
  ContextRequest adapter(*context);
  worker->beginRun(false, outcome == static_cast<std::uint8_t>(jwks::WaitOutcome::FetchDone));
  pending.resume(worker->decide(adapter));
  if (worker != worker_) {
    pruneWaiters();
  }
}

void AuthFilter::onCancelled(std::uint64_t pending_id) {
  if (!waits_) {
    return;
  }
  for (auto it = waits_->held.begin(); it != waits_->held.end(); ++it) {
    if (it->second.request.id() == pending_id) {
      if (it->second.waiters != nullptr) {
        it->second.waiters->cancel(it->second.waiter);
      }
      const bool old = it->second.worker != worker_;
      waits_->held.erase(it);
      if (old) {
        pruneWaiters();
      }
      return;
    }
  }
}
// ---- end remote keys ----

proxy::FilterVerdict AuthFilter::decide(FilterRequest& request) {
  followGroup();
  worker_->beginRun(false, false);
  return worker_->decide(request);
}

void AuthFilter::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  // ---- remote keys: every connection is closed by now; the waiters' handles go too ----
  if (waits_) {
    for (auto& entry : waits_->services) {
      if (entry.waiters) {
        entry.waiters->close();
      }
    }
    waits_->held.clear();
  }
  // ---- end remote keys ----
  if (group_) {
    group_->unregisterFilter();
  }
  const AuthStats s = stats();
  const auto count = [](std::uint64_t value) { return static_cast<unsigned long long>(value); };
  proxy::logMessage(proxy::LogLevel::Info,
                    "auth: worker stats: requests=%llu passed=%llu refused=%llu reported=%llu "
                    "anonymous=%llu cache_hits=%llu verifications=%llu key_waits=%llu",
                    count(s.requests), count(s.passed), count(s.refused), count(s.reported),
                    count(s.anonymous), count(s.cache_hits), count(s.verifications),
                    count(s.key_waits));
}

AuthStats AuthFilter::stats() const {
  const AuthMetrics& m = *metrics_;
  AuthStats s;
  for (const auto& route : m.requests) {
    const auto at = [&route](AuthOutcome outcome) {
      return route[static_cast<std::size_t>(outcome)].value();
    };
    s.passed += at(AuthOutcome::Allowed) + at(AuthOutcome::Anonymous) + at(AuthOutcome::Open);
    s.refused += at(AuthOutcome::Refused) + at(AuthOutcome::NoRoute);
    s.reported += at(AuthOutcome::Reported);
    s.anonymous += at(AuthOutcome::Anonymous);
  }
  s.requests = s.passed + s.refused + s.reported;
  s.cache_hits = m.cache_hits.value();
  s.verifications = m.cache_misses.value();
  s.key_waits = m.key_waits.value();
  for (std::size_t i = 0; i < s.refusals.size(); ++i) {
    s.refusals[i] = m.refusal_kinds[i].value();
  }
  return s;
}

const AuthConfig& AuthFilter::config() const { return worker_->config(); }

std::size_t AuthFilter::cachedTokens() const { return worker_->cachedTokens(); }

std::shared_ptr<const BoundAuthConfig> bindAuthConfig(std::shared_ptr<const AuthConfig> config,
                                                      RemoteKeys* remote) {
  auto bound = std::make_shared<BoundAuthConfig>();
  for (const Route& route : config->routes.routes()) {
    bound->route_labels.push_back(routeLabels().intern(route.name));
  }
  for (std::size_t i = 0; i < config->providers.size(); ++i) {
    bound->provider_labels.push_back(providerLabels().intern(config->providers[i]->name));
    bound->key_services.push_back(
        remote != nullptr ? remote->serviceFor(*config, static_cast<ProviderIndex>(i)) : nullptr);
  }

  // The subject is logged unless it is (inside) a secret claim.
  const AuthSettings& settings = config->settings;
  if (!settings.log_subject_claim.empty()) {
    auto subject = verifier::ClaimPath::parse(settings.log_subject_claim);
    bool secret = !subject;
    for (const std::string& text : settings.secret_claims) {
      auto path = verifier::ClaimPath::parse(text);
      if (!subject || !path) {
        secret = secret || text == settings.log_subject_claim;
        continue;
      }
      const auto& inner = subject->segments();
      const auto& outer = path->segments();
      secret = secret || (outer.size() <= inner.size() &&
                          std::equal(outer.begin(), outer.end(), inner.begin()));
    }
    if (!secret) {
      bound->subject_claim = std::move(*subject);
    }
  }
  bound->config = std::move(config);
  return bound;
}

proxy::RequestFilterFactory makeAuthFilterFactory(std::shared_ptr<const AuthConfig> config,
                                                  RemoteKeys* remote) {
  return [config, remote](uv_loop_t* loop) -> std::unique_ptr<proxy::RequestFilter> {
    return std::make_unique<AuthFilter>(config, remote, loop);
  };
}

}  // namespace jwtgate::auth

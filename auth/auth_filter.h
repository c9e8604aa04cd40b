// The authentication filter: for every request, normalises the path, picks the route,
// extracts and verifies the credentials the route asks for (through a per-worker cache),
// and then forwards the request with identity headers or refuses it per RFC 6750.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "auth/auth_config.h"
#include "auth/auth_metrics.h"
#include "auth/bearer_response.h"
#include "proxy/request_filter.h"
#include "verifier/claims.h"

namespace jwtgate::jwks {
class KeyService;
}

namespace jwtgate::auth {

class AuthFilterGroup;
class RemoteKeys;

// One configuration as the workers run it: the config plus what was resolved for it off the
// request path (metric label ids, the key service of each remote provider). Immutable;
// shared by every worker's filter and by the requests that started under it.
struct BoundAuthConfig {
  std::shared_ptr<const AuthConfig> config;
  std::vector<std::uint32_t> route_labels;     // By route position (RouteTable::routes()).
  std::vector<std::uint32_t> provider_labels;  // By ProviderIndex.
  // By ProviderIndex: the service fetching its keys; null when its keys are all local (or
  // when no RemoteKeys was given).
  std::vector<std::shared_ptr<jwks::KeyService>> key_services;
  // The claim logged as the subject; unset when log_subject_claim is empty, does not parse,
  // or is (inside) one of secret_claims.
  std::optional<verifier::ClaimPath> subject_claim;
};

// Binds `config` (not null) at configuration time: interns its route and provider names and
// looks up each remote provider's service in `remote` (which must already have been given
// this config: RemoteKeys::create or update). `remote` may be null.
std::shared_ptr<const BoundAuthConfig> bindAuthConfig(std::shared_ptr<const AuthConfig> config,
                                                      RemoteKeys* remote);

// What the filter reads and changes of a request: proxy::RequestContext in the proxy (see
// AuthFilter::onRequest), a fake in unit tests. The semantics are RequestContext's: views
// live for the call, removed fields stay listed, edits apply when the request is forwarded.
class FilterRequest {
 public:
  virtual ~FilterRequest() = default;
  virtual std::string_view method() const = 0;
  virtual std::string_view target() const = 0;
  virtual std::size_t headerCount() const = 0;
  virtual proxy::HeaderField header(std::size_t index) const = 0;
  virtual bool isRemoved(std::size_t index) const = 0;
  virtual bool removeHeader(std::size_t index) = 0;
  virtual bool addHeader(std::string_view name, std::string_view value) = 0;
  virtual bool setTarget(std::string_view target) = 0;
  virtual proxy::LocalReply& respond(int status) = 0;
  // The decision, for the access log (RequestContext::note); called once per decision.
  virtual void note(const proxy::FilterNote& note) { (void)note; }
};

// Counters of one worker's filter (a snapshot of its AuthMetrics): every request ends in
// exactly one of passed, refused or reported.
struct AuthStats {
  std::uint64_t requests = 0;
  std::uint64_t passed = 0;     // Forwarded after a successful check (or on an open route).
  std::uint64_t refused = 0;    // Answered locally; see `refusals`.
  std::uint64_t reported = 0;   // Report mode: would have been refused, forwarded marked.
  std::uint64_t anonymous = 0;  // Of `passed`: allow_missing without a credential.
  std::uint64_t cache_hits = 0;
  std::uint64_t verifications = 0;          // Full verifier runs (after cache misses).
  std::uint64_t key_waits = 0;              // Suspended until a remote key fetch ended.
  std::array<std::uint64_t, 8> refusals{};  // By Refusal value (enforced or reported).
};

// Seconds since the epoch; the filter asks once per request.
using SecondsClock = std::function<std::int64_t()>;

// The wall clock (CLOCK_REALTIME_COARSE: a few ms of resolution, no system call).
std::int64_t wallClockSeconds();

// One per worker thread (see makeAuthFilterFactory). Thread-compatible; never throws on the
// request path.
//
// The decisions, documented for operators in docs/configuration.md:
//  - every request loses its incoming copies of the headers jwtgate sets (any spelling);
//  - the path is normalised (auth/path_normalizer.h); a bad one is 400, no route is 404 or
//    403, a regex route that cannot be evaluated is 400; what is forwarded is the
//    normalised path plus the original query (minus a removed token parameter);
//  - credentials: each provider of the route extracts with its own token_from; a malformed
//    or repeated credential is 400 invalid_request. `provider`/`any`: every provider that
//    finds a credential must find the same bytes (else 400 invalid_request); that token is
//    looked up in the cache for each of those providers in listed order, then verified with
//    each in listed order: the first that accepts it is the identity. `all`: every
//    provider must find and accept its own credential;
//  - route checks (scopes, roles, claims) run on every request, cached token or not, on the
//    identity's token (with `all`: the first listed provider's token; the others need only
//    be valid for their provider's policy, required_claims included); a token
//    is cached per (provider, bytes) until exp plus leeway, at most cache.max_age, and the
//    cache of a provider is dropped when its key set changes;
//  - a claim header whose value would hold a control character (or start or end with
//    whitespace) refuses the request (401 invalid_token); a missing claim sets no header;
//  - every decision is counted (AuthMetrics) and noted for the access log (FilterNote): the
//    route, the provider, the subject (settings.log_subject_claim of the identity, empty when
//    it is one of settings.secret_claims, not a string or number, holds a control character,
//    or is longer than kMaxLoggedSubject bytes), the outcome and the reason.
//
// Reconfiguration (with a group, see auth/auth_filter_group.h): before each request the
// filter compares the group's generation (one atomic load) and, when it moved, takes the new
// BoundAuthConfig with a new token cache (the whole cache is dropped). A request suspended
// for keys is decided again with the configuration it started with.
class AuthFilter final : public proxy::RequestFilter {
 public:
  // `clock` defaults to wallClockSeconds.
  explicit AuthFilter(std::shared_ptr<const AuthConfig> config, SecondsClock clock = {});
  // ---- remote keys (docs/remote-keys.md) ----
  // With `remote` (which outlives the filter) and the worker's `loop`: a request whose
  // provider has no keys yet, or whose kid is unknown, may be suspended until the provider's
  // fetch in flight (or the refetch it triggers) ends, at most the provider's wait_timeout;
  // it is then decided again, without waiting a second time.
  AuthFilter(std::shared_ptr<const AuthConfig> config, RemoteKeys* remote, uv_loop_t* loop,
             SecondsClock clock = {});
  // Follows `group`'s configuration and counts into a metrics block the group owns; `loop`
  // (may be null: no key waits) is the worker's. Registers with the group; close() (or the
  // destructor) unregisters.
  AuthFilter(std::shared_ptr<AuthFilterGroup> group, uv_loop_t* loop, SecondsClock clock = {});
  ~AuthFilter() override;
  AuthFilter(const AuthFilter&) = delete;
  AuthFilter& operator=(const AuthFilter&) = delete;

  proxy::FilterVerdict onRequest(proxy::RequestContext& request) override;
  // A request waiting for a key fetch went away: its wait is dropped.
  void onCancelled(std::uint64_t pending_id) override;

  // The worker is stopping: ends the key waits (closing their handles) and logs this
  // worker's counters once (info).
  void close() override;

  // The decision for one request: Pass (with the edits made on `request`) or Respond (with
  // the reply recorded through request.respond()). Never Pending.
  proxy::FilterVerdict decide(FilterRequest& request);

  // The subject noted for the access log is cut to this many bytes (and then dropped).
  static constexpr std::size_t kMaxLoggedSubject = 256;

  AuthStats stats() const;
  const AuthMetrics& metrics() const { return *metrics_; }
  // The configuration new requests get (after a pending swap, see above).
  const AuthConfig& config() const;
  // Tokens currently cached by this worker.
  std::size_t cachedTokens() const;

 private:
  class Worker;
  struct KeyWaits;  // remote keys: the waiters of this worker and the requests they hold

  void init(std::shared_ptr<const BoundAuthConfig> bound, uv_loop_t* loop);
  void adopt(std::shared_ptr<const BoundAuthConfig> bound);
  void followGroup();
  proxy::FilterVerdict waitForKeys(proxy::RequestContext& request, FilterRequest& adapter);
  void resumeAfterWait(std::uint64_t slot, std::uint8_t outcome);
  void pruneWaiters();

  SecondsClock clock_;
  std::unique_ptr<AuthMetrics> own_metrics_;  // without a group
  AuthMetrics* metrics_ = nullptr;
  std::shared_ptr<AuthFilterGroup> group_;
  std::uint64_t generation_ = 0;  // the group's, when worker_ was built
  std::shared_ptr<Worker> worker_;
  std::unique_ptr<KeyWaits> waits_;
  bool closed_ = false;
};

// A factory for proxy::Server: one AuthFilter per worker, all sharing `config` (and
// `remote`, when some provider has remote keys; it must outlive the server). Such filters
// never change configuration; use AuthFilterGroup::factory() to reload.
proxy::RequestFilterFactory makeAuthFilterFactory(std::shared_ptr<const AuthConfig> config,
                                                  RemoteKeys* remote = nullptr);

}  // namespace jwtgate::auth

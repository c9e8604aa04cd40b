// The providers of a configuration whose keys come from the network, bound to the services
// that fetch them (one jwks::KeyService, with its own thread, per remote provider): each
// service publishes into the KeySetHolder of its provider in every live configuration, and
// the auth filters reach it to wait for fetches and ask for refetches. Survives reloads:
// update() keeps the services of unchanged providers.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "auth/auth_config.h"
#include "jwks/key_service.h"
#include "observe/metrics.h"
#include "verifier/result.h"

namespace jwtgate::auth {

class RemoteKeys {
 public:
  // Starts a service for every provider of `config` (may be null: none) with remote keys.
  // Never null on success, even without any remote provider, so that a later update() can
  // add some. A message (naming the provider) when a service cannot start.
  static Result<std::unique_ptr<RemoteKeys>, std::string> create(
      std::shared_ptr<const AuthConfig> config);

  // Like create() but null when no provider of `config` has remote keys (the original API).
  static Result<std::unique_ptr<RemoteKeys>, std::string> start(
      std::shared_ptr<const AuthConfig> config);

  // Stops every service (joins their threads).
  ~RemoteKeys();
  RemoteKeys(const RemoteKeys&) = delete;
  RemoteKeys& operator=(const RemoteKeys&) = delete;

  // Main thread (one caller at a time), before AuthFilterGroup::reconfigure(next): a
  // provider of `next` whose remote settings equal a running one's (jwks::sameRemoteSettings:
  // name, sources, TLS and fetch options, tuning, local keys) keeps that service, its fetch
  // state and its keys, which are published into `next`'s provider at once (no refetch);
  // new ones start fetching; the services of providers `next` no longer has are stopped
  // (requests still waiting on them are refused as having no keys). On failure (a new
  // service cannot start) nothing changes and the message names the provider.
  Result<bool, std::string> update(std::shared_ptr<const AuthConfig> next);

  // Thread-safe: the service fetching the keys of `config`'s provider `provider` (matched by
  // name and settings, among those of the last create/update), or null.
  std::shared_ptr<jwks::KeyService> serviceFor(const AuthConfig& config,
                                               ProviderIndex provider) const;

  // Thread-safe: the remote providers of the current configuration without keys, in
  // configuration order (for /readyz).
  std::vector<std::string> missingProviders() const;

  // Blocks until every remote provider has keys; false after `timeout`, with the names of
  // the providers still without keys in `*missing` ("a, b").
  bool waitUntilReady(std::chrono::milliseconds timeout, std::string* missing);

  // Thread-safe: jwtgate_key_fetches_total{provider,result} and
  // jwtgate_key_last_success_age_seconds{provider} (-1 before the first success) for the
  // remote providers, jwtgate_keys_loaded{provider} for every provider of the current
  // configuration (local ones included). Every family is present.
  void collectMetrics(observe::MetricsText& out) const;

  // Number of running services (remote providers of the current configuration).
  std::size_t serviceCount() const;

 private:
  struct Entry;

  RemoteKeys() = default;
  // mutex_ held.
  std::shared_ptr<Entry> findEntry(const Provider& provider) const;

  mutable std::mutex mutex_;  // guards the fields below
  std::shared_ptr<const AuthConfig> config_;
  std::vector<std::shared_ptr<Entry>> entries_;  // one per remote provider of config_
};

}  // namespace jwtgate::auth

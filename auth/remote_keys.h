// The providers of a configuration whose keys come from the network, bound to the key
// service that fetches them: the service publishes into each provider's KeySetHolder, and
// the auth filters reach it (by provider index) to wait for fetches and ask for refetches.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "auth/auth_config.h"
#include "jwks/key_service.h"
#include "verifier/result.h"

namespace jwtgate::auth {

class RemoteKeys {
 public:
  // Creates the key service for every provider of `config` with remote keys and starts its
  // thread (which begins the first fetches). Returns null when no provider has remote keys,
  // a message when the service cannot start. `config` must outlive the result.
  static Result<std::unique_ptr<RemoteKeys>, std::string> start(
      std::shared_ptr<const AuthConfig> config);

  // Stops the service (joins its thread).
  ~RemoteKeys();
  RemoteKeys(const RemoteKeys&) = delete;
  RemoteKeys& operator=(const RemoteKeys&) = delete;

  jwks::KeyService& service() { return *service_; }

  // The service's index for provider `provider`, or -1 when its keys are all local.
  int serviceIndex(ProviderIndex provider) const {
    return provider < service_index_.size() ? service_index_[provider] : -1;
  }

  // Blocks until every remote provider has keys; false after `timeout`, with the names of
  // the providers still without keys in `*missing` ("a, b").
  bool waitUntilReady(std::chrono::milliseconds timeout, std::string* missing);

 private:
  RemoteKeys() = default;

  std::shared_ptr<const AuthConfig> config_;
  std::unique_ptr<jwks::KeyService> service_;
  std::vector<int> service_index_;  // per provider
};

}  // namespace jwtgate::auth

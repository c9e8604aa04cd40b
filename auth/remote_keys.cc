// Binding the configured providers to the key service.
#include "auth/remote_keys.h"

#include <utility>

#include "proxy/log.h"

namespace jwtgate::auth {
namespace {

jwks::LogSink proxyLogSink() {
  return [](jwks::LogLevel level, std::string_view text) {
    proxy::LogLevel mapped = proxy::LogLevel::Info;
    switch (level) {
      case jwks::LogLevel::Info:
        mapped = proxy::LogLevel::Info;
        break;
      case jwks::LogLevel::Warn:
        mapped = proxy::LogLevel::Warn;
        break;
      case jwks::LogLevel::Error:
        mapped = proxy::LogLevel::Error;
        break;
    }
    proxy::logMessage(mapped, "%.*s", static_cast<int>(text.size()), text.data());
  };
}

}  // namespace

Result<std::unique_ptr<RemoteKeys>, std::string> RemoteKeys::start(
    std::shared_ptr<const AuthConfig> config) {
  std::unique_ptr<RemoteKeys> remote(new RemoteKeys());
  std::vector<jwks::RemoteKeysSpec> specs;
  for (const auto& provider : config->providers) {
    if (provider->remote_keys.sources.empty()) {
      remote->service_index_.push_back(-1);
      continue;
    }
    remote->service_index_.push_back(static_cast<int>(specs.size()));
    specs.push_back(provider->remote_keys);
  }
  if (specs.empty()) {
    return std::unique_ptr<RemoteKeys>();
  }

  jwks::KeyServiceOptions options;
  options.log = proxyLogSink();
  auto service = jwks::KeyService::create(std::move(specs), std::move(options));
  if (!service) {
    return makeError(service.error());
  }
  remote->service_ = std::move(*service);
  remote->config_ = std::move(config);

  // Every key set the service builds goes into the provider the request path reads.
  for (std::size_t i = 0; i < remote->service_index_.size(); ++i) {
    const int index = remote->service_index_[i];
    if (index < 0) {
      continue;
    }
    Provider* provider = remote->config_->providers[i].get();
    remote->service_->keys(static_cast<std::size_t>(index))
        .setPublishListener([provider](const std::shared_ptr<const verifier::KeySet>& keys) {
          provider->keys.publish(keys);
        });
  }
  std::string error;
  if (!remote->service_->start(&error)) {
    return makeError(std::move(error));
  }
  return remote;
}

RemoteKeys::~RemoteKeys() {
  if (service_) {
    service_->stop();
  }
}

bool RemoteKeys::waitUntilReady(std::chrono::milliseconds timeout, std::string* missing) {
  if (service_->waitUntilReady(timeout)) {
    return true;
  }
  missing->clear();
  for (std::size_t i = 0; i < service_->providerCount(); ++i) {
    if (service_->keys(i).keys() == nullptr) {
      missing->append(missing->empty() ? "" : ", ").append(service_->keys(i).name());
    }
  }
  return false;
}

}  // namespace jwtgate::auth

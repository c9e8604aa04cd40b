// Binding the configured providers to their key services, across reloads.
#include "auth/remote_keys.h"

#include <algorithm>
#include <chrono>
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

bool isRemote(const Provider& provider) { return !provider.remote_keys.sources.empty(); }

std::int64_t steadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// One remote provider's service and the providers (of every configuration still alive) it
// publishes into. The service has exactly one provider, at index 0.
struct RemoteKeys::Entry {
  jwks::RemoteKeysSpec spec;
  std::shared_ptr<jwks::KeyService> service;
  std::mutex targets_mutex;  // guards targets against the service's publish listener
  std::vector<std::weak_ptr<Provider>> targets;

  Entry() = default;
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
  // The listener points here: the thread must end first. Filters may still hold the
  // (stopped) service, which stays safe to ask.
  ~Entry() {
    if (service) {
      service->stop();
    }
  }

  // Called on the service's thread after every change of its key set.
  void publishToTargets(const std::shared_ptr<const verifier::KeySet>& keys) {
    std::lock_guard<std::mutex> lock(targets_mutex);
    std::erase_if(targets, [](const std::weak_ptr<Provider>& target) { return target.expired(); });
    for (const auto& target : targets) {
      if (auto provider = target.lock()) {
        provider->keys.publish(keys);
      }
    }
  }

  // Adds a provider of a new configuration and gives it the keys held now.
  void addTarget(const std::shared_ptr<Provider>& provider) {
    std::lock_guard<std::mutex> lock(targets_mutex);
    targets.push_back(provider);
    if (auto keys = service->keys(0).keys()) {
      provider->keys.publish(std::move(keys));
    }
  }

  static Result<std::shared_ptr<Entry>, std::string> start(const Provider& provider) {
    auto entry = std::make_shared<Entry>();
    entry->spec = provider.remote_keys;
    jwks::KeyServiceOptions options;
    options.log = proxyLogSink();
    auto service = jwks::KeyService::create({provider.remote_keys}, std::move(options));
    if (!service) {
      return makeError(service.error());
    }
    entry->service = std::move(*service);
    Entry* self = entry.get();
    entry->service->keys(0).setPublishListener(
        [self](const std::shared_ptr<const verifier::KeySet>& keys) {
          self->publishToTargets(keys);
        });
    std::string error;
    if (!entry->service->start(&error)) {
      return makeError("provider '" + provider.name + "': " + error);
    }
    return entry;
  }
};

Result<std::unique_ptr<RemoteKeys>, std::string> RemoteKeys::create(
    std::shared_ptr<const AuthConfig> config) {
  std::unique_ptr<RemoteKeys> remote(new RemoteKeys());
  if (config) {
    auto updated = remote->update(std::move(config));
    if (!updated) {
      return makeError(std::move(updated.error()));
    }
  }
  return remote;
}

Result<std::unique_ptr<RemoteKeys>, std::string> RemoteKeys::start(
    std::shared_ptr<const AuthConfig> config) {
  auto remote = create(std::move(config));
  if (!remote) {
    return remote;
  }
  if ((*remote)->serviceCount() == 0) {
    return std::unique_ptr<RemoteKeys>();
  }
  return remote;
}

RemoteKeys::~RemoteKeys() {
  std::vector<std::shared_ptr<Entry>> entries;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    entries.swap(entries_);
  }
  for (const auto& entry : entries) {
    entry->service->stop();
  }
}

std::shared_ptr<RemoteKeys::Entry> RemoteKeys::findEntry(const Provider& provider) const {
  for (const auto& entry : entries_) {
    if (jwks::sameRemoteSettings(entry->spec, provider.remote_keys)) {
      return entry;
    }
  }
  return nullptr;
}

Result<bool, std::string> RemoteKeys::update(std::shared_ptr<const AuthConfig> next) {
  // Kept and new services for `next`, in its order; nothing changes until all started.
  std::vector<std::shared_ptr<Entry>> entries;
  std::size_t started = 0;
  for (const auto& provider : next->providers) {
    if (!isRemote(*provider)) {
      continue;
    }
    std::shared_ptr<Entry> entry;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      entry = findEntry(*provider);
    }
    if (!entry) {
      auto fresh = Entry::start(*provider);
      if (!fresh) {
        return makeError(std::move(fresh.error()));  // `entries` stops the new ones
      }
      entry = std::move(*fresh);
      ++started;
    }
    entries.push_back(std::move(entry));
  }

  // Every kept service also publishes into `next`'s providers, starting with its keys now.
  std::size_t position = 0;
  for (const auto& provider : next->providers) {
    if (isRemote(*provider)) {
      entries[position++]->addTarget(provider);
    }
  }

  // The services `next` does not use stop once the swap drops them (outside the lock).
  std::vector<std::shared_ptr<Entry>> previous;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    previous.swap(entries_);
    entries_ = entries;
    config_ = std::move(next);
  }
  std::size_t stopped = 0;
  for (const auto& entry : previous) {
    if (std::find(entries.begin(), entries.end(), entry) == entries.end()) {
      entry->service->stop();
      ++stopped;
    }
  }
  if (started > 0 || stopped > 0) {
    proxy::logMessage(proxy::LogLevel::Info,
                      "remote keys: %zu providers (%zu started, %zu kept, %zu stopped)",
                      entries.size(), started, entries.size() - started, stopped);
  }
  return true;
}

std::shared_ptr<jwks::KeyService> RemoteKeys::serviceFor(const AuthConfig& config,
                                                         ProviderIndex provider) const {
  if (provider >= config.providers.size() || !isRemote(*config.providers[provider])) {
    return nullptr;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  const auto entry = findEntry(*config.providers[provider]);
  return entry ? entry->service : nullptr;
}

std::vector<std::string> RemoteKeys::missingProviders() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> missing;
  for (const auto& entry : entries_) {
    if (entry->service->keys(0).keys() == nullptr) {
      missing.push_back(entry->spec.provider);
    }
  }
  return missing;
}

bool RemoteKeys::waitUntilReady(std::chrono::milliseconds timeout, std::string* missing) {
  std::vector<std::shared_ptr<Entry>> entries;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    entries = entries_;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool ready = true;
  for (const auto& entry : entries) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    ready = entry->service->waitUntilReady(std::max(left, std::chrono::milliseconds(0))) && ready;
  }
  if (ready) {
    return true;
  }
  missing->clear();
  for (const std::string& name : missingProviders()) {
    missing->append(missing->empty() ? "" : ", ").append(name);
  }
  return false;
}

std::size_t RemoteKeys::serviceCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

void RemoteKeys::collectMetrics(observe::MetricsText& out) const {
  std::lock_guard<std::mutex> lock(mutex_);

  out.family("jwtgate_key_fetches_total", "counter",
             "Key fetches (JWKS, with discovery) by provider and result.");
  for (const auto& entry : entries_) {
    const jwks::ProviderKeys::Counters& counters = entry->service->keys(0).counters();
    for (std::size_t i = 0; i < jwks::kFetchOutcomeCount; ++i) {
      const std::uint64_t value = counters.fetches[i].load(std::memory_order_relaxed);
      out.sample("jwtgate_key_fetches_total",
                 {{"provider", entry->spec.provider},
                  {"result", jwks::toString(static_cast<jwks::FetchOutcome>(i))}},
                 value);
    }
  }

  out.family("jwtgate_keys_loaded", "gauge", "Keys in use per provider (local ones included).");
  if (config_) {
    for (const auto& provider : config_->providers) {
      const auto keys = provider->keys.load();
      const std::uint64_t count = keys ? keys->size() : 0;
      out.sample("jwtgate_keys_loaded", {{"provider", provider->name}}, count);
    }
  }

  out.family("jwtgate_key_last_success_age_seconds", "gauge",
             "Seconds since the last successful key fetch per remote provider; -1 before one.");
  const std::int64_t now = steadyMs();
  for (const auto& entry : entries_) {
    const std::int64_t last =
        entry->service->keys(0).counters().last_success_ms.load(std::memory_order_relaxed);
    const double age = last < 0 ? -1.0 : static_cast<double>(now - last) / 1000.0;
    out.sample("jwtgate_key_last_success_age_seconds", {{"provider", entry->spec.provider}}, age);
  }
}

}  // namespace jwtgate::auth

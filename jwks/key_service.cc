// The control thread: providers, their sources, the fetcher and the cross-thread commands.
#include "jwks/key_service.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "jwks/discovery.h"

namespace jwtgate::jwks {
namespace {

// NOTE: kids are listed in log lines (they are public, unlike keys) but cut and filtered,
// since a key server's bytes must not be able to forge log lines.
constexpr std::size_t kMaxLoggedKidBytes = 64;
constexpr std::size_t kMaxLoggedKids = 8;

std::string printableKid(const std::optional<std::string>& kid) {
  if (!kid) {
    return "(no kid)";
  }
  std::string out;
  for (char c : kid->substr(0, kMaxLoggedKidBytes)) {
    out.push_back(c > ' ' && c < 0x7f && c != '"' && c != '\\' ? c : '?');
  }
  if (kid->size() > kMaxLoggedKidBytes) {
    out += "...";
  }
  return out;
}

std::string joinKids(const std::vector<std::string>& kids) {
  std::string out;
  for (std::size_t i = 0; i < kids.size() && i < kMaxLoggedKids; ++i) {
    out += (i == 0 ? "" : ", ") + kids[i];
  }
  if (kids.size() > kMaxLoggedKids) {
    out += " and " + std::to_string(kids.size() - kMaxLoggedKids) + " more";
  }
  return out;
}

bool hasHttpScheme(std::string_view url, bool allow_insecure) {
  auto starts = [url](std::string_view prefix) {
    if (url.size() <= prefix.size()) {
      return false;
    }
    for (std::size_t i = 0; i < prefix.size(); ++i) {
      char c = url[i];
      c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      if (c != prefix[i]) {
        return false;
      }
    }
    return true;
  };
  return starts("https://") || (allow_insecure && starts("http://"));
}

}  // namespace

// One provider on the control thread: its sources, merged and published together.
class RemoteProvider final : public KeySourceOwner {
 public:
  RemoteProvider(KeyService& service, const RemoteKeysSpec& spec, ProviderKeys& keys,
                 const SourceContext& context)
      : service_(service), spec_(spec), keys_(keys), context_(context) {
    for (const SourceSpec& source : spec.sources) {
      sources_.push_back(std::make_unique<KeySource>(source, spec, context, *this));
    }
  }

  bool init(std::string* error) {
    for (auto& source : sources_) {
      if (!source->init(error)) {
        return false;
      }
    }
    return true;
  }

  void start() {
    keys_.setFetching(true);
    for (auto& source : sources_) {
      source->start();
    }
  }

  void refetch() {
    keys_.counters().refetches.fetch_add(1, std::memory_order_relaxed);
    for (auto& source : sources_) {
      source->refetchNow();
    }
    keys_.setFetching(anyFetching());
  }

  void close() {
    for (auto& source : sources_) {
      source->close();
    }
    keys_.setFetching(false);
  }

  bool hasKeys() const { return has_keys_; }

  void onKeysChanged(KeySource& source) override {
    if (!source.hasKeys()) {
      keys_.counters().expirations.fetch_add(1, std::memory_order_relaxed);
    }
    republish();
    service_.onProviderKeysChanged();
  }

  void onFetchDone(KeySource& source) override {
    auto& counter =
        source.lastFetchFailed() ? keys_.counters().fetches_failed : keys_.counters().fetches_ok;
    counter.fetch_add(1, std::memory_order_relaxed);
    const FetchOutcome outcome = source.lastOutcome();
    keys_.counters().fetches[static_cast<std::size_t>(outcome)].fetch_add(
        1, std::memory_order_relaxed);
    if (outcome == FetchOutcome::Ok) {
      const auto now = std::chrono::steady_clock::now().time_since_epoch();
      keys_.counters().last_success_ms.store(
          std::chrono::duration_cast<std::chrono::milliseconds>(now).count(),
          std::memory_order_relaxed);
    }
    keys_.setFetching(anyFetching());
    keys_.setAvailability(availability());
    keys_.completeFetch();
    service_.onProviderFetchDone();
  }

 private:
  bool anyFetching() const {
    return std::any_of(sources_.begin(), sources_.end(),
                       [](const auto& source) { return source->fetching(); });
  }

  KeyAvailability availability() const {
    if (has_keys_) {
      bool all_good = std::all_of(sources_.begin(), sources_.end(), [](const auto& source) {
        return source->hasKeys() && !source->lastFetchFailed();
      });
      return all_good ? KeyAvailability::Fresh : KeyAvailability::Stale;
    }
    bool loading = std::any_of(sources_.begin(), sources_.end(),
                               [](const auto& source) { return !source->settled(); });
    if (loading) {
      return KeyAvailability::Loading;
    }
    bool had_keys = std::any_of(sources_.begin(), sources_.end(),
                                [](const auto& source) { return source->everHadKeys(); });
    return had_keys ? KeyAvailability::Expired : KeyAvailability::Unavailable;
  }

  void log(LogLevel level, const std::string& text) const {
    if (context_.log) {
      context_.log(level, "provider '" + spec_.provider + "': " + text);
    }
  }

  // Merges the local keys with every source that has keys and publishes the result.
  void republish() {
    verifier::KeySet merged;
    if (spec_.local_keys) {
      auto local = spec_.local_keys();
      if (local) {
        merged = std::move(*local);
      } else {
        log(LogLevel::Error, "the local keys no longer load: " + local.error().message);
      }
    }
    for (const auto& source : sources_) {
      if (!source->hasKeys()) {
        continue;
      }
      // The document parsed when it arrived; parsing it again yields the same keys.
      auto keys = verifier::KeySet::fromJwks(source->document());
      if (keys) {
        merged.merge(std::move(*keys));
      }
    }

    std::vector<std::string> kids;
    for (const auto& key : merged.keys()) {
      kids.push_back(printableKid(key->kid()));
    }
    std::sort(kids.begin(), kids.end());
    logChanges(kids);
    kids_ = std::move(kids);

    has_keys_ = merged.size() > 0;
    std::shared_ptr<const verifier::KeySet> published;
    if (has_keys_) {
      published = std::make_shared<const verifier::KeySet>(std::move(merged));
    }
    keys_.publish(std::move(published), availability());
  }

  void logChanges(const std::vector<std::string>& kids) const {
    std::vector<std::string> added;
    std::vector<std::string> removed;
    std::set_difference(kids.begin(), kids.end(), kids_.begin(), kids_.end(),
                        std::back_inserter(added));
    std::set_difference(kids_.begin(), kids_.end(), kids.begin(), kids.end(),
                        std::back_inserter(removed));
    if (added.empty() && removed.empty() && published_once_) {
      return;
    }
    std::string text = std::to_string(kids.size()) + " keys in use";
    if (!added.empty()) {
      text += "; added " + joinKids(added);
    }
    if (!removed.empty()) {
      text += "; removed " + joinKids(removed);
    }
    log(kids.empty() ? LogLevel::Error : LogLevel::Info, text);
    published_once_ = true;
  }

  KeyService& service_;
  const RemoteKeysSpec& spec_;
  ProviderKeys& keys_;
  const SourceContext& context_;
  std::vector<std::unique_ptr<KeySource>> sources_;
  std::vector<std::string> kids_;  // sorted, as logged
  bool has_keys_ = false;
  mutable bool published_once_ = false;
};

KeyService::KeyService(std::vector<RemoteKeysSpec> specs, KeyServiceOptions options)
    : specs_(std::move(specs)), options_(std::move(options)) {
  for (const RemoteKeysSpec& spec : specs_) {
    keys_.push_back(std::make_unique<ProviderKeys>(spec.provider, spec.refresh.refetch_cooldown));
  }
  refetch_requested_.assign(specs_.size(), false);
}

Result<std::unique_ptr<KeyService>, std::string> KeyService::create(
    std::vector<RemoteKeysSpec> providers, KeyServiceOptions options) {
  for (const RemoteKeysSpec& spec : providers) {
    if (spec.sources.empty()) {
      return makeError("provider '" + spec.provider + "': no remote key source");
    }
    for (const SourceSpec& source : spec.sources) {
      if (!hasHttpScheme(source.url, spec.fetch.allow_insecure)) {
        return makeError(
            "provider '" + spec.provider +
            "': " + (source.kind == SourceKind::Discovery ? "issuer" : "jwks_uri") +
            " must be an https:// URL" +
            (spec.fetch.allow_insecure ? " or an http:// one" : " (http:// needs allow_insecure)"));
      }
    }
  }

  // The service's own failures (no libcurl, no loop) say which providers they leave keyless.
  std::string names = providers.size() == 1 ? "provider " : "providers ";
  for (std::size_t i = 0; i < providers.size(); ++i) {
    names += (i == 0 ? "'" : ", '") + providers[i].provider + "'";
  }
  std::unique_ptr<KeyService> service(new KeyService(std::move(providers), std::move(options)));
  std::string error;
  if (!service->init(&error)) {
    return makeError(names + ": " + error);
  }
  return service;
}

bool KeyService::init(std::string* error) {
  int rc = uv_loop_init(&loop_);
  if (rc != 0) {
    *error = std::string("uv_loop_init: ") + uv_strerror(rc);
    return false;
  }
  loop_open_ = true;

  auto fetcher = HttpFetcher::create(&loop_);
  if (!fetcher) {
    *error = fetcher.error();
    return false;
  }
  fetcher_ = std::move(*fetcher);
  context_ = SourceContext{&loop_, fetcher_.get(), options_.log, options_.random};

  rc = uv_async_init(&loop_, &command_async_, &KeyService::onCommand);
  if (rc != 0) {
    *error = std::string("uv_async_init: ") + uv_strerror(rc);
    return false;
  }
  command_async_.data = this;
  command_open_ = true;

  for (std::size_t i = 0; i < specs_.size(); ++i) {
    providers_.push_back(std::make_unique<RemoteProvider>(*this, specs_[i], *keys_[i], context_));
    if (!providers_.back()->init(error)) {
      return false;
    }
  }
  return true;
}

KeyService::~KeyService() { stop(); }

bool KeyService::start(std::string* error) {
  std::lock_guard<std::mutex> lock(lifecycle_mutex_);
  if (started_ || stopped_) {
    *error = "the key service was already started or stopped";
    return false;
  }
  if (options_.log) {
    options_.log(LogLevel::Info, "remote keys: " + std::to_string(specs_.size()) +
                                     " providers; HTTP/2 " +
                                     (HttpFetcher::http2Available() ? "available" : "unavailable"));
  }
  try {
    thread_ = std::thread([this] {
      for (auto& provider : providers_) {
        provider->start();
      }
      uv_run(&loop_, UV_RUN_DEFAULT);
      drainLoop();
    });
  } catch (const std::system_error& failure) {
    *error = std::string("cannot start the key service thread: ") + failure.what();
    return false;
  }
  started_ = true;
  return true;
}

bool KeyService::waitUntilReady(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(ready_mutex_);
  return ready_cv_.wait_for(lock, timeout, [this] { return all_ready_ || ended_; }) && all_ready_;
}

void KeyService::requestRefetch(std::size_t index) {
  std::lock_guard<std::mutex> lock(command_mutex_);
  if (!command_open_ || index >= refetch_requested_.size()) {
    return;
  }
  refetch_requested_[index] = true;
  uv_async_send(&command_async_);
}

void KeyService::addWakeup(uv_async_t* async) {
  std::lock_guard<std::mutex> lock(wake_mutex_);
  wakeups_.push_back(async);
}

void KeyService::removeWakeup(uv_async_t* async) {
  std::lock_guard<std::mutex> lock(wake_mutex_);
  wakeups_.erase(std::remove(wakeups_.begin(), wakeups_.end(), async), wakeups_.end());
}

void KeyService::stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mutex_);
  if (stopped_) {
    return;
  }
  stopped_ = true;
  if (started_) {
    {
      std::lock_guard<std::mutex> command_lock(command_mutex_);
      stop_requested_ = true;
      if (command_open_) {
        uv_async_send(&command_async_);
      }
    }
    thread_.join();
    return;
  }

  // Never started: close everything here; no other thread touches the loop.
  if (loop_open_) {
    shutdown();
    uv_run(&loop_, UV_RUN_DEFAULT);
    drainLoop();
  }
}

void KeyService::onCommand(uv_async_t* async) noexcept {
  static_cast<KeyService*>(async->data)->runCommands();
}

void KeyService::runCommands() {
  std::vector<std::size_t> refetch;
  bool stop = false;
  {
    std::lock_guard<std::mutex> lock(command_mutex_);
    stop = stop_requested_;
    for (std::size_t i = 0; i < refetch_requested_.size(); ++i) {
      if (refetch_requested_[i]) {
        refetch.push_back(i);
        refetch_requested_[i] = false;
      }
    }
  }
  if (stop) {
    shutdown();
    return;
  }
  for (std::size_t index : refetch) {
    providers_[index]->refetch();
  }
}

void KeyService::shutdown() {
  for (auto& provider : providers_) {
    provider->close();
  }
  if (fetcher_) {
    fetcher_->close();
  }
  bool close_async = false;
  {
    std::lock_guard<std::mutex> lock(command_mutex_);
    close_async = command_open_;
    command_open_ = false;
  }
  if (close_async) {
    uv_close(reinterpret_cast<uv_handle_t*>(&command_async_), nullptr);
  }
  {
    std::lock_guard<std::mutex> lock(ready_mutex_);
    ended_ = true;
  }
  ready_cv_.notify_all();
}

void KeyService::drainLoop() {
  // Every handle is closing; run their close callbacks, then release the loop.
  while (uv_loop_close(&loop_) == UV_EBUSY) {
    uv_run(&loop_, UV_RUN_ONCE);
  }
  loop_open_ = false;
}

void KeyService::onProviderFetchDone() {
  std::lock_guard<std::mutex> lock(wake_mutex_);
  for (uv_async_t* async : wakeups_) {
    uv_async_send(async);
  }
}

void KeyService::onProviderKeysChanged() {
  bool all = std::all_of(providers_.begin(), providers_.end(),
                         [](const auto& provider) { return provider->hasKeys(); });
  bool log_ready = false;
  {
    std::lock_guard<std::mutex> lock(ready_mutex_);
    all_ready_ = all;
    if (all && !ready_logged_) {
      ready_logged_ = true;
      log_ready = true;
    }
  }
  if (all) {
    ready_cv_.notify_all();
  }
  if (log_ready && options_.log) {
    options_.log(LogLevel::Info, "keys ready: every remote provider (" +
                                     std::to_string(providers_.size()) + ") has keys");
  }
}

}  // namespace jwtgate::jwks

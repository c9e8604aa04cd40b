// The remote-keys control plane: one thread with its own libuv loop that fetches, caches,
// refreshes and publishes every remote provider's keys. Workers read what it publishes
// (ProviderKeys) without locks, ask it for unknown-kid refetches, and are woken through
// their own uv_async_t when a fetch ends (see KeyWaiters).
#pragma once

#include <uv.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jwks/http_fetcher.h"
#include "jwks/key_source.h"
#include "jwks/log_sink.h"
#include "jwks/provider_keys.h"
#include "jwks/remote_keys_spec.h"
#include "jwks/retry_backoff.h"
#include "verifier/result.h"

namespace jwtgate::jwks {

class RemoteProvider;

struct KeyServiceOptions {
  LogSink log = stderrLogSink();
  RetryBackoff::Random random = systemRandom();  // for retry jitter
};

class KeyService {
 public:
  // Checks the specs (every provider has a source with an http(s) URL, https unless
  // allow_insecure) and prepares the loop; nothing is fetched before start(). Returns a
  // message naming the provider on failure.
  static Result<std::unique_ptr<KeyService>, std::string> create(
      std::vector<RemoteKeysSpec> providers, KeyServiceOptions options = {});

  // Stops (see stop()).
  ~KeyService();
  KeyService(const KeyService&) = delete;
  KeyService& operator=(const KeyService&) = delete;

  std::size_t providerCount() const { return keys_.size(); }
  // Live as long as the service; positions follow the specs given to create().
  ProviderKeys& keys(std::size_t index) { return *keys_[index]; }
  const RemoteKeysSpec& spec(std::size_t index) const { return specs_[index]; }

  // Starts the control thread, which begins every provider's first fetch. Call once, after
  // any ProviderKeys::setPublishListener. False (with a message) when the thread cannot start.
  bool start(std::string* error);

  // Blocks the caller until every provider has keys or `timeout` passes; true when all
  // have keys. Thread-safe.
  bool waitUntilReady(std::chrono::milliseconds timeout);

  // Thread-safe, never blocks on the network: asks for a refetch of provider `index` now
  // (the caller has claimed the provider's RefetchGate). Coalesced with a fetch in flight.
  void requestRefetch(std::size_t index);

  // Thread-safe. After every completed fetch the service calls uv_async_send on each
  // registered handle. A handle must be removed before it is closed.
  void addWakeup(uv_async_t* async);
  void removeWakeup(uv_async_t* async);

  // Thread-safe and idempotent: cancels fetches, closes the loop and joins the thread.
  void stop();

  // ---- control thread (RemoteProvider) ----
  void onProviderFetchDone();
  void onProviderKeysChanged();

 private:
  KeyService(std::vector<RemoteKeysSpec> specs, KeyServiceOptions options);

  bool init(std::string* error);
  static void onCommand(uv_async_t* async) noexcept;
  void runCommands();
  void shutdown();
  void drainLoop();

  std::vector<RemoteKeysSpec> specs_;
  KeyServiceOptions options_;
  std::vector<std::unique_ptr<ProviderKeys>> keys_;

  uv_loop_t loop_;
  bool loop_open_ = false;
  std::unique_ptr<HttpFetcher> fetcher_;
  SourceContext context_;
  std::vector<std::unique_ptr<RemoteProvider>> providers_;
  uv_async_t command_async_;

  std::mutex command_mutex_;  // guards the fields below and command_async_ against close
  bool command_open_ = false;
  bool stop_requested_ = false;
  std::vector<bool> refetch_requested_;

  std::mutex wake_mutex_;  // guards wakeups_
  std::vector<uv_async_t*> wakeups_;

  std::mutex ready_mutex_;
  std::condition_variable ready_cv_;
  bool all_ready_ = false;  // every provider has keys
  bool ended_ = false;      // the control loop has shut down
  bool ready_logged_ = false;

  std::mutex lifecycle_mutex_;  // start() against stop()
  std::thread thread_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace jwtgate::jwks

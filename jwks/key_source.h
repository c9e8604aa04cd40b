// One remote source of a provider's keys on the control thread: fetches it (through the
// issuer's OpenID configuration for discovery), keeps the last good JWKS for its cache
// lifetime plus the stale window, refreshes it before it expires and retries failures with
// backoff. The provider that owns it merges the sources and publishes the result.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "jwks/http_fetcher.h"
#include "jwks/log_sink.h"
#include "jwks/provider_keys.h"
#include "jwks/remote_keys_spec.h"
#include "jwks/retry_backoff.h"

namespace jwtgate::jwks {

class KeySource;

// Told of every change; all calls happen on the control thread, from the source's own
// callbacks, or from inside refetchNow() when a fetch cannot even start; never from close().
class KeySourceOwner {
 public:
  virtual ~KeySourceOwner() = default;
  // The source's usable keys changed: new keys arrived or the stale window ran out.
  virtual void onKeysChanged(KeySource& source) = 0;
  // A fetch (both steps of a discovery) ended, well or not. After onKeysChanged.
  virtual void onFetchDone(KeySource& source) = 0;
};

// What the sources of a service share.
struct SourceContext {
  uv_loop_t* loop = nullptr;
  HttpFetcher* fetcher = nullptr;
  LogSink log;
  RetryBackoff::Random random;
};

class KeySource {
 public:
  // `provider` and `context` outlive the source.
  KeySource(SourceSpec spec, const RemoteKeysSpec& provider, const SourceContext& context,
            KeySourceOwner& owner);
  KeySource(const KeySource&) = delete;
  KeySource& operator=(const KeySource&) = delete;

  // Opens the timers; false (with a message) when libuv refuses.
  bool init(std::string* error);

  // Starts the first fetch.
  void start();
  // Fetches now unless a fetch is in flight (which then serves the request).
  // NOTE: a fetch that started just before a rotation may bring the old set; the waiting
  // requests are then refused and the next refetch comes after the cool-down.
  void refetchNow();
  // Abandons the fetch in flight and closes the timers (the loop must run to finish).
  void close();

  bool fetching() const { return stage_ != Stage::Idle; }
  // Keys fetched and not past the stale window.
  bool hasKeys() const { return !document_.empty(); }
  bool everHadKeys() const { return ever_had_keys_; }
  // At least one fetch completed.
  bool settled() const { return attempts_ > 0; }
  bool lastFetchFailed() const { return last_failed_; }
  // How the last completed fetch ended (Ok before any).
  FetchOutcome lastOutcome() const { return last_outcome_; }
  // The last good JWKS text (empty without keys); it parsed to at least one key.
  const std::string& document() const { return document_; }
  // For logs: "https://host/path" (no query), the JWKS URL once known.
  std::string origin() const;

 private:
  enum class Stage : std::uint8_t { Idle, Discovery, Jwks };

  static void onFetchTimer(uv_timer_t* timer) noexcept;
  static void onExpiryTimer(uv_timer_t* timer) noexcept;

  void beginFetch();
  void startDiscovery();
  void onDiscovery(FetchResult result);
  void startJwks();
  void onJwks(FetchResult result);
  void succeed(std::string body, const FetchResponse& response, std::size_t count,
               std::size_t skipped);
  void renew(const FetchResponse& response);
  // Starts the refresh and expiry timers for a response's lifetime; returns that lifetime.
  std::chrono::seconds keepFor(const FetchResponse& response);
  void settle();
  void fail(FetchOutcome outcome, std::string_view step, std::string_view reason);
  void finishFetch();
  void expire();
  void log(LogLevel level, const std::string& text) const;

  const SourceSpec spec_;
  const RemoteKeysSpec& provider_;
  const SourceContext& context_;
  KeySourceOwner& owner_;
  RetryBackoff backoff_;

  uv_timer_t fetch_timer_;
  uv_timer_t expiry_timer_;
  bool timers_open_ = false;
  bool closed_ = false;

  Stage stage_ = Stage::Idle;
  std::uint64_t fetch_id_ = 0;
  std::string jwks_url_;  // configured, or taken from the discovery document
  std::uint64_t discovery_expires_ms_ = 0;
  std::string document_;
  std::string document_etag_;  // the ETag that came with document_, if any
  std::size_t document_keys_ = 0;
  std::uint64_t attempts_ = 0;
  bool ever_had_keys_ = false;
  bool last_failed_ = false;
  FetchOutcome last_outcome_ = FetchOutcome::Ok;
};

}  // namespace jwtgate::jwks

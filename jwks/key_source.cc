// The fetch, keep, refresh and retry cycle of one key source.
#include "jwks/key_source.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "jwks/cache_control.h"
#include "jwks/discovery.h"
#include "verifier/key_set.h"

namespace jwtgate::jwks {
namespace {

// NOTE: a refresh never comes sooner than this after a success, whatever the bounds say.
constexpr std::uint64_t kMinRefreshDelayMs = 100;

std::uint64_t toMs(std::chrono::milliseconds value) {
  return value.count() > 0 ? static_cast<std::uint64_t>(value.count()) : 0;
}

FetchOutcome outcomeOf(FetchErrorKind kind) {
  switch (kind) {
    case FetchErrorKind::Timeout:
      return FetchOutcome::Timeout;
    case FetchErrorKind::Tls:
      return FetchOutcome::Tls;
    case FetchErrorKind::TooLarge:
      return FetchOutcome::TooLarge;
    case FetchErrorKind::Refused:
    case FetchErrorKind::Resolve:
    case FetchErrorKind::Connect:
    case FetchErrorKind::TooManyRedirects:
    case FetchErrorKind::Transport:
    case FetchErrorKind::Cancelled:
      return FetchOutcome::NetworkError;
  }
  return FetchOutcome::NetworkError;
}

// How long a response may be used, from its Cache-Control, Age, Expires and Date fields.
std::chrono::seconds lifetimeOf(const FetchResponse& response, const LifetimeBounds& bounds) {
  // Expires and Date are wall-clock times: only here does the system clock matter.
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  return keyLifetime(parseCacheControl(response.cache_control), parseDeltaSeconds(response.age),
                     bounds, expiresLifetime(response.expires, response.date, now));
}

}  // namespace

KeySource::KeySource(SourceSpec spec, const RemoteKeysSpec& provider, const SourceContext& context,
                     KeySourceOwner& owner)
    : spec_(std::move(spec)),
      provider_(provider),
      context_(context),
      owner_(owner),
      backoff_(provider.refresh.retry, context.random) {
  if (spec_.kind == SourceKind::JwksUri) {
    jwks_url_ = spec_.url;
  }
}

bool KeySource::init(std::string* error) {
  int rc = uv_timer_init(context_.loop, &fetch_timer_);
  if (rc == 0) {
    rc = uv_timer_init(context_.loop, &expiry_timer_);
    if (rc != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&fetch_timer_), nullptr);
    }
  }
  if (rc != 0) {
    *error = std::string("uv_timer_init: ") + uv_strerror(rc);
    closed_ = true;
    return false;
  }
  fetch_timer_.data = this;
  expiry_timer_.data = this;
  timers_open_ = true;
  return true;
}

std::string KeySource::origin() const {
  if (!jwks_url_.empty()) {
    return redactUrl(jwks_url_);
  }
  return redactUrl(discoveryUrl(spec_.url));
}

void KeySource::log(LogLevel level, const std::string& text) const {
  if (context_.log) {
    context_.log(level, "provider '" + provider_.provider + "': " + text);
  }
}

void KeySource::start() {
  // Through the timer, so that the first fetch starts from the loop like every other one.
  if (timers_open_) {
    uv_timer_start(&fetch_timer_, &KeySource::onFetchTimer, 0, 0);
  }
}

void KeySource::refetchNow() {
  if (closed_ || fetching()) {
    return;
  }
  uv_timer_stop(&fetch_timer_);
  beginFetch();
}

void KeySource::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  if (fetch_id_ != 0) {
    context_.fetcher->cancel(fetch_id_);
    fetch_id_ = 0;
  }
  stage_ = Stage::Idle;
  if (timers_open_) {
    timers_open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&fetch_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&expiry_timer_), nullptr);
  }
}

void KeySource::onFetchTimer(uv_timer_t* timer) noexcept {
  static_cast<KeySource*>(timer->data)->beginFetch();
}

void KeySource::onExpiryTimer(uv_timer_t* timer) noexcept {
  static_cast<KeySource*>(timer->data)->expire();
}

void KeySource::beginFetch() {
  if (closed_ || fetching()) {
    return;
  }
  // The discovery document is fetched again once its own lifetime is over, or after a JWKS
  // failure (the issuer may have moved its keys).
  if (spec_.kind == SourceKind::Discovery &&
      (jwks_url_.empty() || uv_now(context_.loop) >= discovery_expires_ms_)) {
    startDiscovery();
  } else {
    startJwks();
  }
}

void KeySource::startDiscovery() {
  stage_ = Stage::Discovery;
  FetchOptions options = provider_.fetch;
  options.accept = "application/json";
  auto started =
      context_.fetcher->fetch(discoveryUrl(spec_.url), options, [this](FetchResult result) {
        fetch_id_ = 0;
        onDiscovery(std::move(result));
      });
  if (!started) {
    stage_ = Stage::Idle;
    fail(FetchOutcome::NetworkError, "discovery", started.error().message);
    return;
  }
  fetch_id_ = *started;
}

void KeySource::onDiscovery(FetchResult result) {
  if (!result) {
    fail(outcomeOf(result.error().kind), "discovery",
         std::string(toString(result.error().kind)) + ": " + result.error().message);
    return;
  }
  const FetchResponse& response = *result;
  if (response.status != 200) {
    fail(FetchOutcome::HttpError, "discovery", "HTTP status " + std::to_string(response.status));
    return;
  }
  auto jwks_uri = jwksUriFromDiscovery(response.body, spec_.url, provider_.fetch.allow_insecure);
  if (!jwks_uri) {
    fail(FetchOutcome::Invalid, "discovery", jwks_uri.error());
    return;
  }

  std::chrono::seconds lifetime = lifetimeOf(response, provider_.refresh.lifetime);
  discovery_expires_ms_ = uv_now(context_.loop) + toMs(lifetime);
  if (*jwks_uri != jwks_url_) {
    log(LogLevel::Info,
        "discovery of " + redactUrl(spec_.url) + " names the JWKS at " + redactUrl(*jwks_uri));
    document_etag_.clear();  // a tag of another URL's document
  }
  jwks_url_ = std::move(*jwks_uri);
  startJwks();
}

void KeySource::startJwks() {
  stage_ = Stage::Jwks;
  FetchOptions options = provider_.fetch;
  options.accept = "application/jwk-set+json, application/json";
  // A conditional refresh: an unchanged set comes back as a bodiless 304. Only while the
  // document the tag names is still held, since a 304 renews that document.
  if (hasKeys()) {
    options.if_none_match = document_etag_;
  }
  auto started = context_.fetcher->fetch(jwks_url_, options, [this](FetchResult result) {
    fetch_id_ = 0;
    onJwks(std::move(result));
  });
  if (!started) {
    stage_ = Stage::Idle;
    fail(FetchOutcome::NetworkError, "JWKS", started.error().message);
    return;
  }
  fetch_id_ = *started;
}

void KeySource::onJwks(FetchResult result) {
  if (!result) {
    fail(outcomeOf(result.error().kind), "JWKS",
         std::string(toString(result.error().kind)) + ": " + result.error().message);
    return;
  }
  FetchResponse& response = *result;
  if (response.status == 304 && hasKeys() && !document_etag_.empty()) {
    renew(response);
    return;
  }
  if (response.status != 200) {
    if (response.status == 304) {
      document_etag_.clear();  // the next fetch asks for the whole document
    }
    fail(FetchOutcome::HttpError, "JWKS", "HTTP status " + std::to_string(response.status));
    return;
  }

  // A document that does not parse, or parses to no usable key, never replaces the keys.
  auto keys = verifier::KeySet::fromJwks(response.body);
  if (!keys) {
    fail(FetchOutcome::Invalid, "JWKS",
         "the document is not a valid JWKS: " + keys.error().message);
    return;
  }
  if (keys->size() == 0) {
    fail(FetchOutcome::Invalid, "JWKS",
         "the document has no usable key (" + std::to_string(keys->skipped()) + " skipped)");
    return;
  }
  succeed(std::move(response.body), response, keys->size(), keys->skipped());
}

void KeySource::succeed(std::string body, const FetchResponse& response, std::size_t count,
                        std::size_t skipped) {
  std::chrono::seconds lifetime = keepFor(response);
  log(LogLevel::Info, "fetched JWKS from " +
                          redactUrl(response.url.empty() ? jwks_url_ : response.url) + ": " +
                          std::to_string(count) + " keys" +
                          (skipped > 0 ? " (" + std::to_string(skipped) + " skipped)" : "") +
                          ", kept " + std::to_string(lifetime.count()) + "s");

  document_ = std::move(body);
  document_etag_ = response.etag;
  document_keys_ = count;
  ever_had_keys_ = true;
  settle();
  owner_.onKeysChanged(*this);
  finishFetch();
}

void KeySource::renew(const FetchResponse& response) {
  // RFC 9111 section 4.3.4: the 304's own Cache-Control and Age now describe the document.
  std::chrono::seconds lifetime = keepFor(response);
  log(LogLevel::Info, "JWKS at " + redactUrl(response.url.empty() ? jwks_url_ : response.url) +
                          " not modified: the " + std::to_string(document_keys_) +
                          " keys in use are kept " + std::to_string(lifetime.count()) + "s");
  settle();
  finishFetch();  // the keys did not change: nothing to publish
}

std::chrono::seconds KeySource::keepFor(const FetchResponse& response) {
  std::chrono::seconds lifetime = lifetimeOf(response, provider_.refresh.lifetime);
  const std::uint64_t lifetime_ms = toMs(lifetime);
  double fraction = std::clamp(provider_.refresh.refresh_fraction, 0.05, 1.0);
  auto refresh_ms = std::max<std::uint64_t>(
      static_cast<std::uint64_t>(static_cast<double>(lifetime_ms) * fraction), kMinRefreshDelayMs);
  const std::uint64_t usable_ms =
      lifetime_ms +
      toMs(std::chrono::duration_cast<std::chrono::milliseconds>(provider_.refresh.stale_window));
  uv_timer_start(&fetch_timer_, &KeySource::onFetchTimer, refresh_ms, 0);
  uv_timer_start(&expiry_timer_, &KeySource::onExpiryTimer, usable_ms, 0);
  return lifetime;
}

void KeySource::settle() {
  last_failed_ = false;
  last_outcome_ = FetchOutcome::Ok;
  backoff_.reset();
  stage_ = Stage::Idle;
  ++attempts_;
}

void KeySource::fail(FetchOutcome outcome, std::string_view step, std::string_view reason) {
  stage_ = Stage::Idle;
  ++attempts_;
  last_failed_ = true;
  last_outcome_ = outcome;
  if (spec_.kind == SourceKind::Discovery) {
    discovery_expires_ms_ = 0;
  }
  std::chrono::milliseconds delay = backoff_.next();

  std::string text = std::string(step) + " fetch from " + origin() + " failed: ";
  text += reason;
  if (hasKeys()) {
    text += "; the last good keys stay in use";
  } else {
    text += ever_had_keys_ ? "; the provider has no keys (stale window over)"
                           : "; the provider has no keys yet";
  }
  text += "; retry in " + std::to_string(delay.count()) + " ms";
  log(hasKeys() ? LogLevel::Warn : LogLevel::Error, text);

  if (timers_open_) {
    uv_timer_start(&fetch_timer_, &KeySource::onFetchTimer, toMs(delay), 0);
  }
  finishFetch();
}

void KeySource::finishFetch() {
  if (!closed_) {
    owner_.onFetchDone(*this);
  }
}

void KeySource::expire() {
  if (document_.empty()) {
    return;
  }
  document_.clear();
  document_.shrink_to_fit();
  document_etag_.clear();
  log(LogLevel::Error,
      "the keys from " + origin() + " expired: refreshes failed for the whole stale window");
  owner_.onKeysChanged(*this);
}

}  // namespace jwtgate::jwks

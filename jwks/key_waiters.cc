// Waiting requests of one worker, woken by the key service through a uv_async_t.
#include "jwks/key_waiters.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "jwks/key_service.h"
#include "jwks/refetch_gate.h"

namespace jwtgate::jwks {

class KeyWaiters::Impl {
 public:
  Impl(uv_loop_t* loop, KeyService& service, std::size_t max_waiters)
      : loop_(loop), service_(service), max_waiters_(std::max<std::size_t>(max_waiters, 1)) {
    for (std::size_t i = 0; i < service.providerCount(); ++i) {
      memories_.emplace_back(service.spec(i).refresh.refetch_cooldown, kDefaultUnknownKidMemory);
      seen_versions_.push_back(service.keys(i).keysVersion());
    }
  }

  bool init(std::string* error);
  std::optional<std::uint64_t> shouldWaitForKeys(std::size_t provider);
  std::optional<std::uint64_t> shouldWaitForKid(std::size_t provider, std::string_view kid);
  void rememberUnknownKid(std::size_t provider, std::string_view kid);
  WaitTicket wait(std::size_t provider, std::uint64_t epoch, WaitCallback callback);
  void cancel(std::uint64_t id);
  void close();
  std::size_t waiting() const { return waiters_.size(); }

 private:
  struct Waiter {
    std::size_t provider = 0;
    std::uint64_t epoch = 0;
    std::uint64_t deadline_ms = 0;
    WaitCallback callback;
  };

  static void onWake(uv_async_t* async) noexcept;
  static void onTimer(uv_timer_t* timer) noexcept;
  static void onClosed(uv_handle_t* handle) noexcept;

  UnknownKidMemory& memoryFor(std::size_t provider);
  void wakeFinished();
  void expireOverdue();
  void deliver(std::vector<Waiter>& ready, WaitOutcome outcome);
  void armTimer();

  uv_loop_t* loop_;
  KeyService& service_;
  const std::size_t max_waiters_;
  uv_async_t wake_;
  uv_timer_t timer_;
  int open_handles_ = 0;
  bool registered_ = false;
  bool closed_ = false;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, Waiter> waiters_;  // by id, so in arrival order
  std::vector<UnknownKidMemory> memories_;
  std::vector<std::uint64_t> seen_versions_;
};

bool KeyWaiters::Impl::init(std::string* error) {
  int rc = uv_async_init(loop_, &wake_, &Impl::onWake);
  if (rc != 0) {
    *error = std::string("uv_async_init: ") + uv_strerror(rc);
    return false;
  }
  wake_.data = this;
  ++open_handles_;
  rc = uv_timer_init(loop_, &timer_);
  if (rc != 0) {
    *error = std::string("uv_timer_init: ") + uv_strerror(rc);
    return false;
  }
  timer_.data = this;
  ++open_handles_;
  service_.addWakeup(&wake_);
  registered_ = true;
  return true;
}

UnknownKidMemory& KeyWaiters::Impl::memoryFor(std::size_t provider) {
  // A new key set may hold any kid: forget what the previous one lacked.
  std::uint64_t version = service_.keys(provider).keysVersion();
  if (version != seen_versions_[provider]) {
    seen_versions_[provider] = version;
    memories_[provider].clear();
  }
  return memories_[provider];
}

std::optional<std::uint64_t> KeyWaiters::Impl::shouldWaitForKeys(std::size_t provider) {
  if (closed_ || provider >= memories_.size()) {
    return std::nullopt;
  }
  ProviderKeys& keys = service_.keys(provider);
  // The epoch first: a fetch that ends after this read still moves it past what we return.
  std::uint64_t epoch = keys.fetchEpoch();
  if (keys.fetching() || keys.availability() == KeyAvailability::Loading) {
    return epoch;
  }
  return std::nullopt;
}

std::optional<std::uint64_t> KeyWaiters::Impl::shouldWaitForKid(std::size_t provider,
                                                                std::string_view kid) {
  if (closed_ || provider >= memories_.size()) {
    return std::nullopt;
  }
  const std::uint64_t now = uv_now(loop_);
  if (memoryFor(provider).contains(kid, now)) {
    return std::nullopt;
  }
  ProviderKeys& keys = service_.keys(provider);
  std::uint64_t epoch = keys.fetchEpoch();
  if (keys.fetching()) {
    return epoch;
  }
  // One worker wins the claim per cool-down; the others refuse without asking.
  if (keys.refetchGate().tryClaim(now)) {
    service_.requestRefetch(provider);
    return epoch;
  }
  return std::nullopt;
}

void KeyWaiters::Impl::rememberUnknownKid(std::size_t provider, std::string_view kid) {
  if (!closed_ && provider < memories_.size()) {
    memoryFor(provider).remember(kid, uv_now(loop_));
  }
}

WaitTicket KeyWaiters::Impl::wait(std::size_t provider, std::uint64_t epoch,
                                  WaitCallback callback) {
  if (closed_ || provider >= memories_.size()) {
    return {WaitStart::Closed, 0};
  }
  if (service_.keys(provider).fetchEpoch() != epoch) {
    return {WaitStart::AlreadyDone, 0};
  }
  if (waiters_.size() >= max_waiters_) {
    return {WaitStart::Full, 0};
  }

  auto timeout = std::max<std::int64_t>(service_.spec(provider).refresh.wait_timeout.count(), 0);
  std::uint64_t id = next_id_++;
  waiters_.emplace(id, Waiter{provider, epoch, uv_now(loop_) + static_cast<std::uint64_t>(timeout),
                              std::move(callback)});
  armTimer();
  return {WaitStart::Waiting, id};
}

void KeyWaiters::Impl::cancel(std::uint64_t id) {
  if (waiters_.erase(id) > 0 && !closed_) {
    armTimer();
  }
}

void KeyWaiters::Impl::armTimer() {
  if (waiters_.empty()) {
    uv_timer_stop(&timer_);
    return;
  }
  std::uint64_t earliest = UINT64_MAX;
  for (const auto& [id, waiter] : waiters_) {
    earliest = std::min(earliest, waiter.deadline_ms);
  }
  std::uint64_t now = uv_now(loop_);
  uv_timer_start(&timer_, &Impl::onTimer, earliest > now ? earliest - now : 0, 0);
}

void KeyWaiters::Impl::onWake(uv_async_t* async) noexcept {
  static_cast<Impl*>(async->data)->wakeFinished();
}

void KeyWaiters::Impl::onTimer(uv_timer_t* timer) noexcept {
  static_cast<Impl*>(timer->data)->expireOverdue();
}

void KeyWaiters::Impl::wakeFinished() {
  if (closed_) {
    return;
  }
  std::vector<Waiter> ready;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (service_.keys(it->second.provider).fetchEpoch() != it->second.epoch) {
      ready.push_back(std::move(it->second));
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  armTimer();
  deliver(ready, WaitOutcome::FetchDone);
}

void KeyWaiters::Impl::expireOverdue() {
  if (closed_) {
    return;
  }
  const std::uint64_t now = uv_now(loop_);
  std::vector<Waiter> ready;
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    if (it->second.deadline_ms <= now) {
      ready.push_back(std::move(it->second));
      it = waiters_.erase(it);
    } else {
      ++it;
    }
  }
  armTimer();
  deliver(ready, WaitOutcome::TimedOut);
}

void KeyWaiters::Impl::deliver(std::vector<Waiter>& ready, WaitOutcome outcome) {
  // A callback may wait again, cancel others or close us; each waiter was removed first,
  // and Impl is freed only from a close callback, so `this` stays valid here.
  for (Waiter& waiter : ready) {
    if (waiter.callback) {
      waiter.callback(outcome);
    }
  }
}

void KeyWaiters::Impl::close() {
  if (closed_) {
    return;
  }
  closed_ = true;
  // After this no fetch of the service touches wake_, so it may close.
  if (registered_) {
    service_.removeWakeup(&wake_);
  }

  std::vector<Waiter> ready;
  for (auto& [id, waiter] : waiters_) {
    ready.push_back(std::move(waiter));
  }
  waiters_.clear();
  deliver(ready, WaitOutcome::Cancelled);

  if (open_handles_ == 0) {
    delete this;
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&wake_), &Impl::onClosed);
  if (open_handles_ == 2) {
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Impl::onClosed);
  }
}

void KeyWaiters::Impl::onClosed(uv_handle_t* handle) noexcept {
  auto* self = static_cast<Impl*>(handle->data);
  if (--self->open_handles_ == 0) {
    delete self;
  }
}

Result<std::unique_ptr<KeyWaiters>, std::string> KeyWaiters::create(uv_loop_t* loop,
                                                                    KeyService& service,
                                                                    std::size_t max_waiters) {
  auto* impl = new Impl(loop, service, max_waiters);
  std::string error;
  if (!impl->init(&error)) {
    impl->close();
    return makeError(std::move(error));
  }
  return std::unique_ptr<KeyWaiters>(new KeyWaiters(impl));
}

KeyWaiters::~KeyWaiters() { close(); }

std::optional<std::uint64_t> KeyWaiters::shouldWaitForKeys(std::size_t provider) {
  return impl_ == nullptr ? std::nullopt : impl_->shouldWaitForKeys(provider);
}

std::optional<std::uint64_t> KeyWaiters::shouldWaitForKid(std::size_t provider,
                                                          std::string_view kid) {
  return impl_ == nullptr ? std::nullopt : impl_->shouldWaitForKid(provider, kid);
}

void KeyWaiters::rememberUnknownKid(std::size_t provider, std::string_view kid) {
  if (impl_ != nullptr) {
    impl_->rememberUnknownKid(provider, kid);
  }
}

WaitTicket KeyWaiters::wait(std::size_t provider, std::uint64_t epoch, WaitCallback callback) {
  if (impl_ == nullptr) {
    return {WaitStart::Closed, 0};
  }
  return impl_->wait(provider, epoch, std::move(callback));
}

void KeyWaiters::cancel(std::uint64_t id) {
  if (impl_ != nullptr) {
    impl_->cancel(id);
  }
}

void KeyWaiters::close() {
  Impl* impl = std::exchange(impl_, nullptr);
  if (impl != nullptr) {
    impl->close();
  }
}

std::size_t KeyWaiters::waiting() const { return impl_ == nullptr ? 0 : impl_->waiting(); }

}  // namespace jwtgate::jwks

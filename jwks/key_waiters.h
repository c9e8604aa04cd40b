// One worker's side of remote keys: decides whether a request without a usable key waits
// for a fetch or is refused at once, holds the requests that wait (bounded in number and
// time), and wakes them on the worker's own loop when the key service ends a fetch.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "verifier/result.h"

namespace jwtgate::jwks {

class KeyService;

inline constexpr std::size_t kDefaultMaxWaiters = 1024;
inline constexpr std::size_t kDefaultUnknownKidMemory = 1024;

// Stable values: they label log lines and metrics.
enum class WaitOutcome : std::uint8_t {
  FetchDone,  // A fetch of the provider ended (well or not): look at its keys again.
  TimedOut,   // The provider's wait timeout passed first.
  Cancelled,  // The waiters closed (the worker is shutting down).
};

// Called on the worker's thread, never from inside wait() or cancel().
using WaitCallback = std::function<void(WaitOutcome outcome)>;

enum class WaitStart : std::uint8_t {
  Waiting,      // The callback will be called once.
  AlreadyDone,  // A fetch ended since the epoch was read: look again now; no callback.
  Full,         // Too many requests wait on this worker: refuse; no callback.
  Closed,       // After close(): refuse; no callback.
};

struct WaitTicket {
  WaitStart state = WaitStart::Closed;
  std::uint64_t id = 0;  // for cancel(); 0 unless Waiting
};

class KeyWaiters {
 public:
  // Opens a uv_async_t and a uv_timer_t on `loop` (the calling worker's) and registers with
  // `service`, which must outlive close(). Fails when libuv refuses.
  static Result<std::unique_ptr<KeyWaiters>, std::string> create(
      uv_loop_t* loop, KeyService& service, std::size_t max_waiters = kDefaultMaxWaiters);

  // Closes (see close()).
  ~KeyWaiters();
  KeyWaiters(const KeyWaiters&) = delete;
  KeyWaiters& operator=(const KeyWaiters&) = delete;

  // Provider `provider` has no keys: returns the fetch epoch to wait past when a fetch is
  // pending or in flight, nullopt when the request is to be refused now.
  std::optional<std::uint64_t> shouldWaitForKeys(std::size_t provider);

  // A token names `kid`, which the provider's current set lacks. Returns the fetch epoch to
  // wait past when a fetch is in flight or this call claimed the provider's refetch (and
  // asked the service for it); nullopt when the kid is refused now: it was shown unknown
  // recently, or the cool-down is running. Lock-free except the hand-off of the request.
  std::optional<std::uint64_t> shouldWaitForKid(std::size_t provider, std::string_view kid);

  // After a wait, the token's kid is still missing: refuse it at once for the cool-down.
  void rememberUnknownKid(std::size_t provider, std::string_view kid);

  // Waits until the provider's fetch epoch moves past `epoch`, at most the provider's
  // wait_timeout. See WaitStart for when `callback` is called.
  WaitTicket wait(std::size_t provider, std::uint64_t epoch, WaitCallback callback);

  // Drops a waiter (its request went away); its callback is not called. Unknown ids are
  // ignored.
  void cancel(std::uint64_t id);

  // Ends every waiter with Cancelled (callbacks run inside this call), unregisters from the
  // service and closes the handles; memory is freed in their close callbacks. Idempotent.
  void close();

  std::size_t waiting() const;

  class Impl;

 private:
  explicit KeyWaiters(Impl* impl) : impl_(impl) {}
  Impl* impl_;  // frees itself after close() once its handles are closed
};

}  // namespace jwtgate::jwks

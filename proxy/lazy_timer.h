// A libuv timer whose deadline may move on every read and write at almost no cost: a later
// deadline is only recorded (the timer, firing early, re-arms itself for the rest); only an
// earlier one restarts the libuv timer.
#pragma once

#include <uv.h>

#include <cstdint>

namespace jwtgate::proxy {

class LazyTimer {
  // timer_ must stay the first member (onTimer converts the handle back to its LazyTimer).
 public:
  using Callback = void (*)(void* owner);

  // Initialises the handle; `callback(owner)` runs when an armed deadline passes.
  void init(uv_loop_t* loop, Callback callback, void* owner);

  // Fires `timeout_ms` from the loop's current time (replacing any earlier deadline).
  void arm(uint64_t timeout_ms);
  void disarm() { deadline_ = 0; }
  bool armed() const { return deadline_ != 0; }

  // For uv_close; the handle's data field is free for the owner.
  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&timer_); }

 private:
  static void onTimer(uv_timer_t* timer) noexcept;

  uv_timer_t timer_;
  Callback callback_ = nullptr;
  void* owner_ = nullptr;
  uint64_t deadline_ = 0;   // loop time (ms) at which to fire; 0: disarmed
  uint64_t scheduled_ = 0;  // loop time the libuv timer is set for; 0: not running
};

}  // namespace jwtgate::proxy

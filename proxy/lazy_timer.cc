// Lazily re-armed timers.
#include "proxy/lazy_timer.h"

namespace jwtgate::proxy {

void LazyTimer::init(uv_loop_t* loop, Callback callback, void* owner) {
  uv_timer_init(loop, &timer_);
  callback_ = callback;
  owner_ = owner;
}

void LazyTimer::arm(uint64_t timeout_ms) {
  uint64_t now = uv_now(timer_.loop);
  deadline_ = now + timeout_ms;
  if (scheduled_ == 0 || deadline_ < scheduled_) {
    uv_timer_start(&timer_, onTimer, timeout_ms, 0);
    scheduled_ = deadline_;
  }
}

void LazyTimer::onTimer(uv_timer_t* timer) noexcept {
  // timer_ is the first member of a standard-layout class; data belongs to the owner.
  auto* self = reinterpret_cast<LazyTimer*>(timer);
  self->scheduled_ = 0;
  if (self->deadline_ == 0) {
    return;
  }
  uint64_t now = uv_now(timer->loop);
  if (now < self->deadline_) {
    uv_timer_start(timer, onTimer, self->deadline_ - now, 0);
    self->scheduled_ = self->deadline_;
    return;
  }
  self->deadline_ = 0;
  self->callback_(self->owner_);
}

}  // namespace jwtgate::proxy

// Runs a test's libuv loop until a condition holds (or a generous deadline passes), and
// closes it at the end, so that every loop test can check that nothing was left open.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>

namespace jwtgate::testing {

// Runs `loop` until `done()` is true or `limit` passes; returns done(). A 5 ms ticker keeps
// the loop turning while it waits on other threads.
inline bool runUntil(uv_loop_t* loop, const std::function<bool()>& done,
                     std::chrono::milliseconds limit = std::chrono::milliseconds(10000)) {
  uv_timer_t ticker;
  uv_timer_init(loop, &ticker);
  uv_timer_start(
      &ticker, [](uv_timer_t*) {}, 5, 5);
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    uv_run(loop, UV_RUN_ONCE);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&ticker), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  return done();
}

// Runs the remaining close callbacks and closes the loop; returns uv_loop_close's result
// (0 when every handle was closed).
inline int finishLoop(uv_loop_t* loop) {
  for (int i = 0; i < 100 && uv_loop_alive(loop) != 0; ++i) {
    uv_run(loop, UV_RUN_NOWAIT);
  }
  uv_run(loop, UV_RUN_NOWAIT);
  return uv_loop_close(loop);
}

}  // namespace jwtgate::testing

// An admin server on its own loop and thread, bound to 127.0.0.1:0, with handlers whose
// answers the test controls. Stopping closes the server from the loop thread and checks that
// the loop ends with every handle closed.
#pragma once

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <uv.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "admin/admin_server.h"

namespace jwtgate::admin::testing {

inline proxy::ListenAddress loopbackAddress(uint16_t port, int family = AF_INET) {
  proxy::ListenAddress address;
  if (family == AF_INET6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.address);
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    v6->sin6_addr = in6addr_loopback;
    address.address_length = sizeof(sockaddr_in6);
    address.text = "[::1]:" + std::to_string(port);
  } else {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address.address);
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.address_length = sizeof(sockaddr_in);
    address.text = "127.0.0.1:" + std::to_string(port);
  }
  return address;
}

// The port of "127.0.0.1:9901" or "[::1]:9901".
inline uint16_t portOf(const std::string& bound) {
  return static_cast<uint16_t>(std::stoul(bound.substr(bound.rfind(':') + 1)));
}

class AdminFixture {
 public:
  explicit AdminFixture(AdminOptions options = {}, int family = AF_INET,
                        std::string metrics_text = "jwtgate_workers 2\n")
      : metrics_text_(std::move(metrics_text)) {
    REQUIRE(uv_loop_init(&loop_) == 0);
    REQUIRE(uv_async_init(&loop_, &stop_, onStop) == 0);
    stop_.data = this;

    auto started = AdminServer::start(&loop_, loopbackAddress(0, family), handlers(), options);
    if (!started.ok()) {
      FAIL(started.error());
    }
    server_ = std::move(started.value());
    bound_ = server_->boundAddress();
    port_ = portOf(bound_);
    thread_ = std::thread([this] { uv_run(&loop_, UV_RUN_DEFAULT); });
  }

  ~AdminFixture() { stop(); }

  // Closes the server on its loop (twice, and a third time through its destructor: close()
  // must be idempotent), waits for the loop to end and closes it.
  void stop() {
    if (!thread_.joinable()) {
      return;
    }
    uv_async_send(&stop_);
    thread_.join();
    CHECK(uv_loop_close(&loop_) == 0);
  }

  // The server's per-connection peak of held response bytes; still answers after stop().
  size_t peakQueuedBytes() const {
    return server_ != nullptr ? server_->peakQueuedBytes() : final_peak_queued_bytes_;
  }

  uint16_t port() const { return port_; }
  const std::string& bound() const { return bound_; }

  std::atomic<bool> healthy{true};
  std::atomic<bool> ready{true};
  std::atomic<int> metrics_calls{0};

 private:
  AdminHandlers handlers() {
    AdminHandlers h;
    h.metrics = [this] {
      metrics_calls++;
      return metrics_text_;
    };
    h.healthz = [this](std::string* body) {
      bool ok = healthy.load();
      *body =
          ok ? R"({"status":"ok","workers":2})" : R"({"status":"stalled","stalled_workers":[1]})";
      return ok;
    };
    h.readyz = [this](std::string* body) {
      bool ok = ready.load();
      *body = ok ? R"({"status":"ready"})" : R"({"status":"not_ready","reasons":["draining"]})";
      return ok;
    };
    return h;
  }

  static void onStop(uv_async_t* async) {
    auto* self = static_cast<AdminFixture*>(async->data);
    self->server_->close();
    self->server_->close();
    self->final_peak_queued_bytes_ = self->server_->peakQueuedBytes();
    self->server_.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr);
  }

  std::string metrics_text_;
  uv_loop_t loop_;
  uv_async_t stop_;
  std::unique_ptr<AdminServer> server_;
  std::string bound_;
  uint16_t port_ = 0;
  size_t final_peak_queued_bytes_ = 0;
  std::thread thread_;
};

}  // namespace jwtgate::admin::testing

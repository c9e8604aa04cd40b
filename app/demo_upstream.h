// The demo's stand-in for a real service: a tiny HTTP server on loopback that answers every
// request with a JSON echo of what reached it (method, path and the identity headers), so a
// demo user sees what jwtgate forwarded. Sequential and simple on purpose: demo traffic only.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>

namespace jwtgate::app {

class DemoUpstream {
 public:
  // Listens on 127.0.0.1 on a port the kernel picks. Returns nullopt if that fails.
  static std::optional<std::uint16_t> start(DemoUpstream& upstream);
  ~DemoUpstream();

  std::uint16_t port() const { return port_; }

 private:
  void serve();
  void answer(int client);

  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace jwtgate::app

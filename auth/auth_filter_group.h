// The auth filters of every worker as one unit: the factory proxy::Server calls per worker,
// live reconfiguration (each worker swaps at its next request), and the metrics of all of
// them, kept in blocks that outlive the filters so that totals never go backwards.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <vector>

#include "auth/auth_config.h"
#include "auth/auth_filter.h"
#include "auth/auth_metrics.h"
#include "observe/metrics.h"
#include "proxy/request_filter.h"

namespace jwtgate::auth {

class RemoteKeys;

class AuthFilterGroup : public std::enable_shared_from_this<AuthFilterGroup> {
 public:
  // `config` must not be null. `remote` (may be null: every key is local; a config with
  // remote providers then refuses their tokens as having no keys) outlives the group and
  // every filter, and must already know `config` (RemoteKeys::create or update).
  static std::shared_ptr<AuthFilterGroup> create(std::shared_ptr<const AuthConfig> config,
                                                 RemoteKeys* remote);

  AuthFilterGroup(const AuthFilterGroup&) = delete;
  AuthFilterGroup& operator=(const AuthFilterGroup&) = delete;

  // For proxy::Server: one AuthFilter per worker, following this group. The factory keeps
  // the group alive.
  proxy::RequestFilterFactory factory();

  // Any thread (the main thread in the app), after remote->update(next) for the same
  // config: binds `next` (interning its labels) and publishes it. Every filter takes it
  // before its next request; requests already decided or suspended keep their config.
  void reconfigure(std::shared_ptr<const AuthConfig> next);

  // Thread-safe, any time (reloads included): the auth families summed over every filter
  // ever made, closed ones included. The key families are RemoteKeys::collectMetrics'.
  void collectMetrics(observe::MetricsText& out) const;

  // The auth families with nothing counted (`auth: off`).
  static void collectEmptyMetrics(observe::MetricsText& out);

  // The configuration new requests get, and how often reconfigure() ran (starts at 1).
  std::shared_ptr<const AuthConfig> config() const;
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Filters made by factory() that have not closed.
  std::size_t activeFilters() const;

  // ---- AuthFilter ----
  std::shared_ptr<const BoundAuthConfig> current() const;
  AuthMetrics* registerFilter();
  void unregisterFilter();

 private:
  explicit AuthFilterGroup(RemoteKeys* remote) : remote_(remote) {}

  RemoteKeys* const remote_;
  mutable std::mutex mutex_;  // guards the fields below
  std::shared_ptr<const BoundAuthConfig> current_;
  std::deque<AuthMetrics> blocks_;  // never shrinks: stable addresses
  std::size_t active_ = 0;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace jwtgate::auth

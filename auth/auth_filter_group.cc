// Reconfiguration and metrics of the auth filters of every worker.
#include "auth/auth_filter_group.h"

#include <utility>

#include "auth/remote_keys.h"

namespace jwtgate::auth {

std::shared_ptr<AuthFilterGroup> AuthFilterGroup::create(std::shared_ptr<const AuthConfig> config,
                                                         RemoteKeys* remote) {
  std::shared_ptr<AuthFilterGroup> group(new AuthFilterGroup(remote));
  group->reconfigure(std::move(config));
  return group;
}

proxy::RequestFilterFactory AuthFilterGroup::factory() {
  std::shared_ptr<AuthFilterGroup> self = shared_from_this();
  return [self](uv_loop_t* loop) -> std::unique_ptr<proxy::RequestFilter> {
    return std::make_unique<AuthFilter>(self, loop);
  };
}

void AuthFilterGroup::reconfigure(std::shared_ptr<const AuthConfig> next) {
  // Bound here, off the request path: label interning and the key-service look-ups.
  std::shared_ptr<const BoundAuthConfig> bound = bindAuthConfig(std::move(next), remote_);
  std::shared_ptr<const BoundAuthConfig> previous;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    previous = std::move(current_);
    current_ = std::move(bound);
    // Published after current_: a filter that sees the new number takes this config or a
    // later one.
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  // `previous` may be the last reference: released outside the lock.
}

std::shared_ptr<const BoundAuthConfig> AuthFilterGroup::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

std::shared_ptr<const AuthConfig> AuthFilterGroup::config() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_->config;
}

AuthMetrics* AuthFilterGroup::registerFilter() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++active_;
  return &blocks_.emplace_back();
}

void AuthFilterGroup::unregisterFilter() {
  std::lock_guard<std::mutex> lock(mutex_);
  --active_;
}

std::size_t AuthFilterGroup::activeFilters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return active_;
}

void AuthFilterGroup::collectMetrics(observe::MetricsText& out) const {
  std::vector<const AuthMetrics*> blocks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const AuthMetrics& block : blocks_) {
      blocks.push_back(&block);
    }
  }
  // The blocks never move nor go away while the group lives.
  renderAuthMetrics(blocks, out);
}

void AuthFilterGroup::collectEmptyMetrics(observe::MetricsText& out) { renderAuthMetrics({}, out); }

}  // namespace jwtgate::auth

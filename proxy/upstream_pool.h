// The upstream connections of one worker: idle keep-alive connections for reuse (most
// recently used first, at most limits.max_idle_upstream), and every open one for shutdown.
#pragma once

#include <cstddef>

#include "proxy/intrusive_list.h"
#include "proxy/upstream_connection.h"

namespace jwtgate::proxy {

class ClientConnection;
class Worker;

class UpstreamPool {
 public:
  explicit UpstreamPool(Worker& worker) : worker_(worker) {}
  UpstreamPool(const UpstreamPool&) = delete;
  UpstreamPool& operator=(const UpstreamPool&) = delete;

  // An idle connection attached to `client`, or nullptr when none is pooled.
  UpstreamConnection* takeIdle(ClientConnection* client);

  // A new connection, connecting for `client`; nullptr when the attempt failed at once
  // (`*error` then holds the libuv error).
  UpstreamConnection* connect(ClientConnection* client, int* error);

  // Keeps `connection` for reuse, or closes it when the pool is full or closing.
  void putIdle(UpstreamConnection* connection);

  // Called by a connection when it starts closing, and when its handles are closed.
  void onClosing(UpstreamConnection* connection);
  void onClosed(UpstreamConnection* connection);

  // Closes every connection (shutdown); later putIdle calls close too.
  void closeAll();

  bool empty() const { return all_.empty(); }
  size_t idleCount() const { return idle_.size(); }

 private:
  Worker& worker_;
  IntrusiveList<UpstreamConnection, &UpstreamConnection::idle_link_> idle_;
  IntrusiveList<UpstreamConnection, &UpstreamConnection::all_link_> all_;
  bool closed_ = false;
};

}  // namespace jwtgate::proxy

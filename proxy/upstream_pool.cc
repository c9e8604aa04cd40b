// The per-worker upstream connection pool.
#include "proxy/upstream_pool.h"

#include "proxy/worker.h"

namespace jwtgate::proxy {

UpstreamConnection* UpstreamPool::takeIdle(ClientConnection* client) {
  UpstreamConnection* connection = idle_.front();
  if (connection == nullptr) {
    return nullptr;
  }
  idle_.remove(connection);
  connection->attach(client);
  worker_.stats().upstream_reuses.add();
  return connection;
}

UpstreamConnection* UpstreamPool::connect(ClientConnection* client, int* error) {
  auto* connection = new UpstreamConnection(worker_);
  all_.pushBack(connection);
  int rc = connection->connect(client);
  if (rc != 0) {
    *error = rc;
    return nullptr;  // closing; onClosed frees it
  }
  return connection;
}

void UpstreamPool::putIdle(UpstreamConnection* connection) {
  if (closed_ || idle_.size() >= worker_.config().limits.max_idle_upstream) {
    connection->close();
    return;
  }
  idle_.pushFront(connection);
}

void UpstreamPool::onClosing(UpstreamConnection* connection) { idle_.remove(connection); }

void UpstreamPool::onClosed(UpstreamConnection* connection) {
  idle_.remove(connection);
  all_.remove(connection);
  delete connection;
  if (all_.empty()) {
    worker_.onUpstreamPoolEmpty();
  }
}

void UpstreamPool::closeAll() {
  closed_ = true;
  for (UpstreamConnection* connection = all_.front(); connection != nullptr;) {
    UpstreamConnection* next = all_.next(connection);
    connection->close();
    connection = next;
  }
}

}  // namespace jwtgate::proxy

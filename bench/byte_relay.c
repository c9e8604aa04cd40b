// The floor of the load bench: a TCP relay on loopback that does no HTTP at all. Every
// accepted client gets its own upstream connection, and bytes are copied both ways with one
// read and one write per readiness event, through one epoll loop on one thread. A proxy has
// to do at least this much (two reads and two writes per request, four TCP segments), so its
// CPU time per request is the part of every proxy's cost that is the kernel's and the
// machine's, not the proxy's own work. proxy_bench.py runs it as the `relay` row.
//
// Usage: byte_relay LISTEN_PORT UPSTREAM_PORT   (both on 127.0.0.1; runs until killed)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { kMaxEvents = 256, kReadSize = 64 * 1024 };

// One side of a relayed pair. Bytes that the peer's socket did not take wait in `pending`;
// while they wait this side is not read, so the relay never holds more than one read.
struct Side {
  int fd;
  struct Side* peer;
  char* pending;
  size_t pending_length;
};

static int epoll_fd;

static int parsePort(const char* text) {
  char* end = NULL;
  long port = strtol(text, &end, 10);
  return (*end == '\0' && port > 0 && port < 65536) ? (int)port : -1;
}

static struct sockaddr_in loopback(int port) {
  struct sockaddr_in address;
  memset(&address, 0, sizeof(address));
  address.sin_family = AF_INET;
  address.sin_port = htons((uint16_t)port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

static void watch(struct Side* side, int op, uint32_t events) {
  struct epoll_event event = {.events = events, .data.ptr = side};
  epoll_ctl(epoll_fd, op, side->fd, &event);
}

static void closePair(struct Side* side) {
  struct Side* peer = side->peer;
  close(side->fd);
  close(peer->fd);
  free(side->pending);
  free(peer->pending);
  free(side < peer ? side : peer);  // both halves come from one allocation
}

static void acceptClient(int listen_fd, int upstream_port) {
  int client = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (client < 0) {
    return;
  }

  // A blocking connect is fine here: the upstream is on loopback and this is a bench tool.
  int upstream = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in address = loopback(upstream_port);
  if (upstream < 0 || connect(upstream, (struct sockaddr*)&address, sizeof(address)) != 0) {
    close(client);
    if (upstream >= 0) {
      close(upstream);
    }
    return;
  }
  fcntl(upstream, F_SETFL, O_NONBLOCK);
  int one = 1;
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

  struct Side* pair = calloc(2, sizeof(struct Side));
  if (pair == NULL) {
    close(client);
    close(upstream);
    return;
  }
  pair[0].fd = client;
  pair[0].peer = &pair[1];
  pair[1].fd = upstream;
  pair[1].peer = &pair[0];
  watch(&pair[0], EPOLL_CTL_ADD, EPOLLIN);
  watch(&pair[1], EPOLL_CTL_ADD, EPOLLIN);
}

// Reads once from `side` and writes it all to its peer, or keeps the rest for EPOLLOUT.
// Returns 0 when the pair must close.
static int relayReadable(struct Side* side) {
  static char buffer[kReadSize];
  ssize_t got = read(side->fd, buffer, sizeof(buffer));
  if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
    return 1;
  }
  if (got <= 0) {
    return 0;
  }
  ssize_t sent = write(side->peer->fd, buffer, (size_t)got);
  if (sent < 0 && errno != EAGAIN) {
    return 0;
  }
  if (sent == got) {
    return 1;
  }

  // The peer is full: keep the rest, stop reading this side until it is written.
  size_t written = sent < 0 ? 0 : (size_t)sent;
  side->peer->pending = malloc((size_t)got - written);
  if (side->peer->pending == NULL) {
    return 0;
  }
  memcpy(side->peer->pending, buffer + written, (size_t)got - written);
  side->peer->pending_length = (size_t)got - written;
  watch(side, EPOLL_CTL_MOD, 0);
  watch(side->peer, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
  return 1;
}

static int relayWritable(struct Side* side) {
  ssize_t sent = write(side->fd, side->pending, side->pending_length);
  if (sent < 0) {
    return errno == EAGAIN || errno == EINTR;
  }
  side->pending_length -= (size_t)sent;
  memmove(side->pending, side->pending + sent, side->pending_length);
  if (side->pending_length == 0) {
    free(side->pending);
    side->pending = NULL;
    watch(side, EPOLL_CTL_MOD, EPOLLIN);
    watch(side->peer, EPOLL_CTL_MOD, EPOLLIN);
  }
  return 1;
}

int main(int argc, char** argv) {
  int listen_port = argc == 3 ? parsePort(argv[1]) : -1;
  int upstream_port = argc == 3 ? parsePort(argv[2]) : -1;
  if (listen_port < 0 || upstream_port < 0) {
    fprintf(stderr, "usage: byte_relay LISTEN_PORT UPSTREAM_PORT (both on 127.0.0.1)\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);

  int listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  struct sockaddr_in address = loopback(listen_port);
  if (bind(listen_fd, (struct sockaddr*)&address, sizeof(address)) != 0 ||
      listen(listen_fd, 4096) != 0) {
    perror("byte_relay: listen");
    return 1;
  }
  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event listen_event = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_fd, &listen_event);

  struct epoll_event events[kMaxEvents];
  for (;;) {
    int count = epoll_wait(epoll_fd, events, kMaxEvents, -1);
    for (int i = 0; i < count; ++i) {
      struct Side* side = events[i].data.ptr;
      uint32_t ready = events[i].events;
      if (ready == 0) {
        continue;  // its pair was closed earlier in this batch
      }
      if (side == NULL) {
        acceptClient(listen_fd, upstream_port);
        continue;
      }
      int keep = (ready & (EPOLLHUP | EPOLLERR)) == 0;
      if (keep && (ready & EPOLLOUT)) {
        keep = relayWritable(side);
      }
      if (keep && (ready & EPOLLIN) && side->peer->pending == NULL) {
        keep = relayReadable(side);
      }
      if (keep) {
        continue;
      }

      // The peer may also be in this batch of events: drop it there before freeing both.
      struct Side* peer = side->peer;
      for (int j = i + 1; j < count; ++j) {
        if (events[j].data.ptr == side || events[j].data.ptr == peer) {
          events[j].events = 0;
        }
      }
      closePair(side);
    }
  }
}

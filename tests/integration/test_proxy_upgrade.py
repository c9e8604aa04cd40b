"""Protocol upgrades through the real binary: a WebSocket-style 101 turns the connection into
a byte tunnel in both directions, closes travel end to end, and an upgrade the upstream
declines leaves an ordinary HTTP connection."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402

suite = h.Suite("proxy_upgrade")

HANDSHAKE = [("Connection", "Upgrade"), ("Upgrade", "websocket"),
             ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]
GREETING = b"hello-from-upstream"


def tunnel_upstream(request, conn):
    """Answers 101 if asked to upgrade, greets, then echoes every byte until EOF."""
    if "upgrade" not in request.tokens("connection") or not request.has("upgrade"):
        return h.echo(request, conn)
    conn.send(h.http_response(101, [("Connection", "Upgrade"), ("Upgrade", "websocket"),
                                    ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")],
                              content_length=False) + GREETING)
    while True:
        data = conn.read_some(timeout=30)
        if data:
            conn.send(data)
        elif conn.reader.eof:
            conn.close()
            return h.HANDLED


def upgraded_client(proxy):
    client = proxy.client(timeout=15)
    response = client.request(h.http_request("GET", "/ws", headers=HANDSHAKE), timeout=10)
    return client, response


def read_exact(client, count, timeout=10):
    try:
        return client.reader.read_exact(count, time.monotonic() + timeout)
    except h.IncompleteMessage as error:
        return error.partial


@suite.case
def websocket_style_round_trip():
    upstream = h.Upstream(h.serve(tunnel_upstream))
    proxy = h.Proxy(h.proxy_config(upstream))
    client, response = upgraded_client(proxy)
    suite.equal("101 relayed", response.status, 101)
    suite.check("Upgrade header relayed", response.tokens("upgrade") == ["websocket"],
                response.headers)
    seen = upstream.wait_requests(1)
    suite.check("upstream got the upgrade request with its headers",
                bool(seen) and seen[0].tokens("upgrade") == ["websocket"] and
                "upgrade" in seen[0].tokens("connection") and
                seen[0].header("sec-websocket-key") == HANDSHAKE[2][1],
                seen and seen[0].headers)
    suite.equal("bytes the upstream sends first arrive", read_exact(client, len(GREETING)),
                GREETING)
    for index, size in enumerate([1, 5, 1000, 70000, 3 * 1024 * 1024]):
        data = h.pattern_bytes(index * 100, size)
        client.send(data)
        suite.check(f"{size} bytes echoed through the tunnel", read_exact(client, size, 20) ==
                    data)
    # Bytes that look like HTTP are just bytes now.
    fake = h.http_request("GET", "/not-a-request")
    client.send(fake)
    suite.equal("HTTP-looking bytes tunnelled verbatim", read_exact(client, len(fake)), fake)
    suite.equal("upstream parsed no second request", len(upstream.requests()), 1)

    client.shut_write()
    conns = upstream.wait_connections(1)
    suite.check("client half-close reaches the upstream",
                bool(conns) and conns[0].closed_by_peer.wait(5))
    suite.check("upstream close reaches the client", client.closed(5))


@suite.case
def upstream_closing_the_tunnel_closes_the_client():
    def respond(request, conn):
        conn.send(h.http_response(101, [("Connection", "Upgrade"), ("Upgrade", "websocket")],
                                  content_length=False) + b"bye")
        time.sleep(0.2)
        conn.close()
        return h.HANDLED

    upstream = h.Upstream(h.serve(respond))
    proxy = h.Proxy(h.proxy_config(upstream))
    client, response = upgraded_client(proxy)
    suite.equal("101 relayed", response.status, 101)
    suite.equal("last bytes arrive", read_exact(client, 3), b"bye")
    suite.check("client connection closed", client.closed(5))


@suite.case
def client_reset_closes_the_upstream_side():
    upstream = h.Upstream(h.serve(tunnel_upstream))
    proxy = h.Proxy(h.proxy_config(upstream))
    client, response = upgraded_client(proxy)
    suite.equal("101 relayed", response.status, 101)
    read_exact(client, len(GREETING))
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00"
                                                                b"\x00\x00")
    client.close()
    conns = upstream.wait_connections(1)
    suite.check("upstream side closed after the client reset",
                bool(conns) and h.wait_for(lambda: conns[0].reader.eof, 5))
    suite.check("proxy still running", proxy.alive())
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/after"))
    suite.equal("proxy serves afterwards", response.status, 200)


@suite.case
def idle_tunnel_is_closed():
    upstream = h.Upstream(h.serve(tunnel_upstream))
    proxy = h.Proxy(h.proxy_config(upstream, timeouts={"client_idle": "1s"}))
    client, response = upgraded_client(proxy)
    suite.equal("101 relayed", response.status, 101)
    read_exact(client, len(GREETING))
    client.send(b"still here")
    suite.equal("traffic before going idle", read_exact(client, 10), b"still here")
    suite.check("idle tunnel closed on the client side", client.closed(8))
    conns = upstream.wait_connections(1)
    suite.check("and on the upstream side",
                bool(conns) and h.wait_for(lambda: conns[0].reader.eof, 5))


@suite.case
def declined_upgrade_stays_http():
    upstream = h.Upstream(h.serve(h.echo))
    proxy = h.Proxy(h.proxy_config(upstream))
    client, response = upgraded_client(proxy)
    suite.equal("upstream's 200 relayed", response.status, 200)
    suite.check("the echo body", response.body.startswith(b"GET /ws 0 "), response.body)
    follow = client.request(h.http_request("GET", "/then-http"))
    suite.check("connection continues as HTTP",
                follow.status == 200 and follow.body.startswith(b"GET /then-http "),
                follow.start_line)


if __name__ == "__main__":
    suite.run()

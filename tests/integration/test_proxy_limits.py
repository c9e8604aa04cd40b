"""Limits and client-side timeouts of the real binary: 431 for oversized or overcrowded heads,
413 for bodies beyond max_body_bytes, 408 for a slowloris head, idle and stalled connections
closed, max_connections holding new clients back until a slot frees, and the idle upstream
pool trimmed to max_idle_upstream. Timeouts are set to about a second to keep this fast."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402

suite = h.Suite("proxy_limits")


def start(respond=h.echo, limits=None, timeouts=None, on_head=None):
    upstream = h.Upstream(h.serve(respond, on_head=on_head))
    proxy = h.Proxy(h.proxy_config(upstream, limits=limits, timeouts=timeouts))
    return upstream, proxy


def refused_with(proxy, upstream, name, data, status):
    """Sends `data`, expects the proxy-made `status` and nothing at the upstream."""
    before = upstream.total_bytes()
    client = proxy.client(timeout=10)
    try:
        client.send(data)
        response = client.response(timeout=10)
    except (OSError, h.IncompleteMessage) as error:
        suite.check(f"{name}: answered {status}", False, error)
        return
    h.check_proxy_error(suite, name, response, status, client)
    time.sleep(0.05)
    suite.equal(f"{name}: upstream saw nothing", upstream.total_bytes() - before, 0)


def served(proxy, name, data, method="GET"):
    response, _ = h.one_request(proxy.port, data, method=method)
    return suite.equal(f"{name}: served", response.status, 200)


@suite.case
def oversized_heads_get_431():
    upstream, proxy = start(limits={"max_header_bytes": "4KiB", "max_header_count": 100},
                            timeouts={"request_header": "3s"})
    served(proxy, "a 2 KiB head", h.http_request("GET", "/", headers=[("X-Pad", "p" * 2000)]))
    refused_with(proxy, upstream, "one 8 KiB header",
                 h.http_request("GET", "/", headers=[("X-Pad", "p" * 8192)]), 431)
    refused_with(proxy, upstream, "many small headers over 4 KiB",
                 h.http_request("GET", "/", headers=[(f"X-H{i}", "v" * 90) for i in range(60)]),
                 431)
    refused_with(proxy, upstream, "an 8 KiB target",
                 h.http_request("GET", "/" + "t" * 8192), 431)
    refused_with(proxy, upstream, "an 8 KiB header name",
                 h.http_request("GET", "/", headers=[("X-" + "n" * 8192, "v")]), 431)


@suite.case
def too_many_headers_get_431():
    upstream, proxy = start(limits={"max_header_count": 20})
    at_limit = h.http_request("GET", "/", headers=[(f"X-H{i}", "v") for i in range(19)])
    served(proxy, "20 headers (Host + 19)", at_limit)
    over = h.http_request("GET", "/", headers=[(f"X-H{i}", "v") for i in range(20)])
    refused_with(proxy, upstream, "21 headers", over, 431)
    refused_with(proxy, upstream, "200 headers",
                 h.http_request("GET", "/", headers=[(f"X-H{i}", "v") for i in range(199)]),
                 431)


@suite.case
def bodies_beyond_max_body_bytes_get_413():
    upstream, proxy = start(limits={"max_body_bytes": "1KiB"}, on_head=h.continue_on_expect)
    body = b"b" * 1024
    response, _ = h.one_request(proxy.port, h.http_request("POST", "/at-limit", body=body))
    suite.check("1024 bytes with Content-Length served",
                response.status == 200 and response.body.startswith(b"POST /at-limit 1024"),
                response.start_line)
    refused_with(proxy, upstream, "1025 bytes with Content-Length",
                 h.http_request("POST", "/over", body=body + b"b"), 413)
    refused_with(proxy, upstream, "Expect: 100-continue with a body over the limit",
                 h.http_request("POST", "/expect-over", headers=[
                     ("Expect", "100-continue"), ("Content-Length", "5000")]), 413)

    # A chunked body can only be measured while it streams: whatever was forwarded, the
    # upstream must never receive a complete request with more than the limit.
    wire = h.http_request("POST", "/chunked-over", headers=[
        ("Transfer-Encoding", "chunked")]) + h.chunked_body([b"c" * 600, b"c" * 600])
    client = proxy.client(timeout=10)
    client.send(wire)
    try:
        response = client.response("POST", timeout=10)
        h.check_proxy_error(suite, "chunked body over the limit", response, 413, client)
    except h.IncompleteMessage:
        suite.check("chunked body over the limit: 413 or a close", client.closed(5))
    time.sleep(0.2)
    suite.check("chunked body over the limit: no complete request reached the upstream",
                all(r.target != "/chunked-over" for r in upstream.requests()),
                [r.start_line for r in upstream.requests()])
    served(proxy, "a small chunked body afterwards",
           h.http_request("POST", "/small", headers=[("Transfer-Encoding", "chunked")]) +
           h.chunked_body([b"ok"]), "POST")


@suite.case
def slowloris_head_gets_408():
    upstream, proxy = start(timeouts={"request_header": "1s", "client_idle": "10s"})
    client = proxy.client(timeout=10)
    head = h.http_request("GET", "/slow", headers=[("X-Slow", "x" * 40)])
    start_time = time.monotonic()
    finished = client.trickle(head, 0.25)
    suite.check("the proxy gave up before the head was complete", not finished,
                f"all {len(head)} bytes accepted over {time.monotonic() - start_time:.1f}s")
    try:
        response = client.response(timeout=5)
        h.check_proxy_error(suite, "slowloris", response, 408, client)
    except h.IncompleteMessage as error:
        suite.check("slowloris: answered 408", False, error)
    suite.equal("slowloris: upstream saw nothing", upstream.total_bytes(), 0)


@suite.case
def silent_connection_is_closed():
    upstream, proxy = start(timeouts={"request_header": "1s", "client_idle": "1s"})
    client = proxy.client()
    suite.check("a connection that never sends is closed", client.closed(8))
    data = bytes(client.reader.raw)
    if data:
        suite.check("anything sent before closing is a 408",
                    data.startswith(b"HTTP/1.1 408"), data[:100])


@suite.case
def idle_keep_alive_connection_is_closed():
    upstream, proxy = start(timeouts={"client_idle": "1s", "request_header": "5s"})
    client = proxy.client()
    first = client.request(h.http_request("GET", "/one"))
    second = client.request(h.http_request("GET", "/two"))
    suite.check("two requests on the connection", first.status == 200 and second.status == 200)
    suite.check("closed after being idle", client.closed(8))
    suite.equal("nothing sent on the idle close", client.reader.buf, bytearray())


@suite.case
def idle_pooled_upstream_connection_is_closed():
    upstream, proxy = start(timeouts={"client_idle": "1s", "request_header": "5s"})
    response, client = h.one_request(proxy.port, h.http_request("GET", "/pooled"))
    suite.equal("served", response.status, 200)
    conns = upstream.wait_connections(1, timeout=1)
    suite.check("the proxy closes the idle pooled upstream connection",
                bool(conns) and conns[0].closed_by_peer.wait(8))


@suite.case
def stalled_request_body_is_abandoned():
    upstream, proxy = start(timeouts={"client_idle": "1s", "request_header": "5s"})
    client = proxy.client()
    client.send(h.http_request("POST", "/stalled", headers=[("Content-Length", "1000")]) +
                b"only part of it")
    suite.check("client connection closed while the body stalls", client.closed(10))
    conns = upstream.wait_connections(1, timeout=1)
    if conns:
        suite.check("upstream connection with the half request is closed",
                    h.wait_for(lambda: conns[0].reader.eof, 5))
    suite.check("no complete request reached the upstream", not upstream.requests(),
                [r.start_line for r in upstream.requests()])


@suite.case
def max_connections_holds_new_clients_until_a_slot_frees():
    upstream, proxy = start(limits={"max_connections": 2},
                            timeouts={"client_idle": "30s", "request_header": "30s"})
    first, second = proxy.client(), proxy.client()
    suite.equal("first client served", first.request(h.http_request("GET", "/1")).status, 200)
    suite.equal("second client served", second.request(h.http_request("GET", "/2")).status,
                200)
    third = proxy.client()
    third.send(h.http_request("GET", "/3"))
    suite.check("third client gets nothing while two are open", not third.data_within(1.5),
                bytes(third.reader.buf[:100]))
    suite.equal("upstream did not get the third request yet",
                [r.target for r in upstream.requests()], ["/1", "/2"])
    first.close()
    try:
        response = third.response(timeout=10)
        suite.equal("third client served once a slot freed", response.status, 200)
        suite.check("third response is for /3", response.body.startswith(b"GET /3 "),
                    response.body)
    except h.IncompleteMessage as error:
        suite.check("third client served once a slot freed", False, error)
    suite.equal("second client still works", second.request(h.http_request("GET", "/2b"))
                .status, 200)


@suite.case
def idle_upstream_pool_is_trimmed():
    upstream, proxy = start(h.slow(0.5), limits={"max_idle_upstream": 1})
    results = []

    def one(index):
        try:
            response, _ = h.one_request(proxy.port, h.http_request("GET", f"/c{index}"))
            results.append(response.status)
        except Exception as error:  # recorded, then reported by the check below
            results.append(repr(error))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    suite.equal("three concurrent requests served", sorted(map(str, results)), ["200"] * 3)
    conns = upstream.wait_connections(3, timeout=1)
    suite.equal("three upstream connections were needed", len(conns), 3)
    closed = h.wait_for(lambda: sum(1 for c in conns if c.closed_by_peer.is_set()) >= 2, 5)
    suite.check("all but one idle upstream connection closed", closed,
                f"{sum(1 for c in conns if c.closed_by_peer.is_set())} of 3 closed")


if __name__ == "__main__":
    suite.run()

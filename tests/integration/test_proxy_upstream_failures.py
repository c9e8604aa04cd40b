"""What the client sees when the upstream misbehaves: refused (502), unreachable in time (503),
too slow (504), cut off or reset mid-response (the client connection closes, never hangs),
invalid or smuggling responses (502), stale pooled connections, and stray bytes after a
response that must never become the next client's answer."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402

suite = h.Suite("proxy_upstream_failures")

FAST = {"upstream_connect": "1s", "upstream_response": "1s", "client_idle": "3s",
        "request_header": "3s"}


def start_with(upstream, timeouts=None):
    return h.Proxy(h.proxy_config(upstream, timeouts=timeouts or FAST))


def start(respond, timeouts=None):
    upstream = h.Upstream(h.serve(respond))
    return upstream, start_with(upstream, timeouts)


def error_then_usable(name, proxy, client, response, status):
    """A proxy-made error; if the connection is kept, it must serve the next request."""
    closes = "close" in response.tokens("connection")
    h.check_proxy_error(suite, name, response, status, client, closes=closes)
    if not closes:
        try:
            again = client.request(h.http_request("GET", "/again"), timeout=15)
            suite.check(f"{name}: kept connection answers again",
                        again.status in (status, 200), again.start_line)
        except h.IncompleteMessage as error:
            suite.check(f"{name}: connection without Connection: close answers again", False,
                        error)


@suite.case
def refused_upstream_gives_502():
    refusing = h.RefusingPort()
    proxy = start_with(refusing)
    client = proxy.client()
    response = client.request(h.http_request("GET", "/down"))
    error_then_usable("connection refused", proxy, client, response, 502)
    suite.check("proxy still running", proxy.alive())


@suite.case
def connect_timeout_gives_503():
    blackhole = h.Blackhole()
    if not blackhole.connect_hangs():
        raise h.Skip("cannot make a loopback connect hang on this machine")
    proxy = start_with(blackhole)
    client = proxy.client(timeout=15)
    try:
        response = client.request(h.http_request("GET", "/blackhole"), timeout=15)
    except h.IncompleteMessage as error:
        suite.check("answered 503", False, error)
        return
    error_then_usable("connect timeout", proxy, client, response, 503)


@suite.case
def slow_upstream_gives_504_and_its_late_answer_is_dropped():
    state = {"first": True}

    def respond(request, conn):
        if state["first"]:
            state["first"] = False
            time.sleep(2.5)
            return h.http_response(200, [], b"LATE ANSWER")
        return h.echo(request, conn)

    upstream, proxy = start(respond)
    client = proxy.client(timeout=15)
    response = client.request(h.http_request("GET", "/slow"), timeout=15)
    error_then_usable("response timeout", proxy, client, response, 504)
    time.sleep(2.5)
    for index in range(3):
        other, _ = h.one_request(proxy.port, h.http_request("GET", f"/next/{index}"))
        suite.check(f"later request {index} gets its own answer",
                    other.status == 200 and other.body.startswith(f"GET /next/{index} "
                                                                  .encode()), other.body)


@suite.case
def stalled_response_body_closes_the_client():
    def respond(request, conn):
        conn.send(h.http_response(200, [("Content-Length", "100000")], content_length=False) +
                  b"x" * 1000)
        time.sleep(15)
        return h.HANDLED

    upstream, proxy = start(respond)
    client = proxy.client(timeout=20)
    client.send(h.http_request("GET", "/stall"))
    suite.check("client connection closed while the body stalls", client.closed(15))
    suite.check("the partial response was relayed first",
                bytes(client.reader.raw).startswith(b"HTTP/1.1 200"), client.reader.raw[:50])


def cut_case(name, wire, reset, expect_head=True):
    upstream, proxy = start(h.cut_off(wire, reset=reset))
    client = proxy.client(timeout=15)
    client.send(h.http_request("GET", f"/{name.replace(' ', '-')}"))
    try:
        response = client.response(timeout=10)
        incomplete = False
    except h.IncompleteMessage:
        response, incomplete = None, True
    if expect_head:
        # Part of the response is out: only a close can tell the client it is incomplete.
        suite.check(f"{name}: the client never sees a complete response", incomplete,
                    response and response.raw[-60:])
        suite.check(f"{name}: client connection closed, not left hanging", client.closed(8))
    elif response is not None and response.status == 502:
        error_then_usable(name, proxy, client, response, 502)
    else:
        suite.check(f"{name}: answered 502", False, client.reader.raw[:80])
    suite.check(f"{name}: proxy still running", proxy.alive())
    h.release_all()


@suite.case
def upstream_cut_off_mid_response_closes_the_client():
    head = h.http_response(200, [("Content-Length", "100000")], content_length=False)
    chunked = h.http_response(200, [("Transfer-Encoding", "chunked")], content_length=False)
    cut_case("FIN mid Content-Length body", head + b"y" * 5000, reset=False)
    cut_case("RST mid Content-Length body", head + b"y" * 5000, reset=True)
    cut_case("FIN mid chunked body", chunked + b"1000\r\n" + b"z" * 100, reset=False)
    cut_case("RST mid chunked body", chunked + b"10\r\n" + b"z" * 16 + b"\r\n", reset=True)
    cut_case("FIN mid head", b"HTTP/1.1 200 OK\r\nContent-Le", reset=False, expect_head=False)
    cut_case("RST before any byte", b"", reset=True, expect_head=False)
    cut_case("FIN before any byte", b"", reset=False, expect_head=False)


@suite.case
def invalid_upstream_responses_give_502():
    cases = [
        ("garbage", b"HELLO THERE\r\n\r\n"),
        ("bad status", b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"),
        ("Content-Length with Transfer-Encoding",
         b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"0\r\n\r\n"),
        ("two different Content-Lengths",
         b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nokok"),
        ("NUL in a header value", b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok"),
        ("obs-fold", b"HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n\r\nok"),
        ("space before colon", b"HTTP/1.1 200 OK\r\nX-A : b\r\nContent-Length: 2\r\n\r\nok"),
    ]
    for name, wire in cases:
        upstream, proxy = start(h.cut_off(wire, pause=0.3))
        client = proxy.client(timeout=10)
        try:
            response = client.request(h.http_request("GET", "/bad-response"), timeout=10)
        except h.IncompleteMessage as error:
            suite.check(f"{name}: answered 502", False, error)
            h.release_all()
            continue
        closes = "close" in response.tokens("connection")
        h.check_proxy_error(suite, name, response, 502, client, closes=closes)
        h.release_all()


@suite.case
def unsolicited_101_does_not_open_a_tunnel():
    # A switch the client never asked for would hand the client connection to the upstream.
    def respond(request, conn):
        if request.target == "/first":
            conn.send(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                      b"Upgrade: evil\r\n\r\n")
            return h.HANDLED
        return h.echo(request, conn)

    upstream, proxy = start(respond)
    client = proxy.client(timeout=10)
    try:
        response = client.request(h.http_request("GET", "/first"), timeout=10)
    except h.IncompleteMessage:
        suite.check("refused or closed", client.closed(5))
        return
    suite.check("the 101 is not relayed", response.status != 101, response.start_line)
    if response.status == 502:
        h.check_proxy_error(suite, "unsolicited 101", response, 502, client,
                            closes="close" in response.tokens("connection"))


@suite.case
def oversized_upstream_head_is_refused():
    wire = h.http_response(200, [(f"X-Big-{i}", "v" * 1000) for i in range(200)], b"ok")
    upstream, proxy = start(h.cut_off(wire, pause=1.0))
    client = proxy.client(timeout=10)
    try:
        response = client.request(h.http_request("GET", "/big-head"), timeout=10)
        if response.status == 200:
            suite.check("relayed whole", response.body == b"ok" and
                        len(response.all("x-big-0")) == 1)
        else:
            h.check_proxy_error(suite, "200 KB response head", response, 502, client,
                                closes="close" in response.tokens("connection"))
    except h.IncompleteMessage:
        suite.check("200 KB response head: answered", False, "closed without a response")
    suite.check("proxy still running", proxy.alive())


@suite.case
def stray_bytes_after_a_response_never_reach_another_request():
    smuggled = b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nSTOLEN!"

    def respond(request, conn):
        return h.http_response(200, [], b"own:" + request.target.encode()) + \
            (smuggled if request.target == "/first" else b"")

    upstream, proxy = start(respond)
    client = proxy.client()
    first = client.request(h.http_request("GET", "/first"))
    suite.equal("first answer", first.body, b"own:/first")
    time.sleep(0.2)
    for index in range(3):
        response = client.request(h.http_request("GET", f"/n{index}"))
        suite.equal(f"request {index} gets its own answer", response.body,
                    f"own:/n{index}".encode())
        other, _ = h.one_request(proxy.port, h.http_request("GET", f"/o{index}"))
        suite.equal(f"other client {index} gets its own answer", other.body,
                    f"own:/o{index}".encode())


@suite.case
def stale_pooled_connection_is_not_used():
    def respond(request, conn):
        conn.send(h.echo(request, conn))
        time.sleep(0.2)
        conn.close()
        return h.HANDLED

    upstream, proxy = start(respond)
    for index in range(4):
        response, _ = h.one_request(proxy.port, h.http_request("GET", f"/s{index}"))
        suite.check(f"request {index} after the upstream dropped its keep-alive connection",
                    response.status == 200 and response.body.startswith(
                        f"GET /s{index} ".encode()), response.start_line)
        time.sleep(0.6)


def dropping_second_request():
    """Answers the first request of each connection; reads the second and hangs up."""

    def respond(request, conn):
        if len(conn.requests) == 1:
            return h.echo(request, conn)
        conn.close()
        return h.HANDLED

    return respond


@suite.case
def idempotent_request_is_retried_once_after_a_stale_pooled_connection():
    upstream, proxy = start(dropping_second_request())
    client = proxy.client()
    suite.equal("first request served", client.request(h.http_request("GET", "/warm")).status,
                200)
    response = client.request(h.http_request("GET", "/retried"))
    suite.check("GET on the dropped pooled connection is retried and served",
                response.status == 200 and response.body.startswith(b"GET /retried "),
                response.start_line)
    suite.equal("the upstream saw it on two connections",
                [r.target for r in upstream.requests()], ["/warm", "/retried", "/retried"])


@suite.case
def retried_request_goes_out_once_when_the_pool_close_lands_in_the_same_turn():
    """The request is queued for a pooled connection and, in the same loop turn, that
    connection's close arrives: the retry on a fresh connection must send the request once,
    not again after the copy that was still waiting to be written."""
    pooled = {}

    def handler(conn):
        if "conn" not in pooled:
            pooled["conn"] = conn
            request = conn.read_request()
            conn.send(h.echo(request, conn))
            pooled["served"] = True
            pooled["close"].wait(10)
            conn.close()
            return
        h.serve(h.echo)(conn)

    pooled["close"] = threading.Event()
    upstream = h.Upstream(handler)
    proxy = start_with(upstream)
    client = proxy.client()
    suite.equal("first request served", client.request(h.http_request("GET", "/warm")).status,
                200)
    with h.frozen(proxy.pid):
        client.send(h.http_request("GET", "/again"))
        time.sleep(0.1)  # the request is readable before the pooled connection's FIN
        pooled["close"].set()
        time.sleep(0.3)
    response = client.response()
    suite.check("the request is answered", response.status == 200 and
                response.body.startswith(b"GET /again "), response.start_line)
    time.sleep(0.3)
    suite.equal("the upstream saw it once", [r.target for r in upstream.requests()],
                ["/warm", "/again"])
    later = [conn.raw.count(b"GET /again ") for conn in upstream.connections[1:]]
    suite.equal("one copy on the fresh connection", later, [1])


@suite.case
def request_with_a_body_is_not_retried():
    upstream, proxy = start(dropping_second_request())
    client = proxy.client()
    suite.equal("first request served", client.request(h.http_request("GET", "/warm")).status,
                200)
    response = client.request(h.http_request("POST", "/once", body=b"pay once"))
    closes = "close" in response.tokens("connection")
    h.check_proxy_error(suite, "POST on a dropped connection", response, 502, client,
                        closes=closes)
    time.sleep(0.3)
    suite.equal("the upstream saw the POST once", [r.target for r in upstream.requests()],
                ["/warm", "/once"])


@suite.case
def upstream_connection_close_is_honoured():
    def respond(request, conn):
        return h.http_response(200, [("Connection", "close")], h.echo_body(request))

    upstream, proxy = start(respond)
    client = proxy.client()
    for index in range(3):
        response = client.request(h.http_request("GET", f"/c{index}"))
        suite.check(f"request {index} served on the same client connection",
                    response.status == 200 and response.body.startswith(
                        f"GET /c{index} ".encode()), response.start_line)
    suite.equal("a new upstream connection per request", upstream.connection_count(), 3)


@suite.case
def interim_responses_are_not_taken_for_the_final_one():
    def respond(request, conn):
        return b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" + \
            h.http_response(200, [], b"final")

    upstream, proxy = start(respond)
    client = proxy.client()
    for index in range(2):
        client.send(h.http_request("GET", f"/hints{index}"))
        interim = client.response(skip_interim=False)
        suite.equal(f"request {index}: 103 reaches the HTTP/1.1 client", interim.status, 103)
        response = client.response()
        suite.equal(f"request {index}: final status", response.status, 200)
        suite.equal(f"request {index}: final body", response.body, b"final")


if __name__ == "__main__":
    suite.run()

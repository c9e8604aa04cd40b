"""Forwarding through the real binary: methods, targets, Host and X-Forwarded-*, hop-by-hop
headers in both directions, keep-alive on both sides, pipelining, bodiless responses,
HTTP/1.0 and a real curl client."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402

suite = h.Suite("proxy_forwarding")


def start(respond=h.echo, **config):
    upstream = h.Upstream(h.serve(respond))
    proxy = h.Proxy(h.proxy_config(upstream, **config))
    return upstream, proxy


def routed(request, conn):
    """Status chosen by the target: /status/N answers N the way real servers do."""
    if request.target.startswith("/status/204"):
        return h.http_response(204, [("X-Kind", "no-content")], content_length=False)
    if request.target.startswith("/status/304"):
        # A 304 may carry the Content-Length of the representation; it never has a body.
        return h.http_response(304, [("ETag", '"v1"'), ("Content-Length", "1234")],
                               content_length=False)
    if request.target.startswith("/status/head-chunked") and request.method == "HEAD":
        return h.http_response(200, [("Transfer-Encoding", "chunked")], content_length=False)
    return h.echo(request, conn)


@suite.case
def every_method_is_forwarded():
    upstream, proxy = start()
    client = proxy.client()
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND"]
    for index, method in enumerate(methods):
        body = f"body-of-{method}".encode() if method in ("POST", "PUT", "PATCH") else b""
        target = f"/m/{index}?method={method}"
        response = client.request(h.http_request(method, target, body=body), method)
        seen = upstream.wait_requests(index + 1)
        got = seen[index] if len(seen) > index else None
        suite.equal(f"{method}: client status", response.status, 200)
        suite.check(f"{method}: upstream saw the method, target and body",
                    got is not None and (got.method, got.target, got.body) ==
                    (method, target, body),
                    got and (got.method, got.target, got.body))
        if method == "HEAD":
            suite.equal("HEAD: no body relayed", response.body, b"")
            suite.check("HEAD: Content-Length of the GET kept",
                        response.header("content-length") == str(
                            len(h.echo_body(got))) if got else False, response.headers)
        else:
            suite.check(f"{method}: client got the upstream's body",
                        got is not None and response.body == h.echo_body(got), response.body)


@suite.case
def options_asterisk_form():
    upstream, proxy = start()
    response, _ = h.one_request(proxy.port, h.http_request("OPTIONS", "*"))
    seen = upstream.wait_requests(1)
    suite.equal("status", response.status, 200)
    suite.check("upstream saw OPTIONS *", bool(seen) and seen[0].target == "*",
                seen and seen[0].start_line)


@suite.case
def target_is_forwarded_byte_for_byte():
    upstream, proxy = start()
    client = proxy.client()
    targets = ["/", "/a/b%20c/../d?x=1&y=%2F&z=", "/%E2%82%AC?q=a+b",
               "/path;param=1?" + "k=v&" * 200, "http://upstream.test/absolute?x=1"]
    for index, target in enumerate(targets):
        response = client.request(h.http_request("GET", target))
        seen = upstream.wait_requests(index + 1)
        suite.equal(f"target {index}: status", response.status, 200)
        if target.startswith("http://"):
            # absolute-form: a gateway may forward it as is or as origin-form with the path.
            ok = len(seen) > index and seen[index].target in (target, "/absolute?x=1")
        else:
            ok = len(seen) > index and seen[index].target == target
        suite.check(f"target {index}: upstream saw it unchanged", ok,
                    seen[index].target if len(seen) > index else "no request")


@suite.case
def host_is_kept_and_forwarded_headers_are_set():
    upstream, proxy = start()
    client = proxy.client()
    client.request(h.http_request("GET", "/", host="app.example:8443"))
    client.request(h.http_request("GET", "/", host="app.example",
                                  headers=[("X-Forwarded-For", "203.0.113.7")]))
    client.request(h.http_request("GET", "/", host="app.example",
                                  headers=[("X-Forwarded-For", "203.0.113.7, 198.51.100.2")]))
    seen = upstream.wait_requests(3)
    if len(seen) < 3:
        suite.check("three requests reached the upstream", False, len(seen))
        return
    first, second, third = seen

    # Several field lines of one name are one comma-separated list (RFC 9110, 5.3).
    def joined(request, name):
        return ", ".join(request.all(name))

    suite.equal("Host kept", first.all("host"), ["app.example:8443"])
    suite.equal("X-Forwarded-For set to the client", joined(first, "x-forwarded-for"),
                "127.0.0.1")
    suite.equal("X-Forwarded-Proto is http", first.all("x-forwarded-proto"), ["http"])
    suite.equal("X-Forwarded-Host is the Host", first.all("x-forwarded-host"),
                ["app.example:8443"])
    suite.equal("X-Forwarded-For appended to an existing value",
                joined(second, "x-forwarded-for"), "203.0.113.7, 127.0.0.1")
    suite.equal("X-Forwarded-For appended to a list", joined(third, "x-forwarded-for"),
                "203.0.113.7, 198.51.100.2, 127.0.0.1")


@suite.case
def untrusted_forwarded_proto_and_host_are_replaced():
    upstream, proxy = start(trust_forwarded=False)
    h.one_request(proxy.port, h.http_request(
        "GET", "/", host="real.example",
        headers=[("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "evil.example")]))
    seen = upstream.wait_requests(1)
    if not seen:
        suite.check("request reached the upstream", False)
        return
    suite.equal("X-Forwarded-Proto replaced", seen[0].all("x-forwarded-proto"), ["http"])
    suite.equal("X-Forwarded-Host replaced", seen[0].all("x-forwarded-host"),
                ["real.example"])


@suite.case
def trusted_forwarded_proto_and_host_are_kept():
    upstream, proxy = start(trust_forwarded=True)
    h.one_request(proxy.port, h.http_request(
        "GET", "/", host="internal.example",
        headers=[("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "public.example"),
                 ("X-Forwarded-For", "198.51.100.9")]))
    seen = upstream.wait_requests(1)
    if not seen:
        suite.check("request reached the upstream", False)
        return
    suite.equal("X-Forwarded-Proto kept", seen[0].all("x-forwarded-proto"), ["https"])
    suite.equal("X-Forwarded-Host kept", seen[0].all("x-forwarded-host"), ["public.example"])
    suite.equal("X-Forwarded-For still appended", ", ".join(seen[0].all("x-forwarded-for")),
                "198.51.100.9, 127.0.0.1")


@suite.case
def end_to_end_fields_are_forwarded_exactly():
    upstream, proxy = start()
    headers = [("X-Multi", "first"), ("X-Other", "between"), ("X-Multi", "second"),
               ("X-Latin", "caf\xe9 cr\xe8me"), ("X-Spaces", "a  b\tc"),
               ("Cookie", "a=1; b=2"), ("Authorization", "Bearer not-a-real-token"),
               ("X-Long", "L" * 8000)]
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/fields", headers=headers))
    suite.equal("status", response.status, 200)
    seen = upstream.wait_requests(1)
    if not seen:
        suite.check("request reached the upstream", False)
        return
    got = seen[0]
    suite.equal("repeated fields kept in order", got.all("x-multi"), ["first", "second"])
    suite.equal("obs-text bytes kept", got.all("x-latin"), ["caf\xe9 cr\xe8me"])
    suite.equal("inner whitespace kept", got.all("x-spaces"), ["a  b\tc"])
    suite.equal("Cookie kept", got.all("cookie"), ["a=1; b=2"])
    suite.equal("Authorization kept (no auth configured)", got.all("authorization"),
                ["Bearer not-a-real-token"])
    suite.equal("8000-byte value kept", got.all("x-long"), ["L" * 8000])
    order = [name for name in got.names() if name in ("x-multi", "x-other")]
    suite.equal("relative order of fields kept", order, ["x-multi", "x-other", "x-multi"])


@suite.case
def empty_field_values_are_forwarded():
    # RFC 9110, 5.5: a field value may be empty; that is not line folding.
    upstream, proxy = start()
    cases = [("last field", b"GET /e1 HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\r\n"),
             ("with a space", b"GET /e2 HTTP/1.1\r\nHost: a\r\nX-Empty: \r\n\r\n"),
             ("between fields", b"GET /e3 HTTP/1.1\r\nX-Empty:\r\nHost: a\r\n\r\n")]
    for index, (name, data) in enumerate(cases):
        response, _ = h.one_request(proxy.port, data)
        suite.check(f"{name}: served", response.status == 200, response.body[:100])
        seen = [r for r in upstream.requests() if r.target == f"/e{index + 1}"]
        suite.check(f"{name}: upstream got the empty field",
                    len(seen) == 1 and seen[0].all("x-empty") == [""],
                    seen and seen[0].headers)


@suite.case
def hop_by_hop_request_headers_are_removed():
    upstream, proxy = start()
    headers = [("Connection", "keep-alive, X-Hop-One, x-hop-two"), ("X-Hop-One", "1"),
               ("X-HOP-TWO", "2"), ("Keep-Alive", "timeout=5, max=100"),
               ("Proxy-Connection", "keep-alive"), ("TE", "gzip"), ("Trailer", "X-Sum"),
               ("Upgrade", "websocket"), ("X-End-To-End", "kept"),
               ("Proxy-Authorization", "Basic Zm9vOmJhcg==")]
    response, client = h.one_request(proxy.port, h.http_request("GET", "/hop",
                                                                headers=headers))
    seen = upstream.wait_requests(1)
    suite.equal("status", response.status, 200)
    if not seen:
        suite.check("request reached the upstream", False)
        return
    got = seen[0]
    for name in ("x-hop-one", "x-hop-two", "keep-alive", "proxy-connection", "te", "trailer",
                 "upgrade"):
        suite.check(f"{name} removed", not got.has(name), got.all(name))
    suite.check("Connection carries no client tokens",
                not set(got.tokens("connection")) & {"x-hop-one", "x-hop-two", "upgrade"},
                got.all("connection"))
    suite.equal("end-to-end header kept", got.all("x-end-to-end"), ["kept"])
    suite.check("client connection still usable",
                client.request(h.http_request("GET", "/again")).status == 200)


@suite.case
def te_trailers_is_kept():
    upstream, proxy = start()
    h.one_request(proxy.port, h.http_request("GET", "/", headers=[("TE", "trailers")]))
    h.one_request(proxy.port, h.http_request("GET", "/", headers=[("TE", "gzip, trailers")]))
    seen = upstream.wait_requests(2)
    if len(seen) < 2:
        suite.check("requests reached the upstream", False, len(seen))
        return
    suite.equal("TE: trailers forwarded", seen[0].tokens("te"), ["trailers"])
    suite.check("and named in Connection (it is hop-by-hop)", "te" in seen[0].tokens("connection"),
                seen[0].all("connection"))
    suite.equal("TE: gzip, trailers reduced to trailers", seen[1].tokens("te"), ["trailers"])


@suite.case
def client_connection_close_is_honoured():
    upstream, proxy = start()
    response, client = h.one_request(proxy.port, h.http_request(
        "GET", "/", headers=[("Connection", "close")]))
    suite.equal("status", response.status, 200)
    suite.check("response says Connection: close", "close" in response.tokens("connection"),
                response.headers)
    suite.check("proxy closes the client connection", client.closed(5))
    seen = upstream.wait_requests(1)
    suite.check("upstream did not get the client's Connection: close",
                bool(seen) and "close" not in seen[0].tokens("connection"),
                seen and seen[0].all("connection"))


@suite.case
def hop_by_hop_response_headers_are_removed():
    headers = [("Connection", "X-Secret-Hop"), ("X-Secret-Hop", "1"),
               ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"),
               ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-App", "kept")]
    upstream, proxy = start(h.fixed(h.http_response(200, headers, b"payload")))
    response, client = h.one_request(proxy.port, h.http_request("GET", "/"))
    suite.equal("status", response.status, 200)
    suite.equal("body", response.body, b"payload")
    for name in ("x-secret-hop", "keep-alive", "proxy-connection"):
        suite.check(f"{name} removed from the response", not response.has(name),
                    response.all(name))
    suite.equal("both Set-Cookie kept in order", response.all("set-cookie"), ["a=1", "b=2"])
    suite.equal("end-to-end header kept", response.all("x-app"), ["kept"])


@suite.case
def keep_alive_is_reused_on_both_sides():
    upstream, proxy = start()
    count = 0
    for round_index in range(3):
        client = proxy.client()
        for index in range(4):
            response = client.request(h.http_request("GET", f"/ka/{round_index}/{index}"))
            suite.check(f"client {round_index} request {index}: 200 on the same connection",
                        response.status == 200 and not client.reader.eof, response.status)
            count += 1
        client.close()
    seen = upstream.wait_requests(count)
    suite.equal("upstream saw every request", len(seen), count)
    suite.check("upstream saw fewer connections than requests",
                upstream.connection_count() < count,
                f"{upstream.connection_count()} connections for {count} requests")
    suite.check("upstream connections are reused across client connections",
                upstream.connection_count() < 3,
                f"{upstream.connection_count()} upstream connections for 3 sequential clients")


@suite.case
def pipelined_requests_are_answered_in_order():
    upstream, proxy = start(h.slow(0.05))
    client = proxy.client()
    batch = b"".join([
        h.http_request("GET", "/p/1"),
        h.http_request("POST", "/p/2", body=b"second"),
        h.http_request("HEAD", "/p/3"),
        h.http_request("GET", "/p/4"),
        h.http_request("DELETE", "/p/5"),
    ])
    client.send(batch)
    expected = [("GET", "/p/1", b""), ("POST", "/p/2", b"second"), ("HEAD", "/p/3", b""),
                ("GET", "/p/4", b""), ("DELETE", "/p/5", b"")]
    for index, (method, target, body) in enumerate(expected):
        try:
            response = client.response(method)
        except h.IncompleteMessage as error:
            suite.check(f"pipelined response {index}", False, error)
            return
        want = b"" if method == "HEAD" else f"{method} {target} {len(body)} {h.digest(body)}"\
            .encode()
        suite.check(f"pipelined response {index} is for {method} {target}",
                    response.status == 200 and response.body == want, response.body)
    seen = upstream.wait_requests(len(expected))
    suite.equal("upstream got them in order", [(r.method, r.target, r.body) for r in seen],
                expected)


@suite.case
def pipeline_stops_at_connection_close():
    upstream, proxy = start()
    client = proxy.client()
    client.send(h.http_request("GET", "/pc/1") +
                h.http_request("GET", "/pc/2", headers=[("Connection", "close")]) +
                h.http_request("GET", "/pc/3"))
    first = client.response()
    second = client.response()
    suite.check("first two answered in order", first.body.startswith(b"GET /pc/1 ") and
                second.body.startswith(b"GET /pc/2 "), (first.body, second.body))
    suite.check("second says Connection: close", "close" in second.tokens("connection"),
                second.headers)
    suite.check("connection closed after the second", client.closed(5))
    suite.equal("nothing after the close reaches the client", bytes(client.reader.buf), b"")
    time.sleep(0.2)
    suite.equal("upstream never saw the request after Connection: close",
                [r.target for r in upstream.requests()], ["/pc/1", "/pc/2"])


@suite.case
def response_status_and_fields_are_relayed():
    headers = [("X-Latin", "caf\xe9"), ("Cache-Control", "no-store"), ("X-Empty", ""),
               ("Date", "Thu, 01 Jan 2026 00:00:00 GMT"), ("Server", "recording-upstream")]
    cases = [(200, b"ok"), (201, b"created"), (299, b"odd"), (404, b"missing"),
             (500, b"boom"), (503, b"busy")]
    for status, body in cases:
        upstream, proxy = start(h.fixed(h.http_response(status, headers, body)))
        response, client = h.one_request(proxy.port, h.http_request("GET", f"/s{status}"))
        suite.equal(f"{status}: status relayed", response.status, status)
        suite.equal(f"{status}: body relayed", response.body, body)
        suite.equal(f"{status}: obs-text kept", response.all("x-latin"), ["caf\xe9"])
        suite.equal(f"{status}: empty value kept", response.all("x-empty"), [""])
        suite.equal(f"{status}: Date kept", response.all("date"), [headers[3][1]])
        again = client.request(h.http_request("GET", "/again"))
        suite.equal(f"{status}: connection reusable", again.status, status)
        h.release_all()


@suite.case
def bodiless_responses_keep_the_connection_usable():
    upstream, proxy = start(routed)
    client = proxy.client()
    cases = [("HEAD", "/status/200", 200), ("GET", "/status/204", 204),
             ("GET", "/status/304", 304), ("HEAD", "/status/head-chunked", 200)]
    for method, target, status in cases:
        response = client.request(h.http_request(method, target,
                                                 headers=[("If-None-Match", '"v1"')]), method)
        suite.equal(f"{method} {target}: status", response.status, status)
        suite.equal(f"{method} {target}: no body", response.body, b"")
        follow = client.request(h.http_request("GET", f"/after{target}"))
        suite.check(f"{method} {target}: next request on the connection works",
                    follow.status == 200 and follow.body.startswith(b"GET /after"),
                    follow.start_line + " " + repr(follow.body))
    extra = client.recv_some(0.3)
    suite.equal("no stray bytes after the bodiless responses", extra, b"")


@suite.case
def chunked_response_is_relayed():
    chunks = [b"a" * 1, b"b" * 100, b"c" * 5000, h.pattern_bytes(0, 70000)]
    wire = h.http_response(200, [("Transfer-Encoding", "chunked")], content_length=False) + \
        h.chunked_body(chunks)
    upstream, proxy = start(h.fixed(wire))
    client = proxy.client()
    for index in range(2):
        response = client.request(h.http_request("GET", f"/chunked/{index}"))
        suite.equal(f"response {index}: status", response.status, 200)
        suite.check(f"response {index}: body intact", response.body == b"".join(chunks),
                    f"{len(response.body)} bytes")
        suite.check(f"response {index}: exactly one framing",
                    response.has("content-length") != response.has("transfer-encoding"),
                    response.headers)


@suite.case
def http_1_0_client_gets_close_semantics():
    chunked = h.http_response(200, [("Transfer-Encoding", "chunked")], content_length=False) + \
        h.chunked_body([b"hello ", b"old ", b"client"])
    upstream, proxy = start(h.fixed(chunked))
    response, client = h.one_request(proxy.port,
                                     h.http_request("GET", "/old", version="HTTP/1.0"))
    suite.equal("status", response.status, 200)
    suite.check("not chunked to an HTTP/1.0 client", not response.chunked, response.headers)
    suite.equal("body", response.body, b"hello old client")
    suite.check("connection closed after the response", client.closed(5))
    seen = upstream.wait_requests(1)
    suite.check("upstream got the request", len(seen) == 1)
    suite.check("upstream got exactly one Host", len(seen) == 1 and
                len(seen[0].all("host")) == 1 and seen[0].header("host") != "",
                seen and seen[0].all("host"))

    # Without Host, an HTTP/1.0 request still reaches the upstream with one.
    response, client = h.one_request(proxy.port, h.http_request(
        "GET", "/old-nohost", version="HTTP/1.0", host=None))
    suite.equal("no Host: status", response.status, 200)
    seen = upstream.wait_requests(2)
    suite.check("no Host: upstream got exactly one non-empty Host",
                len(seen) == 2 and len(seen[1].all("host")) == 1 and
                seen[1].header("host") != "", len(seen) == 2 and seen[1].headers)

    # With keep-alive asked for, the proxy may keep the connection, but then it must say so
    # and frame the body with a length.
    response, client = h.one_request(proxy.port, h.http_request(
        "GET", "/old-ka", version="HTTP/1.0", headers=[("Connection", "keep-alive")]))
    suite.equal("keep-alive: status", response.status, 200)
    suite.equal("keep-alive: body", response.body, b"hello old client")
    if "keep-alive" in response.tokens("connection"):
        suite.check("keep-alive: framed by Content-Length", response.has("content-length"),
                    response.headers)
        again = client.request(h.http_request("GET", "/old-ka2", version="HTTP/1.0",
                                              headers=[("Connection", "keep-alive")]))
        suite.equal("keep-alive: second request served", again.status, 200)
    else:
        suite.check("keep-alive declined: connection closed", client.closed(5))


@suite.case
def curl_get_and_post():
    upstream, proxy = start()
    done = h.curl(["-i", proxy.url("/curl/get?x=1")])
    suite.equal("GET: curl exit code", done.returncode, 0)
    suite.check("GET: 200 and the upstream's body",
                b" 200 " in done.stdout.split(b"\r\n", 1)[0] and
                done.stdout.endswith(b"GET /curl/get?x=1 0 " + h.digest(b"").encode()),
                done.stdout[-200:] + done.stderr)
    payload = b"field=value&other=" + b"x" * 500
    done = h.curl(["--data-binary", payload.decode(), proxy.url("/curl/post")])
    suite.equal("POST: curl exit code", done.returncode, 0)
    suite.equal("POST: upstream echo", done.stdout,
                f"POST /curl/post {len(payload)} {h.digest(payload)}".encode())
    seen = upstream.wait_requests(2)
    suite.check("POST: upstream got the exact body", len(seen) == 2 and seen[1].body == payload)


if __name__ == "__main__":
    suite.run()

"""Framing and smuggling attempts against the real binary. Every malformed request must get a
400 with Connection: close and a closed connection, and the upstream must see none of its
bytes: a request the proxy cannot frame with certainty is never forwarded."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402

suite = h.Suite("proxy_framing")

HEAD = b"POST /target HTTP/1.1\r\nHost: upstream.test\r\n"
GET = b"GET /target HTTP/1.1\r\nHost: upstream.test\r\n"

# (name, exact bytes). Each is sent in one write so the proxy sees it whole.
ATTACKS = [
    ("Content-Length with Transfer-Encoding",
     HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    ("Transfer-Encoding with Content-Length",
     HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n"),
    ("two different Content-Lengths",
     HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"),
    ("Content-Length list", HEAD + b"Content-Length: 5, 6\r\n\r\nhello!"),
    ("Content-Length not a number", HEAD + b"Content-Length: 1e3\r\n\r\nhello"),
    ("negative Content-Length", HEAD + b"Content-Length: -1\r\n\r\nhello"),
    ("signed Content-Length", HEAD + b"Content-Length: +5\r\n\r\nhello"),
    ("hex Content-Length", HEAD + b"Content-Length: 0x5\r\n\r\nhello"),
    ("empty Content-Length", HEAD + b"Content-Length:\r\n\r\n"),
    ("Content-Length overflow",
     HEAD + b"Content-Length: 99999999999999999999999\r\n\r\nhello"),
    ("chunk size not hex",
     HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"),
    ("chunk size overflow",
     HEAD + b"Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff1\r\nhello\r\n0\r\n\r\n"),
    ("negative chunk size",
     HEAD + b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n"),
    ("chunk without CRLF after data",
     HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"),
    ("Transfer-Encoding: chunked, identity",
     HEAD + b"Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ("chunked then another coding in a second field",
     HEAD + b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n"
     b"5\r\nhello\r\n0\r\n\r\n"),
    ("Transfer-Encoding not ending in chunked",
     HEAD + b"Transfer-Encoding: gzip\r\n\r\nhello"),
    ("Transfer-Encoding : chunked (space before colon)",
     HEAD + b"Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ("Content-Length : 5 (space before colon)", HEAD + b"Content-Length : 5\r\n\r\nhello"),
    ("tab before colon", GET + b"X-Name\t: value\r\n\r\n"),
    ("obs-fold continuation line", GET + b"X-Folded: first\r\n second\r\n\r\n"),
    ("obs-fold after Transfer-Encoding",
     HEAD + b"Transfer-Encoding:\r\n chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    ("space inside a header name", GET + b"X-Na me: value\r\n\r\n"),
    ("control char in a header name", GET + b"X-Na\x01me: value\r\n\r\n"),
    ("separator in a header name", GET + b"X-Na(me): value\r\n\r\n"),
    ("non-ASCII byte in a header name", GET + b"X-N\xc3\xa4me: value\r\n\r\n"),
    ("empty header name", GET + b": value\r\n\r\n"),
    ("control char in a header value", GET + b"X-Name: a\x01b\r\n\r\n"),
    ("DEL in a header value", GET + b"X-Name: a\x7fb\r\n\r\n"),
    ("NUL in a header value", GET + b"X-Name: a\x00b\r\n\r\n"),
    ("bare CR in a header value", GET + b"X-Name: a\rb\r\n\r\n"),
    ("line without a colon", GET + b"X-Name value\r\n\r\n"),
    ("space before the first header", GET + b" X-Name: value\r\n\r\n"),
    ("bad method characters", b"G@T /target HTTP/1.1\r\nHost: upstream.test\r\n\r\n"),
    ("two spaces in the request line", b"GET  /target HTTP/1.1\r\nHost: upstream.test\r\n\r\n"),
    ("control char in the target", b"GET /ta\x01rget HTTP/1.1\r\nHost: upstream.test\r\n\r\n"),
    ("space in the target", b"GET /ta rget HTTP/1.1\r\nHost: upstream.test\r\n\r\n"),
    ("NUL in the target", b"GET /ta\x00rget HTTP/1.1\r\nHost: upstream.test\r\n\r\n"),
    ("bad version", b"GET /target HTTP/1.x\r\nHost: upstream.test\r\n\r\n"),
    ("garbage after the version", b"GET /target HTTP/1.1 x\r\nHost: upstream.test\r\n\r\n"),
    ("binary garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40),
    ("two equal Content-Lengths",
     HEAD + b"Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello"),
    ("Transfer-Encoding in HTTP/1.0",
     b"POST /target HTTP/1.0\r\nHost: upstream.test\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"5\r\nhello\r\n0\r\n\r\n"),
    ("HTTP/1.2", b"GET /target HTTP/1.2\r\nHost: upstream.test\r\n\r\n"),
    ("HTTP/2.0 over HTTP/1 framing", b"GET /target HTTP/2.0\r\nHost: upstream.test\r\n\r\n"),
    ("CONNECT", b"CONNECT upstream.test:443 HTTP/1.1\r\nHost: upstream.test:443\r\n\r\n"),
    ("absolute-form naming another authority",
     b"GET http://other.test/target HTTP/1.1\r\nHost: upstream.test\r\n\r\n"),
    ("authority-form target outside CONNECT",
     b"GET upstream.test:80 HTTP/1.1\r\nHost: upstream.test\r\n\r\n"),
    ("asterisk target outside OPTIONS", b"GET * HTTP/1.1\r\nHost: upstream.test\r\n\r\n"),
    ("17 Connection options",
     GET + b"Connection: " + b", ".join(b"x-o%d" % i for i in range(17)) + b"\r\n\r\n"),
    ("9 X-Forwarded-For fields", GET + b"X-Forwarded-For: 192.0.2.1\r\n" * 9 + b"\r\n"),
]

# RFC 9112, 3.2: a server must answer 400 to an HTTP/1.1 request without exactly one Host.
HOST_ATTACKS = [
    ("HTTP/1.1 request without Host", b"GET /target HTTP/1.1\r\nX-A: b\r\n\r\n"),
    ("two Host fields",
     b"GET /target HTTP/1.1\r\nHost: upstream.test\r\nHost: other.test\r\n\r\n"),
]


def start():
    upstream = h.Upstream()
    proxy = h.Proxy(h.proxy_config(upstream, timeouts={"request_header": "3s"}))
    return upstream, proxy


def send_attack(proxy, data):
    """Sends `data` in one write; returns (response or None, client, error text)."""
    client = proxy.client(timeout=5)
    try:
        client.send(data)
    except OSError as error:
        return None, client, f"send failed: {error}"
    try:
        return client.response(timeout=5), client, ""
    except h.IncompleteMessage as error:
        return None, client, str(error)


def expect_rejected(proxy, upstream, name, data):
    before = upstream.total_bytes()
    response, client, error = send_attack(proxy, data)
    if response is None:
        suite.check(f"{name}: answered 400", False, f"no response ({error})")
        suite.check(f"{name}: connection closed", client.closed(5))
    else:
        h.check_proxy_error(suite, name, response, 400, client)
    time.sleep(0.05)
    leaked = upstream.total_bytes() - before
    suite.check(f"{name}: upstream saw nothing", leaked == 0,
                f"{leaked} bytes reached the upstream: {upstream.all_raw()[before:][:300]!r}")


@suite.case
def malformed_requests_are_refused_before_forwarding():
    upstream, proxy = start()
    for name, data in ATTACKS:
        expect_rejected(proxy, upstream, name, data)
    suite.check("proxy still alive", proxy.alive())
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/after-attacks"))
    suite.equal("a valid request still works", response.status, 200)


@suite.case
def host_field_must_be_unique():
    upstream, proxy = start()
    for name, data in HOST_ATTACKS:
        expect_rejected(proxy, upstream, name, data)


@suite.case
def smuggled_request_after_an_attack_is_never_forwarded():
    # If the proxy mis-framed the first request, the second one would reach the upstream.
    upstream, proxy = start()
    smuggled = b"GET /smuggled HTTP/1.1\r\nHost: upstream.test\r\n\r\n"
    cases = [
        ("CL.TE", HEAD + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("TE.CL", HEAD + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"),
        ("TE with space", HEAD + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n"),
        ("TE obfuscated", HEAD + b"Transfer-Encoding: xchunked\r\nContent-Length: 3\r\n\r\n"
                                 b"0\r\n\r\n"),
    ]
    for name, data in cases:
        expect_rejected(proxy, upstream, name, data + smuggled)
    suite.check("no request ever reached the upstream", not upstream.requests(),
                [r.start_line for r in upstream.requests()])


@suite.case
def bare_lf_is_refused_or_normalised():
    # RFC 9112, 2.2 lets a recipient accept a bare LF as a line end; a proxy that does must
    # not forward one, or the upstream may split the message differently.
    upstream, proxy = start()
    cases = [
        ("bare LF line ends", b"GET /lf HTTP/1.1\nHost: upstream.test\nX-A: b\n\n"),
        ("bare LF inside the header block",
         b"GET /lf HTTP/1.1\r\nHost: upstream.test\r\nX-A: a\nX-B: b\r\n\r\n"),
        ("bare LF after the chunk size",
         HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n"),
    ]
    for name, data in cases:
        before = upstream.total_bytes()
        response, client, error = send_attack(proxy, data)
        if response is not None and response.status == 400:
            h.check_proxy_error(suite, name, response, 400, client)
            time.sleep(0.05)
            suite.equal(f"{name}: refused and upstream saw nothing",
                        upstream.total_bytes() - before, 0)
            continue
        suite.check(f"{name}: answered", response is not None, error)
        time.sleep(0.1)
        forwarded = upstream.all_raw()[before:]
        suite.check(f"{name}: accepted, and no bare LF reached the upstream",
                    forwarded.replace(b"\r\n", b"").find(b"\n") < 0, repr(forwarded[:300]))


@suite.case
def limits_of_list_fields_are_not_off_by_one():
    # The refusals above at 17 options and 9 fields must not catch 16 and 8.
    upstream, proxy = start()
    cases = [
        ("16 Connection options",
         GET + b"Connection: " + b", ".join(b"x-o%d" % i for i in range(16)) + b"\r\n\r\n"),
        ("8 X-Forwarded-For fields", GET + b"X-Forwarded-For: 192.0.2.1\r\n" * 8 + b"\r\n"),
    ]
    for name, data in cases:
        response, _, error = send_attack(proxy, data)
        suite.check(f"{name}: served", response is not None and response.status == 200,
                    error or response.start_line)


@suite.case
def bad_chunk_after_the_head_was_forwarded_aborts_the_upstream_request():
    # Once the head is gone the proxy cannot take it back: the client gets an error or a
    # close, and the half-sent upstream request must be abandoned, never reused.
    upstream, proxy = start()
    client = proxy.client(timeout=10)
    client.send(HEAD + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    conns = upstream.wait_connections(1, timeout=5)
    got_head = h.wait_for(lambda: conns and b"\r\n\r\n" in conns[0].raw, 5)
    suite.check("head forwarded while the body streams", got_head,
                conns and conns[0].raw[:200])
    time.sleep(0.2)
    client.send(b"zz\r\nbad\r\n0\r\n\r\n")
    try:
        response = client.response("POST", timeout=5)
        suite.check("client got 400 or a close", response.status == 400, response.start_line)
    except h.IncompleteMessage:
        suite.check("client got 400 or a close", True)
    suite.check("client connection closed", client.closed(5))
    if conns:
        suite.check("upstream connection of the broken request is closed",
                    h.wait_for(lambda: conns[0].reader.eof, 5))
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/fresh"))
    suite.equal("next request is served", response.status, 200)
    seen = upstream.requests()
    suite.check("upstream never parsed the broken body as a request",
                all(r.target in ("/target", "/fresh") for r in seen),
                [r.start_line for r in seen])


if __name__ == "__main__":
    suite.run()

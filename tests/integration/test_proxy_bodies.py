"""Request and response bodies through the real binary: exact bytes for every framing and size,
bodies that arrive in pieces, 100-continue, curl uploads, and bounded memory while a slow peer
holds up a 50 MB stream in either direction."""

import hashlib
import os
import random
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402

suite = h.Suite("proxy_bodies")

MIB = 1024 * 1024
# The proxy may hold a few buffers per connection, never the stream.
RSS_LIMIT_KB = 40 * 1024
RSS_GROWTH_LIMIT_KB = 32 * 1024


def start(respond=h.echo, on_head=None, env=None, **config):
    upstream = h.Upstream(h.serve(respond, on_head=on_head))
    proxy = h.Proxy(h.proxy_config(upstream, **config), env=env)
    return upstream, proxy


def expect_echo(response, method, target, body):
    return response.status == 200 and \
        response.body == f"{method} {target} {len(body)} {h.digest(body)}".encode()


def check_single_framing(name, request):
    """What the upstream received has one framing, and a chunked one ends properly."""
    has_length = request.has("content-length")
    suite.check(f"{name}: one framing towards the upstream",
                has_length != request.chunked,
                f"Content-Length {request.all('content-length')}, "
                f"Transfer-Encoding {request.all('transfer-encoding')}")
    if has_length:
        suite.equal(f"{name}: Content-Length matches", request.header("content-length"),
                    str(len(request.body)))


@suite.case
def content_length_bodies_arrive_exactly():
    upstream, proxy = start()
    client = proxy.client(timeout=60)
    rng = random.Random(7)
    sizes = [0, 1, 2, 1000, 65536, 65537, 10 * MIB]
    for index, size in enumerate(sizes):
        body = rng.randbytes(size)
        target = f"/upload/{size}"
        request = h.http_request("POST", target, body=body, content_length=True)
        response = client.request(request, "POST", timeout=60)
        seen = upstream.wait_requests(index + 1)
        got = seen[index] if len(seen) > index else None
        suite.check(f"{size} bytes: client got the echo", expect_echo(response, "POST", target,
                                                                      body), response.body)
        suite.check(f"{size} bytes: upstream body identical", got is not None and
                    got.body == body, got and f"{len(got.body)} bytes")
        if got is not None:
            check_single_framing(f"{size} bytes", got)


@suite.case
def request_without_length_has_no_body():
    upstream, proxy = start()
    client = proxy.client()
    response = client.request(h.http_request("POST", "/nolength"))
    seen = upstream.wait_requests(1)
    suite.check("client got the echo", expect_echo(response, "POST", "/nolength", b""),
                response.body)
    suite.check("upstream saw an empty body", len(seen) == 1 and seen[0].body == b"" and
                not seen[0].chunked and seen[0].header("content-length", "0") == "0",
                seen and seen[0].headers)
    follow = client.request(h.http_request("GET", "/next"))
    suite.equal("connection still usable", follow.status, 200)


@suite.case
def chunked_request_with_many_chunks_is_dechunked_exactly():
    upstream, proxy = start()
    client = proxy.client(timeout=30)
    rng = random.Random(11)
    chunks = [rng.randbytes(rng.randint(1, 3000)) for _ in range(1500)]
    body = b"".join(chunks)
    wire = h.http_request("PUT", "/chunked", headers=[("Transfer-Encoding", "chunked")]) + \
        h.chunked_body(chunks, extensions=True)
    response = client.request(wire, "PUT", timeout=30)
    seen = upstream.wait_requests(1)
    suite.check("client got the echo", expect_echo(response, "PUT", "/chunked", body),
                response.body)
    suite.check("upstream body equals the de-chunked body",
                bool(seen) and seen[0].body == body,
                seen and f"{len(seen[0].body)} of {len(body)} bytes")
    if seen:
        check_single_framing("1500 chunks", seen[0])

    # A trailer section must not break the framing or the next request.
    wire = h.http_request("POST", "/trailers", headers=[("Transfer-Encoding", "chunked")]) + \
        h.chunked_body([b"abc", b"defg"], trailers=[("X-Checksum", "1234")])
    response = client.request(wire, "POST")
    seen = upstream.wait_requests(2)
    suite.check("trailers: client got the echo",
                expect_echo(response, "POST", "/trailers", b"abcdefg"), response.body)
    suite.check("trailers: upstream body exact", len(seen) == 2 and seen[1].body == b"abcdefg")
    follow = client.request(h.http_request("GET", "/after-trailers"))
    suite.equal("trailers: next request served", follow.status, 200)


@suite.case
def request_arriving_in_tiny_pieces_is_reassembled():
    upstream, proxy = start()
    client = proxy.client(timeout=30)
    client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    chunks = [b"piece-%d-" % i * (i + 1) for i in range(40)]
    body = b"".join(chunks)
    wire = h.http_request("POST", "/pieces?token=not-logged",
                          headers=[("Transfer-Encoding", "chunked"),
                                   ("X-Long-Header", "v" * 300)]) + h.chunked_body(chunks)
    rng = random.Random(3)
    offset = 0
    while offset < len(wire):
        step = rng.randint(1, 7)
        client.send(wire[offset:offset + step])
        offset += step
        time.sleep(0.001)
    response = client.response("POST", timeout=30)
    seen = upstream.wait_requests(1)
    suite.check("client got the echo",
                expect_echo(response, "POST", "/pieces?token=not-logged", body), response.body)
    suite.check("upstream got the header intact",
                bool(seen) and seen[0].header("x-long-header") == "v" * 300)
    suite.check("upstream got the body intact", bool(seen) and seen[0].body == body)


@suite.case
def chunked_request_streamed_with_pauses():
    upstream, proxy = start()
    client = proxy.client(timeout=30)
    client.send(h.http_request("POST", "/stream", headers=[("Transfer-Encoding", "chunked")]))
    chunks = [h.pattern_bytes(i * 1000, 1000 + i) for i in range(20)]
    for chunk in chunks:
        client.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        time.sleep(0.02)
    client.send(b"0\r\n\r\n")
    body = b"".join(chunks)
    response = client.response("POST", timeout=30)
    seen = upstream.wait_requests(1)
    suite.check("client got the echo", expect_echo(response, "POST", "/stream", body),
                response.body)
    suite.check("upstream got every byte", bool(seen) and seen[0].body == body)


def read_counting(client, method="GET", timeout=60):
    """Reads one response, hashing its body as it arrives; returns (response, size, sha)."""
    state = {"size": 0, "hash": hashlib.sha256()}

    def sink(data):
        state["size"] += len(data)
        state["hash"].update(data)

    response = client.response(method, timeout=timeout, sink=sink)
    return response, state["size"], state["hash"].hexdigest()


def pattern_digest(total):
    digest = hashlib.sha256()
    for offset in range(0, total, MIB):
        digest.update(h.pattern_bytes(offset, min(MIB, total - offset)))
    return digest.hexdigest()


@suite.case
def large_responses_are_relayed_intact():
    total = 10 * MIB
    for chunked in (False, True):
        name = "chunked" if chunked else "Content-Length"
        upstream, proxy = start(h.streamed(total, chunked=chunked))
        client = proxy.client(timeout=60)
        client.send(h.http_request("GET", "/big"))
        try:
            response, size, sha = read_counting(client)
        except h.IncompleteMessage as error:
            suite.check(f"{name}: whole response", False, error)
            continue
        suite.equal(f"{name}: status", response.status, 200)
        suite.equal(f"{name}: size", size, total)
        suite.check(f"{name}: content", sha == pattern_digest(total))
        follow = client.request(h.http_request("GET", "/after"), timeout=10)
        suite.equal(f"{name}: connection usable after", follow.status, 200)
        h.release_all()


@suite.case
def close_delimited_upstream_response_is_relayed():
    body = h.pattern_bytes(0, 300000)
    wire = h.http_response(200, [("Connection", "close")], content_length=False) + body
    upstream, proxy = start(h.cut_off(wire, pause=0.05))
    client = proxy.client(timeout=20)
    response = client.request(h.http_request("GET", "/eof-framed"))
    suite.equal("status", response.status, 200)
    suite.check("body intact", response.body == body, f"{len(response.body)} bytes")
    if not response.chunked and not response.has("content-length"):
        suite.check("close-delimited to the client: connection closed", client.reader.eof)


@suite.case
def expect_100_continue_round_trip():
    upstream, proxy = start(on_head=h.continue_on_expect)
    client = proxy.client(timeout=20)
    body = h.pattern_bytes(0, 200000)
    client.send(h.http_request("POST", "/expect", headers=[
        ("Expect", "100-continue"), ("Content-Length", str(len(body)))]))
    interim = client.response("POST", timeout=10, skip_interim=False)
    suite.equal("100 Continue before the body is sent", interim.status, 100)
    client.send(body)
    response = client.response("POST", timeout=20)
    suite.check("final response is the echo", expect_echo(response, "POST", "/expect", body),
                response.body)
    seen = upstream.wait_requests(1)
    suite.check("upstream body exact", bool(seen) and seen[0].body == body)
    suite.check("the expectation is not forwarded (the proxy answered it)",
                bool(seen) and not seen[0].has("expect"), seen and seen[0].headers)


@suite.case
def body_after_an_expectation_is_never_parsed_as_a_request():
    # The upstream answers 401 to the head alone when it sees the expectation. Whether the
    # proxy forwards the expectation or answers 100 itself, a body the client then sends must
    # be forwarded as a body, skipped, or the connection closed: never read as a request.
    def refuse_on_head(request, conn):
        if "100-continue" in request.tokens("expect"):
            conn.send(h.http_response(401, [("WWW-Authenticate", "Bearer")], b"no"))

    upstream, proxy = start(h.echo, on_head=refuse_on_head)
    smuggled = h.http_request("GET", "/smuggled-by-body")
    client = proxy.client(timeout=10)
    client.send(h.http_request("POST", "/expect", headers=[
        ("Expect", "100-continue"), ("Content-Length", str(len(smuggled)))]))
    try:
        first = client.response("POST", timeout=10, skip_interim=False)
    except h.IncompleteMessage as error:
        suite.check("an interim 100 or the final 401 arrives", False, error)
        return
    suite.check("an interim 100 or the final 401 arrives", first.status in (100, 401),
                first.start_line)
    try:
        client.send(smuggled + h.http_request("GET", "/honest-next"))
        if first.status == 100:
            answer = client.response("POST", timeout=10)
            suite.check("the POST is answered with its body as a body",
                        answer.body == f"POST /expect {len(smuggled)} {h.digest(smuggled)}"
                        .encode(), answer.body[:80])
        follow = client.response(timeout=10)
        suite.check("the next answer is for the next request",
                    follow.status == 200 and follow.body.startswith(b"GET /honest-next "),
                    follow.start_line + " " + repr(follow.body[:60]))
    except (OSError, h.IncompleteMessage):
        suite.check("connection closed instead (acceptable)", client.reader.eof)
    time.sleep(0.2)
    suite.check("the body never reached the upstream as a request",
                all(r.target != "/smuggled-by-body" for r in upstream.requests()),
                [r.start_line for r in upstream.requests()])


@suite.case
def client_abort_mid_body_abandons_the_upstream_request():
    upstream, proxy = start()
    client = proxy.client()
    client.send(h.http_request("POST", "/aborted", headers=[("Content-Length", "100000")]) +
                b"a" * 5000)
    conns = upstream.wait_connections(1, timeout=5)
    h.wait_for(lambda: conns and len(conns[0].raw) > 5000, 5)
    client.close()
    suite.check("upstream connection of the aborted request is closed",
                bool(conns) and h.wait_for(lambda: conns[0].reader.eof, 5))
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/after-abort"))
    suite.check("next client served", response.status == 200 and
                response.body.startswith(b"GET /after-abort "), response.body)
    suite.check("no request was completed from the aborted body",
                [r.target for r in upstream.requests()] == ["/after-abort"],
                [r.start_line for r in upstream.requests()])


@suite.case
def client_gone_before_the_response_does_not_misroute_it():
    state = {"first": True}

    def respond(request, conn):
        if state["first"]:
            state["first"] = False
            time.sleep(1.0)
            return h.http_response(200, [], b"answer for the client that left")
        return h.echo(request, conn)

    upstream, proxy = start(respond)
    client = proxy.client()
    client.send(h.http_request("GET", "/leaves"))
    upstream.wait_requests(1, timeout=5)
    client.close()
    time.sleep(1.5)
    for index in range(3):
        response, _ = h.one_request(proxy.port, h.http_request("GET", f"/stays/{index}"))
        suite.check(f"later client {index} gets its own answer",
                    response.status == 200 and
                    response.body.startswith(f"GET /stays/{index} ".encode()), response.body)


@suite.case
def body_answered_early_never_precedes_another_request():
    """An upstream that answers a POST from its head, before the body arrives, while the
    body and that answer reach the proxy in the same loop turn. The body must not be sent
    ahead of a later request: not on the connection that answered (pooled, it would read the
    next client's head as the rest of this body), nor on any other. The proxy is stopped
    for a moment so that both events are waiting when it runs again, as on a busy proxy."""
    smuggled = h.http_request("GET", "/smuggled", headers=[("Host", "internal")])
    head_seen = threading.Event()
    answer_now = threading.Event()
    first = {"conn": None}

    def handler(conn):
        if first["conn"] is None:
            first["conn"] = conn
            conn.reader.read_until(b"\r\n\r\n", time.monotonic() + 10)
            head_seen.set()
            answer_now.wait(10)
            conn.send(h.http_response(200, [], b"early"))
            conn.wait_eof(timeout=3)  # records whatever the proxy still sends on it
            return
        h.serve(h.echo)(conn)

    upstream = h.Upstream(handler)
    proxy = h.Proxy(h.proxy_config(upstream))
    attacker = proxy.client()
    attacker.send(h.http_request("POST", "/upload", headers=[
        ("Content-Length", str(len(smuggled)))]))
    if not suite.check("the upstream got the head", head_seen.wait(10)):
        return
    with h.frozen(proxy.pid):
        attacker.send(smuggled)  # the body: well framed, and shaped like a request
        answer_now.set()
        time.sleep(0.3)  # both wait on the proxy's sockets now
    response = attacker.response("POST")
    suite.check("the early answer reaches the client", response.body == b"early", response.body)

    victim, _ = h.one_request(proxy.port, h.http_request("GET", "/victim", headers=[
        ("Authorization", "Bearer victim-secret")]))
    second = attacker.request(h.http_request("GET", "/second"))
    suite.check("another client gets its own answer",
                victim.status == 200 and victim.body.startswith(b"GET /victim "), victim.body)
    suite.check("the same client's next request gets its own answer",
                second.status == 200 and second.body.startswith(b"GET /second "), second.body)
    suite.check("the body never reached the upstream as a request",
                "/smuggled" not in [r.target for r in upstream.requests()],
                [r.start_line for r in upstream.requests()])
    suite.check("the connection that answered early carried nothing after the POST",
                first["conn"].raw.count(b"HTTP/1.1\r\n") <= 2 and
                b"/victim" not in first["conn"].raw and b"/second" not in first["conn"].raw,
                first["conn"].raw)


def tcp_queues():
    """(local port, remote port) -> (send queue, receive queue) bytes of every IPv4 TCP
    socket on the machine, from /proc/net/tcp."""
    queues = {}
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            local, remote, sizes = fields[1], fields[2], fields[4]
            tx, rx = (int(part, 16) for part in sizes.split(":"))
            queues[(int(local.split(":")[1], 16), int(remote.split(":")[1], 16))] = (tx, rx)
    return queues


@suite.case
def client_is_read_again_after_an_early_answer_to_a_body_that_filled_the_queue():
    """Flow control stops reading the client while more than 256 KiB wait for the upstream.
    Here the read that ends the body is the one that crosses that mark, and the upstream
    answers before reading the body (then drains it). The exchange ends, so nothing will
    report that the queue emptied: the client's next request must still be read."""
    high_water = 256 * 1024
    answer_now = threading.Event()

    def handler(conn):
        if conn.index == 0:
            conn.reader.read_until(b"\r\n\r\n", time.monotonic() + 30)
            answer_now.wait(30)
            conn.send(h.http_response(200, [], b"early"))
            conn.reader.read_until(b"\r\n0\r\n\r\n", time.monotonic() + 30, limit=64 * MIB)
        h.serve(h.echo)(conn)

    upstream = h.Upstream(handler, rcvbuf=4096)
    proxy = h.Proxy(h.proxy_config(upstream, timeouts={"client_idle": "4s"}))
    client = proxy.client()
    client_port = client.sock.getsockname()[1]
    client.send(h.http_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]))
    piece = 16 * 1024 - 64
    chunk = b"%x\r\n" % piece + b"y" * piece + b"\r\n"

    # Chunk by chunk, estimate what the proxy holds in its own queue (what it read from the
    # client minus what the kernel holds towards the upstream); the last chunk goes with the
    # end of the body once it will take that queue over the mark.
    sent = 0
    crossed = False
    for _ in range(400):
        time.sleep(0.03)
        queues = tcp_queues()
        unread = queues.get((proxy.port, client_port), (0, 0))[1]
        to_upstream = sum(tx for (local, remote), (tx, _) in queues.items()
                          if remote == upstream.port)
        at_upstream = sum(rx for (local, remote), (_, rx) in queues.items()
                          if local == upstream.port)
        if unread:
            break  # the proxy stopped reading before the last chunk: no crossing this time
        queued = sent - unread - to_upstream - at_upstream
        if queued + len(chunk) > high_water + 2048:
            client.send(chunk + b"0\r\n\r\n")
            crossed = True
            break
        client.send(chunk)
        sent += len(chunk)
    if not crossed:
        raise h.Skip("could not make the last read cross the flow-control mark")
    time.sleep(0.5)
    answer_now.set()
    suite.check("the early answer arrives", client.response("POST").body == b"early")
    second = client.request(h.http_request("GET", "/second"), timeout=3)
    suite.check("the next request on the connection is answered",
                second.status == 200 and second.body.startswith(b"GET /second "), second.body)


def write_temp(data):
    handle = tempfile.NamedTemporaryFile(prefix="jwtgate-it-", delete=False)
    handle.write(data)
    handle.close()
    return handle.name


@suite.case
def curl_uploads():
    upstream, proxy = start(on_head=h.continue_on_expect)
    body = random.Random(5).randbytes(3 * MIB)
    path = write_temp(body)
    try:
        done = h.curl(["--expect100-timeout", "20", "-H", "Expect: 100-continue",
                       "--data-binary", f"@{path}", proxy.url("/curl/expect")], timeout=60)
        suite.equal("100-continue upload: curl exit code", done.returncode, 0)
        suite.equal("100-continue upload: echo", done.stdout,
                    f"POST /curl/expect {len(body)} {h.digest(body)}".encode())
        done = h.curl(["-H", "Transfer-Encoding: chunked", "--data-binary", f"@{path}",
                       proxy.url("/curl/chunked")], timeout=60)
        suite.equal("chunked upload: curl exit code", done.returncode, 0)
        suite.equal("chunked upload: echo", done.stdout,
                    f"POST /curl/chunked {len(body)} {h.digest(body)}".encode())
        done = h.curl(["-T", path, proxy.url("/curl/put")], timeout=60)
        suite.equal("PUT upload: curl exit code", done.returncode, 0)
        suite.equal("PUT upload: echo", done.stdout,
                    f"PUT /curl/put {len(body)} {h.digest(body)}".encode())
    finally:
        os.unlink(path)
    seen = upstream.wait_requests(3)
    suite.check("upstream got three exact bodies",
                len(seen) == 3 and all(r.body == body for r in seen),
                [len(r.body) for r in seen])
    for name, request in zip(("100-continue", "chunked", "PUT"), seen):
        check_single_framing(f"{name} upload", request)


def sanitizer_env():
    # A small quarantine keeps ASan from holding freed buffers, so RSS reflects live memory.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "quarantine_size_mb=4:" + env.get("ASAN_OPTIONS", "")
    return env


def check_rss(name, baseline, peak):
    if h.binary_is_sanitized():
        suite.check(f"{name}: RSS growth {peak - baseline} KiB < {RSS_GROWTH_LIMIT_KB} KiB "
                    "(sanitizer build)", peak - baseline < RSS_GROWTH_LIMIT_KB)
    else:
        suite.check(f"{name}: peak RSS {peak} KiB < {RSS_LIMIT_KB} KiB", peak < RSS_LIMIT_KB,
                    f"baseline {baseline} KiB")


@suite.case
def slow_reader_of_a_50mb_response_keeps_memory_bounded():
    total = 50 * MIB
    upstream, proxy = start(h.streamed(total), env=sanitizer_env())
    baseline = proxy.rss_kb()
    client = h.Client(proxy.port, timeout=60, rcvbuf=64 * 1024)
    client.send(h.http_request("GET", "/fifty"))
    peak = baseline

    # Read nothing for a while: an unbounded proxy would now buffer the whole stream.
    for _ in range(15):
        time.sleep(0.1)
        peak = max(peak, proxy.rss_kb())
    received = {"size": 0, "hash": hashlib.sha256(), "reads": 0}

    def sink(data):
        received["size"] += len(data)
        received["hash"].update(data)
        received["reads"] += 1
        if received["reads"] % 8 == 0:
            received["peak"] = max(received.get("peak", 0), proxy.rss_kb())
        time.sleep(0.002)

    try:
        response = client.response(timeout=90, sink=sink)
    except h.IncompleteMessage as error:
        suite.check("whole response read", False, error)
        return
    peak = max(peak, received.get("peak", 0))
    suite.equal("status", response.status, 200)
    suite.equal("all 50 MB arrived", received["size"], total)
    suite.check("content intact", received["hash"].hexdigest() == pattern_digest(total))
    check_rss("slow reader", baseline, peak)


def slow_reading_upstream(total, pace):
    """Reads the request body at a bounded pace, then answers with its size and digest."""

    def handler(conn):
        conn.reader.read_until(b"\r\n\r\n", time.monotonic() + 30)
        digest = hashlib.sha256()
        remaining = total
        time.sleep(1.5)
        while remaining:
            if not conn.reader.buf and not conn.reader.fill(time.monotonic() + 30, 32768):
                break
            piece = conn.reader.take(min(remaining, len(conn.reader.buf)))
            remaining -= len(piece)
            digest.update(piece)
            time.sleep(pace)
        body = f"{total - remaining} {digest.hexdigest()}".encode()
        conn.send(h.http_response(200, [], body))

    return handler


@suite.case
def slow_upstream_reader_of_a_50mb_upload_keeps_memory_bounded():
    total = 50 * MIB
    upstream = h.Upstream(slow_reading_upstream(total, 0.0005))
    proxy = h.Proxy(h.proxy_config(upstream), env=sanitizer_env())
    baseline = proxy.rss_kb()
    client = proxy.client(timeout=90)
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(proxy.rss_kb())
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        client.send(h.http_request("POST", "/fifty-up",
                                   headers=[("Content-Length", str(total))]))
        for offset in range(0, total, MIB):
            client.send(h.pattern_bytes(offset, MIB))
        response = client.response("POST", timeout=90)
    finally:
        stop.set()
        sampler.join(timeout=2)
    suite.equal("status", response.status, 200)
    suite.equal("upstream read every byte intact", response.body,
                f"{total} {pattern_digest(total)}".encode())
    check_rss("slow upstream", baseline, max(samples + [baseline]))


if __name__ == "__main__":
    suite.run()

"""Hardening of the forwarding engine against a hostile client (and a misbehaving upstream),
through the real binary: request trailers never reach the upstream, only allow-listed
upgrades become tunnels, Connection cannot remove end-to-end fields, SIGHUP is survived,
untrusted Forwarded / X-Real-IP are removed, and an invalid Host is refused."""

import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402

suite = h.Suite("proxy_hardening")

SPOOFED = [("X-User-Id", "admin"), ("X-Forwarded-For", "10.9.8.7"),
           ("Authorization", "Bearer forged"), ("X-Checksum", "1234")]


def start(**extra):
    upstream = h.Upstream(h.serve(h.echo))
    proxy = h.Proxy(h.proxy_config(upstream, **extra))
    return upstream, proxy


def nothing_upstream(upstream, wait=0.3):
    """True when the upstream received no byte (after a short settle time)."""
    time.sleep(wait)
    return upstream.total_bytes() == 0


# ---- request trailers ------------------------------------------------------------------------


@suite.case
def request_trailer_fields_are_dropped():
    upstream, proxy = start()
    client = proxy.client()
    wire = h.http_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]) + \
        h.chunked_body([b"abc", b"defg"], trailers=SPOOFED)
    response = client.request(wire, "POST")
    seen = upstream.wait_requests(1)
    suite.equal("status", response.status, 200)
    if not suite.check("request reached the upstream", len(seen) == 1, len(seen)):
        return
    got = seen[0]
    suite.equal("body forwarded exactly", got.body, b"abcdefg")
    suite.check("body still chunked upstream", got.chunked, got.headers)
    suite.equal("empty trailer section upstream", got.trailers, [])
    raw = upstream.all_raw().lower()
    for name, _ in SPOOFED:
        if name.lower() == "x-forwarded-for":
            continue  # the proxy's own X-Forwarded-For is in the head
        suite.check(f"{name} from the trailers not in the upstream bytes",
                    name.lower().encode() not in raw, raw[-200:])
    suite.check("X-Forwarded-For carries only the client address",
                got.all("x-forwarded-for") == ["127.0.0.1"], got.all("x-forwarded-for"))
    suite.check("upstream bytes end with the last chunk", raw.endswith(b"0\r\n\r\n"), raw[-40:])
    follow = client.request(h.http_request("GET", "/after"))
    suite.equal("the connection serves the next request", follow.status, 200)


@suite.case
def trailer_bytes_count_against_the_body_limit():
    upstream, proxy = start(limits={"max_body_bytes": "1KiB"})
    client = proxy.client()
    trailers = [(f"X-Pad-{i}", "p" * 100) for i in range(20)]
    wire = h.http_request("POST", "/upload", headers=[("Transfer-Encoding", "chunked")]) + \
        h.chunked_body([b"small"], trailers=trailers)
    response = client.request(wire, "POST")
    h.check_proxy_error(suite, "oversized trailer section", response, 413, client)
    suite.check("no trailer field reached the upstream",
                b"x-pad-" not in upstream.all_raw().lower(), upstream.all_raw()[-200:])


@suite.case
def response_trailers_still_reach_the_client():
    def respond(request, conn):
        conn.send(h.http_response(200, [("Transfer-Encoding", "chunked"),
                                        ("Trailer", "Grpc-Status")], content_length=False) +
                  h.chunked_body([b"payload"], trailers=[("Grpc-Status", "0"),
                                                         ("Grpc-Message", "ok")]))
        return h.HANDLED

    upstream = h.Upstream(h.serve(respond))
    proxy = h.Proxy(h.proxy_config(upstream))
    response, _ = h.one_request(proxy.port, h.http_request("POST", "/svc", headers=[
        ("TE", "trailers"), ("Content-Type", "application/grpc")], body=b"x"))
    suite.equal("status", response.status, 200)
    suite.equal("body", response.body, b"payload")
    suite.equal("response trailers forwarded", response.trailers,
                [("Grpc-Status", "0"), ("Grpc-Message", "ok")])


# ---- upgrades -------------------------------------------------------------------------------


def switching_upstream(answer_upgrade):
    """Answers 101 with `answer_upgrade` (a list of header pairs) to any request that carries
    an Upgrade field, then records whatever arrives; other requests get the echo."""

    def respond(request, conn):
        if not request.has("upgrade"):
            return h.echo(request, conn)
        conn.send(h.http_response(101, [("Connection", "Upgrade")] + answer_upgrade,
                                  content_length=False))
        end = time.monotonic() + 2
        while time.monotonic() < end and not conn.reader.eof:
            conn.read_some(timeout=0.2)
        return h.HANDLED

    return respond


SMUGGLED = h.http_request("GET", "/admin", headers=[("X-User-Id", "admin")])


@suite.case
def h2c_upgrade_is_stripped_and_the_request_stays_http():
    upstream = h.Upstream(h.serve(switching_upstream([("Upgrade", "h2c")])))
    proxy = h.Proxy(h.proxy_config(upstream))
    client = proxy.client()
    wire = h.http_request("GET", "/", headers=[("Connection", "Upgrade, HTTP2-Settings"),
                                               ("Upgrade", "h2c"),
                                               ("HTTP2-Settings", "AAMAAABkAAQAAP__")])
    client.send(wire + SMUGGLED)
    first = client.response()
    suite.equal("ordinary response to the h2c offer", first.status, 200)
    seen = upstream.wait_requests(1)
    if not suite.check("request reached the upstream", len(seen) >= 1, len(seen)):
        return
    suite.check("Upgrade removed", not seen[0].has("upgrade"), seen[0].headers)
    suite.check("Connection carries no upgrade",
                "upgrade" not in seen[0].tokens("connection"), seen[0].all("connection"))
    second = client.response()
    suite.equal("the pipelined request is answered as HTTP", second.status, 200)
    seen = upstream.wait_requests(2)
    suite.check("the pipelined request was parsed and re-serialised by the proxy",
                len(seen) == 2 and seen[1].target == "/admin" and
                seen[1].all("x-forwarded-for") == ["127.0.0.1"],
                [(r.target, r.headers) for r in seen])


@suite.case
def mixed_offer_keeps_only_allowed_protocols():
    upstream = h.Upstream(h.serve(h.upgrade_echo))
    proxy = h.Proxy(h.proxy_config(upstream))
    client = proxy.client()
    response = client.request(h.http_request("GET", "/ws", headers=[
        ("Connection", "Upgrade"), ("Upgrade", "h2c, WebSocket, foo/1")]))
    suite.equal("101 relayed", response.status, 101)
    seen = upstream.wait_requests(1)
    suite.check("upstream saw only the allowed protocol",
                bool(seen) and seen[0].all("upgrade") == ["WebSocket"],
                seen and seen[0].all("upgrade"))


@suite.case
def switch_to_a_protocol_not_offered_is_refused():
    upstream = h.Upstream(h.serve(switching_upstream([("Upgrade", "h2c")])))
    proxy = h.Proxy(h.proxy_config(upstream))
    client = proxy.client()
    wire = h.http_request("GET", "/ws", headers=[("Connection", "Upgrade"),
                                                 ("Upgrade", "websocket")])
    client.send(wire)
    response = client.response()
    h.check_proxy_error(suite, "101 naming h2c", response, 502, client)
    time.sleep(0.3)
    raw = upstream.all_raw()
    suite.check("upstream received only the upgrade request", raw.count(b"GET ") == 1, raw)


@suite.case
def switch_without_upgrade_field_is_refused():
    upstream = h.Upstream(h.serve(switching_upstream([])))
    proxy = h.Proxy(h.proxy_config(upstream))
    client = proxy.client()
    wire = h.http_request("GET", "/ws", headers=[("Connection", "Upgrade"),
                                                 ("Upgrade", "websocket")])
    response = client.request(wire)
    h.check_proxy_error(suite, "101 without Upgrade", response, 502, client)
    client2 = proxy.client()
    client2.send(wire)
    time.sleep(0.5)
    client2.send(SMUGGLED)
    response = client2.response()
    suite.equal("later bytes: 502", response.status, 502)
    suite.check("later bytes: connection closed", client2.closed(5))
    time.sleep(0.3)
    suite.check("the bytes sent after the request never reached the upstream",
                b"/admin" not in upstream.all_raw(), upstream.all_raw())


@suite.case
def switch_to_an_unrequested_upgrade_is_refused():
    # The upstream answers 101 although no upgrade was asked for.
    def respond(request, conn):
        conn.send(h.http_response(101, [("Connection", "Upgrade"), ("Upgrade", "websocket")],
                                  content_length=False))
        conn.read_some(timeout=2)
        return h.HANDLED

    upstream = h.Upstream(h.serve(respond))
    proxy = h.Proxy(h.proxy_config(upstream))
    client = proxy.client()
    response = client.request(h.http_request("GET", "/plain"))
    h.check_proxy_error(suite, "unrequested 101", response, 502, client)


@suite.case
def empty_allow_list_turns_upgrades_off():
    upstream = h.Upstream(h.serve(h.upgrade_echo))
    proxy = h.Proxy(config_text(h.proxy_config(upstream, limits={"upgrade_protocols": []})))
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/ws", headers=[
        ("Connection", "Upgrade"), ("Upgrade", "websocket")]))
    # upgrade_echo always answers 101: with the offer removed the proxy refuses that 101.
    suite.equal("no tunnel", response.status, 502)
    seen = upstream.wait_requests(1)
    suite.check("upstream saw no Upgrade", bool(seen) and not seen[0].has("upgrade"),
                seen and seen[0].headers)


@suite.case
def upgrade_protocols_must_be_names():
    directory = tempfile.mkdtemp(prefix="jwtgate-hardening-")
    path = os.path.join(directory, "jwtgate.yaml")
    try:
        for value in (["web socket"], "websocket"):
            with open(path, "w") as out:
                out.write(config_text(h.proxy_config("127.0.0.1:9",
                                                     limits={"upgrade_protocols": value})))
            code, _, err = h.run_binary(["serve", "--config", path])
            suite.equal(f"{value}: exit code", code, 1)
            suite.check(f"{value}: message names the key", "upgrade_protocols" in err, err)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def config_text(config):
    # The harness writes an empty list as a quoted string; the key needs a YAML list.
    return h.to_yaml(config).replace('upgrade_protocols: "[]"', "upgrade_protocols: []") + "\n"


# ---- Connection options ---------------------------------------------------------------------


@suite.case
def connection_cannot_remove_end_to_end_fields():
    upstream, proxy = start()
    for option in ("Host", "HOST", "content-length", "Transfer-Encoding", "Authorization",
                   "Cookie", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host",
                   "X-Forwarded-Prefix", "Forwarded", "X-Real-IP", "x-hop, host"):
        headers = [("Connection", option), ("Authorization", "Bearer abc"),
                   ("Cookie", "a=b")]
        response, client = h.one_request(proxy.port, h.http_request("GET", "/", headers=headers))
        h.check_proxy_error(suite, f"Connection: {option}", response, 400, client)
    suite.check("nothing reached the upstream", nothing_upstream(upstream),
                upstream.all_raw()[:300])
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/", headers=[
        ("Connection", "keep-alive, X-Hop"), ("X-Hop", "1")]))
    suite.equal("an ordinary option still works", response.status, 200)


# ---- SIGHUP ---------------------------------------------------------------------------------


@suite.case
def sighup_reloads_without_dropping_connections():
    upstream, proxy = start()
    client = proxy.client()
    suite.equal("serving before", client.request(h.http_request("GET", "/one")).status, 200)
    proxy.send_signal(signal.SIGHUP)
    line = proxy.wait_stderr(r"reload: SIGHUP received", timeout=5)
    suite.check("SIGHUP logged at info", line is not None and "info" in line,
                proxy.stderr_text())
    suite.check("process still running", proxy.alive(), proxy.proc.returncode)
    suite.equal("open connection still served", client.request(
        h.http_request("GET", "/two")).status, 200)
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/three"))
    suite.equal("new connection served", response.status, 200)
    proxy.send_signal(signal.SIGHUP)
    time.sleep(0.2)
    suite.check("a second SIGHUP is survived too", proxy.alive())
    suite.equal("SIGTERM still drains and exits 0", proxy.stop(), 0)


# ---- Forwarded and X-Real-IP ----------------------------------------------------------------


@suite.case
def untrusted_forwarded_and_real_ip_are_removed():
    headers = [("Forwarded", "for=10.0.0.1;proto=https"), ("X-Real-IP", "10.0.0.1"),
               ("x-real-ip", "10.0.0.2")]
    for trusted in (False, True):
        upstream, proxy = start(trust_forwarded=trusted)
        response, _ = h.one_request(proxy.port, h.http_request("GET", "/", headers=headers))
        seen = upstream.wait_requests(1)
        suite.equal(f"trust={trusted}: status", response.status, 200)
        if not seen:
            suite.check(f"trust={trusted}: request reached the upstream", False)
            continue
        want_forwarded = ["for=10.0.0.1;proto=https"] if trusted else []
        want_real_ip = ["10.0.0.1", "10.0.0.2"] if trusted else []
        suite.equal(f"trust={trusted}: Forwarded", seen[0].all("forwarded"), want_forwarded)
        suite.equal(f"trust={trusted}: X-Real-IP", seen[0].all("x-real-ip"), want_real_ip)
        upstream.release()
        proxy.release()


# ---- Host -----------------------------------------------------------------------------------


INVALID_HOSTS = ["", "a b", "a/admin", "api.example.com:abc", "api.example.com:",
                 "api.example.com:65536", "api.example.com:123456", "a:1:2", "[::1", "[zz]:80",
                 "[::1]x", "user@host", "exa%zzmple.com", "a\\b", "a?b", "a#b", "[fe80::1%25lo]"]
VALID_HOSTS = ["api.example.com", "API.Example.COM:8080", "127.0.0.1:80", "[::1]", "[::1]:443",
               "a_b~c-d.e", "xn--bcher-kva.example:65535", "exa%2Dmple.com", "[v1.fe]"]


@suite.case
def invalid_host_values_are_refused():
    upstream, proxy = start()
    for host in INVALID_HOSTS:
        wire = h.http_request("GET", "/", host=None, headers=[("Host", host)])
        response, client = h.one_request(proxy.port, wire)
        h.check_proxy_error(suite, f"Host {host!r}", response, 400, client)
    suite.check("nothing reached the upstream", nothing_upstream(upstream),
                upstream.all_raw()[:300])


@suite.case
def valid_host_values_are_forwarded():
    upstream, proxy = start()
    for host in VALID_HOSTS:
        wire = h.http_request("GET", "/", host=None, headers=[("Host", host)])
        response, _ = h.one_request(proxy.port, wire)
        suite.equal(f"Host {host!r}: status", response.status, 200)
    seen = upstream.wait_requests(len(VALID_HOSTS))
    suite.equal("each Host forwarded as received", [r.all("host") for r in seen],
                [[host] for host in VALID_HOSTS])


@suite.case
def http10_empty_host_gets_the_upstream_authority():
    upstream, proxy = start()
    wire = h.http_request("GET", "/", host=None, headers=[("Host", "")], version="HTTP/1.0")
    response, _ = h.one_request(proxy.port, wire)
    suite.equal("status", response.status, 200)
    seen = upstream.wait_requests(1)
    suite.check("exactly one Host, the upstream's",
                bool(seen) and seen[0].all("host") == [upstream.address],
                seen and seen[0].all("host"))
    suite.check("no X-Forwarded-Host from an empty Host",
                bool(seen) and not seen[0].has("x-forwarded-host"), seen and seen[0].headers)


if __name__ == "__main__":
    suite.run()

"""The binary's life: the listening lines, several listeners, IPv6, worker counts, Unix and
IPv6 upstreams, configuration errors that name the file and line, and SIGTERM/SIGINT
draining in-flight requests before a clean exit."""

import os
import signal
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402

suite = h.Suite("proxy_lifecycle")


def serves(proxy, host=None, port=None, name="request"):
    client = h.Client(port or proxy.port, host or proxy.host)
    response = client.request(h.http_request("GET", f"/{name}"))
    return response.status == 200 and response.body.startswith(f"GET /{name} ".encode())


@suite.case
def listening_line_reports_the_bound_port():
    upstream = h.Upstream()
    proxy = h.Proxy(h.proxy_config(upstream))
    line = proxy.wait_stderr(r"listening on")
    suite.check("line format", line is not None and line.startswith("jwtgate: info: listening on "
                                                                    "127.0.0.1:"), line)
    suite.check("a real port, not 0", proxy.port > 0, proxy.port)
    suite.equal("workers reported", proxy.listeners[0][2], 1)
    suite.check("serves on the reported port", serves(proxy))


@suite.case
def several_listeners():
    upstream = h.Upstream()
    listen = ["127.0.0.1:0", "127.0.0.1:0"]
    if h.has_ipv6():
        listen.append("[::1]:0")
    proxy = h.Proxy(h.proxy_config(upstream, listen=listen))
    suite.equal("one line per listener", len(proxy.listeners), len(listen))
    ports = {port for _, port, _ in proxy.listeners}
    suite.equal("distinct ports", len(ports), len(listen))
    for index, (host, port, _) in enumerate(proxy.listeners):
        suite.check(f"listener {index} ({host}) serves", serves(proxy, host, port, f"l{index}"))


@suite.case
def ipv6_listener():
    if not h.has_ipv6():
        raise h.Skip("no IPv6 loopback")
    upstream = h.Upstream()
    proxy = h.Proxy(h.proxy_config(upstream, listen="[::1]:0"))
    suite.check("line shows [::1]", proxy.wait_stderr(r"listening on \[::1\]:\d+") is not None,
                proxy.stderr_text())
    suite.check("serves over IPv6", serves(proxy, "::1"))
    seen = upstream.wait_requests(1)
    suite.check("X-Forwarded-For is the IPv6 client", bool(seen) and
                seen[0].all("x-forwarded-for") == ["::1"], seen and seen[0].headers)


@suite.case
def worker_counts():
    upstream = h.Upstream()
    proxy = h.Proxy(h.proxy_config(upstream, workers=2))
    suite.equal("workers=2 reported", proxy.listeners[0][2], 2)
    results = [serves(proxy, name=f"w{i}") for i in range(20)]
    suite.check("20 connections served by 2 workers", all(results), results)
    h.release_all()

    upstream = h.Upstream()
    proxy = h.Proxy(h.proxy_config(upstream, workers="auto"))
    cores = len(os.sched_getaffinity(0))
    suite.equal("auto means one per usable core", proxy.listeners[0][2], cores)
    suite.check("auto serves", serves(proxy))


@suite.case
def unix_socket_upstream():
    upstream = h.Upstream(family="unix")
    proxy = h.Proxy(h.proxy_config(upstream))
    client = proxy.client()
    for index in range(5):
        response = client.request(h.http_request("POST", f"/u{index}", body=b"over unix"))
        suite.check(f"request {index} served over the Unix socket",
                    response.status == 200 and response.body.startswith(
                        f"POST /u{index} 9 ".encode()), response.start_line)
    suite.check("Unix upstream connections reused", upstream.connection_count() < 5,
                upstream.connection_count())
    seen = upstream.wait_requests(5)
    suite.check("X-Forwarded-For still names the TCP client",
                bool(seen) and seen[0].all("x-forwarded-for") == ["127.0.0.1"],
                seen and seen[0].headers)


@suite.case
def ipv6_upstream():
    if not h.has_ipv6():
        raise h.Skip("no IPv6 loopback")
    upstream = h.Upstream(family="tcp6")
    proxy = h.Proxy(h.proxy_config(upstream))
    suite.check("served through an IPv6 upstream", serves(proxy))


def config_error(text, name):
    """Runs `serve` on `text`; returns (exit code, stderr, config path)."""
    folder = tempfile.mkdtemp(prefix="jwtgate-it-")
    path = os.path.join(folder, "bad.yaml")
    with open(path, "w") as out:
        out.write(text)
    try:
        code, _, err = h.run_binary(["serve", "--config", path], timeout=10)
    except Exception as error:
        suite.check(f"{name}: exits by itself", False, error)
        return None, "", path
    finally:
        os.unlink(path)
        os.rmdir(folder)
    return code, err, path


@suite.case
def configuration_errors_name_the_file_and_line():
    port = h.free_port()
    base = f"listen: 127.0.0.1:0\nupstream: 127.0.0.1:{port}\nworkers: 1\n"
    # `auth: off` last, so that each file fails for its own mistake and the lines stay put.
    cases = [
        ("unknown top-level key", base + "colour: blue\n", 4),
        ("unknown key in limits", base + "limits:\n  max_header_bytes: 4KiB\n"
                                         "  max_headr_count: 10\n", 6),
        ("unknown key in timeouts", base + "timeouts:\n  drain: 1s\n  dran: 2s\n", 6),
        ("duration without a unit", base + "timeouts:\n  client_idle: 30\n", 5),
        ("size with a decimal unit", base + "limits:\n  max_header_bytes: 32KB\n", 5),
        ("bad workers", base.replace("workers: 1", "workers: many"), 3),
        ("host name as listen address", base.replace("127.0.0.1:0", "localhost:0"), 1),
        ("upstream port out of range", base.replace(f":{port}", ":70000"), 2),
    ]
    for name, text, line in cases:
        code, err, path = config_error(text + "auth: off\n", name)
        if code is None:
            continue
        suite.equal(f"{name}: exit code 1", code, 1)
        suite.check(f"{name}: message names {os.path.basename(path)}:{line}",
                    f"{path}:{line}" in err, err.strip()[-300:])


@suite.case
def unusable_configurations_fail_cleanly():
    port = h.free_port()
    cases = [
        ("missing upstream", "listen: 127.0.0.1:0\n"),
        ("missing listen", f"upstream: 127.0.0.1:{port}\n"),
        ("invalid YAML", "listen: [127.0.0.1:0\nupstream: x\n"),
        ("not a mapping", "- listen\n- upstream\n"),
        ("empty file", ""),
        ("listen is a mapping", f"listen: {{a: 1}}\nupstream: 127.0.0.1:{port}\n"),
    ]
    for name, text in cases:
        code, err, path = config_error(text, name)
        if code is None:
            continue
        suite.check(f"{name}: exits with an error, no crash", code is not None and code > 0,
                    f"exit {code}: {err.strip()[-200:]}")
        suite.check(f"{name}: says which file", path in err, err.strip()[-200:])
    code, _, err = h.run_binary(["serve", "--config", "/nonexistent/jwtgate.yaml"])
    suite.check("missing file: exits with an error", code > 0, f"exit {code}")
    suite.check("missing file: names it", "/nonexistent/jwtgate.yaml" in err, err[-200:])


@suite.case
def busy_port_fails_cleanly():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        port = holder.getsockname()[1]
        upstream = h.Upstream()
        text = f"listen: 127.0.0.1:{port}\nupstream: {upstream.address}\nauth: off\n"
        code, err, _ = config_error(text, "busy port")
        suite.equal("exit code 1", code, 1)
        suite.check("says the address", f"127.0.0.1:{port}" in err, err[-200:])
    finally:
        holder.close()


def drain_case(signum, name):
    upstream = h.Upstream(h.serve(h.slow(1.5)))
    proxy = h.Proxy(h.proxy_config(upstream, timeouts={"drain": "10s"}))
    client = proxy.client(timeout=15)
    body = h.pattern_bytes(0, 5000)
    client.send(h.http_request("POST", "/in-flight", body=body))
    suite.check(f"{name}: request reached the upstream", bool(upstream.wait_requests(1, 5)))
    proxy.send_signal(signum)
    time.sleep(0.2)
    suite.check(f"{name}: still running while the request is in flight", proxy.alive())
    try:
        response = client.response("POST", timeout=10)
        suite.check(f"{name}: in-flight request completes",
                    response.status == 200 and
                    response.body == f"POST /in-flight 5000 {h.digest(body)}".encode(),
                    response.start_line)
        suite.check(f"{name}: its response says Connection: close",
                    "close" in response.tokens("connection"), response.headers)
    except h.IncompleteMessage as error:
        suite.check(f"{name}: in-flight request completes", False, error)
    suite.check(f"{name}: client connection closed after its response", client.closed(5))
    code = proxy.wait_exit(10)
    suite.equal(f"{name}: exit code", code, 0)
    refused = False
    try:
        probe = socket.create_connection(("127.0.0.1", proxy.port), timeout=2)
        probe.close()
    except OSError:
        refused = True
    suite.check(f"{name}: port closed after exit", refused)


@suite.case
def sigterm_drains_in_flight_requests():
    drain_case(signal.SIGTERM, "SIGTERM")


@suite.case
def sigint_drains_in_flight_requests():
    drain_case(signal.SIGINT, "SIGINT")


@suite.case
def new_connections_during_drain_are_not_left_hanging():
    upstream = h.Upstream(h.serve(h.slow(2.0)))
    proxy = h.Proxy(h.proxy_config(upstream, timeouts={"drain": "10s"}))
    busy = proxy.client(timeout=15)
    busy.send(h.http_request("GET", "/busy"))
    upstream.wait_requests(1, 5)
    proxy.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    outcome = "refused"
    try:
        late = h.Client(proxy.port, timeout=2)
        late.send(h.http_request("GET", "/late"))
        try:
            response = late.response(timeout=8)
            outcome = f"answered {response.status}"
        except h.IncompleteMessage:
            outcome = "closed" if late.reader.eof else "hanging"
    except OSError:
        pass
    suite.check("a connection made during the drain is refused, answered or closed",
                outcome != "hanging", outcome)
    suite.equal("the busy request still completes", busy.response(timeout=10).status, 200)
    suite.equal("exit code", proxy.wait_exit(10), 0)


@suite.case
def idle_connections_do_not_hold_up_the_exit():
    upstream = h.Upstream()
    proxy = h.Proxy(h.proxy_config(upstream, timeouts={"drain": "15s", "client_idle": "60s"}))
    clients = [proxy.client() for _ in range(3)]
    for index, client in enumerate(clients):
        client.request(h.http_request("GET", f"/idle{index}"))
    proxy.send_signal(signal.SIGTERM)
    code = proxy.wait_exit(8)
    suite.equal("exits without waiting for idle keep-alive clients", code, 0)
    suite.check("idle clients see their connections closed",
                all(client.closed(3) for client in clients))


@suite.case
def drain_deadline_ends_stuck_requests():
    upstream = h.Upstream(h.serve(h.slow(30)))
    proxy = h.Proxy(h.proxy_config(upstream, timeouts={"drain": "1s",
                                                       "upstream_response": "60s"}))
    client = proxy.client(timeout=15)
    client.send(h.http_request("GET", "/stuck"))
    upstream.wait_requests(1, 5)
    proxy.send_signal(signal.SIGTERM)
    code = proxy.wait_exit(8)
    suite.check("exits once the drain time is over", code is not None and code >= 0,
                f"exit {code}")
    suite.check("the stuck client connection is closed", client.closed(3))


@suite.case
def logs_never_contain_secrets():
    # Errors are where a careless log line would quote the request; provoke several.
    refusing = h.RefusingPort()
    secrets = ["Q7secretQuery", "A7secretAuth", "C7secretCookie"]
    for upstream_address in (None, refusing.address):
        upstream = h.Upstream() if upstream_address is None else None
        proxy = h.Proxy(h.proxy_config(upstream or upstream_address,
                                       limits={"max_header_count": 10}))
        requests = [
            h.http_request("GET", f"/p?token={secrets[0]}", headers=[
                ("Authorization", f"Bearer {secrets[1]}"), ("Cookie", f"s={secrets[2]}")]),
            f"GET /p?token={secrets[0]} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer "
            f"{secrets[1]}\r\nX-Bad\x01: v\r\n\r\n".encode("latin-1"),
            h.http_request("GET", f"/p?token={secrets[0]}", headers=[
                ("Authorization", f"Bearer {secrets[1]}")] + [(f"X-{i}", "v") for i in range(20)]),
        ]
        for data in requests:
            try:
                h.one_request(proxy.port, data)
            except (OSError, h.IncompleteMessage):
                pass
        proxy.stop(signal.SIGTERM, timeout=10)
        text = "\n".join(proxy.stderr_lines + proxy.stdout_lines)
        label = "upstream down" if upstream_address else "upstream up"
        leaked = [secret for secret in secrets if secret in text]
        suite.equal(f"{label}: no query, token or cookie in the logs", leaked, [])


@suite.case
def concurrent_load_then_clean_exit():
    upstream = h.Upstream()
    proxy = h.Proxy(h.proxy_config(upstream, workers=2))
    errors = []

    def worker(index):
        try:
            client = proxy.client()
            for seq in range(25):
                body = f"{index}-{seq}".encode()
                response = client.request(h.http_request("PUT", f"/c/{index}/{seq}",
                                                         body=body))
                if response.body != f"PUT /c/{index}/{seq} {len(body)} {h.digest(body)}" \
                        .encode():
                    errors.append((index, seq, response.body))
        except Exception as error:  # collected and reported below
            errors.append((index, repr(error)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    suite.equal("200 interleaved requests answered correctly", errors, [])
    suite.equal("exit code after SIGTERM", proxy.stop(signal.SIGTERM, timeout=10), 0)


if __name__ == "__main__":
    suite.run()

"""The access log of the real binary (auth: off): one JSON line per request, pipelined and
aborted ones included, with the documented fields and types; hostile request bytes cannot
break a line; X-Request-Id accepted, replaced or generated and forwarded exactly once, also on
local replies; `output: off` writes nothing, `output: stderr` goes to stderr; and an output
nobody reads does not stall traffic (lines are dropped instead).

Redaction of the providers' token query parameters needs auth providers, so it is tested by
the app's and the unit tests (tests/proxy/access_log_test.cc, worker_loop_test.cc); here only
the built-in credential names (which apply with auth off too) are checked."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402

suite = h.Suite("ops_access_log")

FIELD_ORDER = ["time", "request_id", "client", "method", "path", "protocol", "status",
               "duration_ms", "upstream_ms", "bytes_in", "bytes_out", "route", "provider",
               "subject", "outcome", "reason", "aborted"]
TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
GENERATED_ID_RE = re.compile(r"[0-9a-f]{32}")


def start(output="stdout", upstream=None, **extra):
    upstream = upstream or h.Upstream()
    config = h.proxy_config(upstream, access_log={"output": output}, **extra)
    return upstream, h.Proxy(config)


def json_lines(lines):
    """The lines that look like access-log lines (JSON objects)."""
    return [line for line in lines if line.startswith("{")]


def wait_lines(proxy, count, stream="stdout", timeout=10):
    """Waits for `count` access-log lines on `stream`; returns them parsed (or the raw text
    of any that does not parse, so the check that follows shows it)."""
    source = proxy.stdout_lines if stream == "stdout" else proxy.stderr_lines
    h.wait_for(lambda: len(json_lines(source)) >= count, timeout)
    parsed = []
    for line in json_lines(source):
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append(line)
    return parsed


def in_documented_order(entry):
    keys = list(entry)
    known = [key for key in keys if key in FIELD_ORDER]
    return known == keys and known == sorted(known, key=FIELD_ORDER.index)


@suite.case
def one_line_per_request_with_fields_and_types():
    upstream, proxy = start()
    client = proxy.client()
    client.request(h.http_request("GET", "/first?page=2"))
    client.request(h.http_request("POST", "/second", body=b"x" * 1234))
    # Three pipelined requests in one write.
    client.send(b"".join(h.http_request("GET", f"/pipe{i}") for i in range(3)))
    statuses = [client.response().status for _ in range(3)]
    suite.equal("pipelined requests answered", statuses, [200, 200, 200])

    entries = wait_lines(proxy, 5)
    suite.equal("one line per request", len(entries), 5)
    suite.check("every line is a JSON object", all(isinstance(e, dict) for e in entries),
                entries)
    entries = [e for e in entries if isinstance(e, dict)]
    suite.equal("paths in order", [e.get("path") for e in entries],
                ["/first?page=2", "/second", "/pipe0", "/pipe1", "/pipe2"])
    suite.check("fields in the documented order", all(in_documented_order(e) for e in entries),
                entries)
    first = entries[0] if entries else {}
    suite.check("time is UTC with milliseconds", TIME_RE.fullmatch(str(first.get("time"))),
                first)
    suite.equal("client", first.get("client"), "127.0.0.1")
    suite.equal("method", [e.get("method") for e in entries][:2], ["GET", "POST"])
    suite.equal("protocol", first.get("protocol"), "HTTP/1.1")
    suite.check("status is a number 200", all(e.get("status") == 200 for e in entries), entries)
    for name in ("duration_ms", "upstream_ms"):
        suite.check(f"{name} is a non-negative number",
                    all(isinstance(e.get(name), (int, float)) and e[name] >= 0
                        for e in entries), entries)
    suite.check("upstream time within the request time",
                all(e["upstream_ms"] <= e["duration_ms"] for e in entries), entries)
    suite.equal("bytes_in is the request body", [e.get("bytes_in") for e in entries][:2],
                [0, 1234])
    suite.check("bytes_out counts the response", all(isinstance(e.get("bytes_out"), int) and
                                                     e["bytes_out"] > 0 for e in entries),
                entries)
    suite.check("no auth fields with auth off",
                not any(k in e for e in entries for k in ("route", "provider", "subject",
                                                          "outcome", "reason", "aborted")),
                entries)
    suite.check("distinct generated ids",
                len({e.get("request_id") for e in entries}) == 5 and
                all(GENERATED_ID_RE.fullmatch(e.get("request_id", "")) for e in entries),
                entries)
    suite.equal("stdout has nothing but access-log lines",
                [line for line in proxy.stdout_lines if not line.startswith("{")], [])
    suite.equal("clean exit", proxy.stop(), 0)


@suite.case
def aborted_refused_and_failed_requests_get_lines():
    upstream, proxy = start(timeouts={"client_idle": "5s"})

    # A body cut short by the client: no response, the line says aborted.
    client = proxy.client()
    client.send(b"POST /cut HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789")
    h.wait_for(lambda: upstream.connection_count() >= 1, 5)
    client.close()
    # A framing error answered by the proxy.
    framing, _ = h.one_request(proxy.port, b"GET /bad HTTP/1.1\r\nHost: a\r\nBad Field\r\n\r\n")
    suite.equal("framing error answered 400", framing.status, 400)
    entries = wait_lines(proxy, 2)
    by_path = {e.get("path"): e for e in entries if isinstance(e, dict)}
    cut = by_path.get("/cut", {})
    suite.equal("aborted request: status 0", cut.get("status"), 0)
    suite.equal("aborted request: marked", cut.get("aborted"), True)
    suite.equal("aborted request: method", cut.get("method"), "POST")
    suite.equal("aborted request: bytes_in so far", cut.get("bytes_in"), 10)
    bad = by_path.get("/bad", {})
    suite.equal("framing error: status 400", bad.get("status"), 400)
    suite.check("framing error: no route, not aborted",
                "route" not in bad and "aborted" not in bad, bad)
    suite.equal("the 400 names the logged id", framing.header("x-request-id"),
                bad.get("request_id"))
    proxy.stop()

    # The upstream down: 502 with its line and id.
    refusing = h.RefusingPort()
    _, proxy = start(upstream=refusing)
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/down"))
    suite.equal("upstream down: 502", response.status, 502)
    entries = wait_lines(proxy, 1)
    line = entries[0] if entries and isinstance(entries[0], dict) else {}
    suite.equal("502 logged", (line.get("path"), line.get("status")), ("/down", 502))
    suite.check("502 carries the logged id",
                response.header("x-request-id") == line.get("request_id") is not None,
                (response.headers, line))
    suite.check("nothing went upstream: no upstream_ms", "upstream_ms" not in line, line)


@suite.case
def hostile_bytes_cannot_break_a_line():
    upstream, proxy = start()
    targets = [b'/q"uote', b"/back\\slash", b"/brace}{\"x\":1}", b"/%00%0d%0a",
               b"/utf8-\xc3\xa9", b"/bad-\xff\xfe", b"/ctl-\x7f"]
    sent = 0
    answered = []
    for target in targets:
        data = b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n"
        try:
            response, _ = h.one_request(proxy.port, data)
            answered.append((target, response.status))
        except (OSError, h.IncompleteMessage) as error:
            answered.append((target, repr(error)))
        sent += 1
    # Methods llhttp does not know, and bytes where a method should be.
    for data in (b"G\"T / HTTP/1.1\r\nHost: a\r\n\r\n", b"\x00\x01 / HTTP/1.1\r\n\r\n",
                 b"PATCH /p\x01x HTTP/1.1\r\nHost: a\r\n\r\n"):
        try:
            h.one_request(proxy.port, data)
        except (OSError, h.IncompleteMessage):
            pass
        sent += 1
    proxy.stop()
    raw = json_lines(proxy.stdout_lines)
    suite.equal("one line per request, none split", len(raw), sent)
    parsed = []
    for line in raw:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            suite.check("line parses as JSON", False, line)
    suite.check("every line is one object", all(isinstance(e, dict) for e in parsed), parsed)
    paths = [e.get("path") for e in parsed if e.get("status") == 200]
    for target, status in answered:
        if status == 200:
            expected = target.decode("utf-8", "replace")
            suite.check(f"path {target!r} logged as received (invalid UTF-8 replaced)",
                        expected in paths, paths)
    suite.equal("stdout is access-log lines only",
                [line for line in proxy.stdout_lines if not line.startswith("{")], [])


@suite.case
def request_id_accepted_replaced_generated_and_forwarded_once():
    upstream, proxy = start()
    client = proxy.client()
    cases = [
        ("well formed", [("X-Request-Id", "abc-123.x:y@z+=/")], "abc-123.x:y@z+=/"),
        ("missing", [], None),
        ("repeated", [("X-Request-Id", "one"), ("X-Request-Id", "two")], None),
        ("malformed", [("X-Request-Id", "has space")], None),
        ("too long", [("X-Request-Id", "a" * 129)], None),
        ("longest allowed", [("X-Request-Id", "b" * 128)], "b" * 128),
    ]
    for index, (_, headers, _) in enumerate(cases):
        response = client.request(h.http_request("GET", f"/id{index}", headers=headers))
        suite.equal(f"request {index} served", response.status, 200)
    seen = upstream.wait_requests(len(cases))
    entries = wait_lines(proxy, len(cases))
    for index, (name, _, expected) in enumerate(cases):
        forwarded = seen[index].all("x-request-id") if index < len(seen) else []
        suite.equal(f"{name}: exactly one forwarded", len(forwarded), 1)
        value = forwarded[0] if forwarded else ""
        if expected is not None:
            suite.equal(f"{name}: the client's id is kept", value, expected)
        else:
            suite.check(f"{name}: a generated id replaces it", GENERATED_ID_RE.fullmatch(value),
                        value)
        logged = entries[index].get("request_id") if index < len(entries) else None
        suite.equal(f"{name}: the line names the forwarded id", logged, value)

    # A local reply (431: too many fields) carries the client's id back.
    _, proxy = start(limits={"max_header_count": 5})
    headers = [("X-Request-Id", "keep-me")] + [(f"X-{i}", "v") for i in range(10)]
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/many", headers=headers))
    suite.equal("431 answered", response.status, 431)
    entries = wait_lines(proxy, 1)
    suite.check("the local reply carries an id that its line names",
                bool(entries) and response.header("x-request-id") is not None and
                response.header("x-request-id") == entries[0].get("request_id"),
                (response.headers, entries))


@suite.case
def credential_query_values_are_redacted_even_with_auth_off():
    upstream, proxy = start()
    response, _ = h.one_request(proxy.port,
                                h.http_request("GET", "/p?access_token=T0KEN&page=2&token=T2"))
    suite.equal("served", response.status, 200)
    entries = wait_lines(proxy, 1)
    suite.equal("values redacted, other parameters kept",
                entries[0].get("path") if entries else None,
                "/p?access_token=[redacted]&page=2&token=[redacted]")
    suite.check("the upstream still gets the target unchanged",
                [r.target for r in upstream.wait_requests(1)] ==
                ["/p?access_token=T0KEN&page=2&token=T2"], upstream.requests())


@suite.case
def output_off_writes_nothing_and_stderr_works():
    upstream, proxy = start(output="off")
    client = proxy.client()
    for index in range(5):
        suite.equal(f"request {index} served", client.request(
            h.http_request("GET", f"/off{index}")).status, 200)
    suite.equal("clean exit", proxy.stop(), 0)
    suite.equal("nothing on stdout", proxy.stdout_lines, [])
    suite.equal("no access-log line on stderr", json_lines(proxy.stderr_lines), [])

    upstream, proxy = start(output="stderr")
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/to-stderr"))
    suite.equal("served", response.status, 200)
    entries = wait_lines(proxy, 1, stream="stderr")
    suite.equal("the line is on stderr", entries[0].get("path") if entries else None,
                "/to-stderr")
    suite.equal("clean exit", proxy.stop(), 0)
    suite.equal("nothing on stdout", proxy.stdout_lines, [])


class UnreadStdoutProxy:
    """The binary with a stdout pipe nobody reads (stderr is read for the listening line)."""

    def __init__(self, config):
        self.dir = tempfile.mkdtemp(prefix="jwtgate-it-")
        path = os.path.join(self.dir, "jwtgate.yaml")
        with open(path, "w") as out:
            out.write(h.to_yaml(config) + "\n")
        self.proc = subprocess.Popen([h.BIN, "serve", "--config", path],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.stderr_lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        h.track(self)
        self.port = self._port(r"jwtgate: info: listening on 127\.0\.0\.1:(\d+) \(workers=")
        self.admin_port = self._port(r"admin listening on 127\.0\.0\.1:(\d+) ")

    def _port(self, pattern):
        regex = re.compile(pattern)
        h.wait_for(lambda: any(regex.search(line) for line in self.stderr_lines), 10)
        ports = [int(m.group(1)) for m in map(regex.search, self.stderr_lines) if m]
        if not ports:
            raise h.ProxyError(f"no line like {pattern}: " + "\n".join(self.stderr_lines))
        return ports[0]

    def metric(self, name):
        """The value of one sample from the admin listener's /metrics."""
        response, _ = h.one_request(self.admin_port, h.http_request("GET", "/metrics"))
        for line in response.body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None

    def _read(self):
        for raw in iter(self.proc.stderr.readline, b""):
            self.stderr_lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def release(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.reader.join(timeout=2)
        self.proc.stdout.close()
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@suite.case
def an_unread_output_does_not_stall_traffic():
    upstream = h.Upstream()
    proxy = UnreadStdoutProxy(h.proxy_config(upstream, access_log={"buffer": "64KiB"},
                                             admin={"listen": "127.0.0.1:0"}))
    # ~250 bytes a line: 2400 lines are several times the pipe and the ring together.
    failures = []

    def run(index):
        try:
            client = h.Client(proxy.port)
            for seq in range(600):
                response = client.request(h.http_request("GET", f"/flood/{index}/{seq}"))
                if response.status != 200:
                    failures.append((index, seq, response.status))
            client.close()
        except Exception as error:  # reported below
            failures.append((index, repr(error)))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    suite.check("every thread finished", not any(t.is_alive() for t in threads))
    suite.equal("2400 requests served while nobody reads the log", failures, [])
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/after"))
    suite.equal("still serving afterwards", response.status, 200)
    written = proxy.metric('jwtgate_access_log_lines_total{result="written"}')
    dropped = proxy.metric('jwtgate_access_log_lines_total{result="dropped"}')
    suite.check("lines that did not fit were dropped and counted", (dropped or 0) > 0,
                (written, dropped))
    suite.check("every request's line was either queued or dropped",
                written is not None and dropped is not None and written + dropped >= 2401,
                (written, dropped))

    # Shutdown is not held up by the blocked output for long (the flush is bounded).
    proxy.proc.send_signal(signal.SIGTERM)
    try:
        code = proxy.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        code = None
    suite.equal("exits 0 with the output still blocked", code, 0)


suite.run()

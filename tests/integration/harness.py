"""Shared helpers for jwtgate's integration tests: run the real binary on loopback, script a
recording upstream, speak exact bytes as a client, and count checks.

Only the standard library is used. Every wait has a timeout and every process, socket and
thread a test starts is released when its case ends, even when the case fails.

A test file looks like this (run with /usr/bin/python3, JWTGATE_BIN set by CTest):

    suite = h.Suite("proxy_example")

    @suite.case
    def get_is_forwarded():
        upstream = h.Upstream(h.serve(h.echo))           # records every byte it receives
        proxy = h.Proxy(h.proxy_config(upstream, timeouts={"client_idle": "1s"}))
        response, client = h.one_request(proxy.port, h.http_request("GET", "/x"))
        suite.equal("status", response.status, 200)
        suite.equal("target", [r.target for r in upstream.wait_requests(1)], ["/x"])

    suite.run()

JWTGATE_IT_VERBOSE=1 echoes the proxy's stderr; JWTGATE_IT_ONLY=word runs the matching cases.
"""

import atexit
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

BIN = os.environ.get("JWTGATE_BIN", "")
VERBOSE = os.environ.get("JWTGATE_IT_VERBOSE", "") not in ("", "0")

_LISTEN_RE = re.compile(r"listening on (\[[^\]]+\]|[^\s\[\]]+):(\d+) \(workers=(\d+)\)")

# Everything started by a case; released by Suite after each case and at exit.
_resources = []
_resources_lock = threading.Lock()


def track(resource):
    """Registers `resource` (anything with `release()`) to be released with the case."""
    with _resources_lock:
        _resources.append(resource)
    return resource


def release_all():
    """Stops every tracked proxy, upstream and client, newest first."""
    with _resources_lock:
        items = list(reversed(_resources))
        _resources.clear()
    for item in items:
        try:
            item.release()
        except Exception:  # a cleanup failure must not hide the test's own result
            if VERBOSE:
                traceback.print_exc()


atexit.register(release_all)


# --------------------------------------------------------------------------------------------
# Check counting


class Skip(Exception):
    """Raised by a case that cannot run here (no IPv6, a missing tool)."""


class Suite:
    """Runs the cases of one test file, one PASS/FAIL line per check, then `N passed, N failed`.

    A case that raises counts as one failed check named after the case. A watchdog ends the
    whole file (killing what it started) when it runs longer than `deadline` seconds.
    """

    def __init__(self, name, deadline=240):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.cases = []
        self.current = ""
        self.failures = []
        self._start_watchdog(deadline)

    def _start_watchdog(self, deadline):
        def expire():
            print(f"FAIL {self.name}: watchdog expired after {deadline}s in case "
                  f"'{self.current}'", flush=True)
            release_all()
            print(f"{self.passed} passed, {self.failed + 1} failed", flush=True)
            os._exit(1)

        timer = threading.Timer(deadline, expire)
        timer.daemon = True
        timer.start()

    def check(self, name, ok, detail=""):
        """Records one check; `detail` says what was seen when it fails. Returns `ok`."""
        label = f"{self.current}: {name}" if self.current else name
        if ok:
            self.passed += 1
            print(f"PASS {label}", flush=True)
        else:
            self.failed += 1
            self.failures.append(label)
            text = _shorten(str(detail), 600)
            print(f"FAIL {label}" + (f" -- {text}" if text else ""), flush=True)
        return bool(ok)

    def equal(self, name, actual, expected):
        return self.check(name, actual == expected,
                          f"expected {_shorten(repr(expected))}, got {_shorten(repr(actual))}")

    def skip(self, name, reason):
        self.skipped += 1
        print(f"SKIP {name}: {reason}", flush=True)

    def case(self, fn):
        """Decorator: registers a case; cases run in the order they are declared."""
        self.cases.append(fn)
        return fn

    def run(self):
        if not BIN or not os.access(BIN, os.X_OK):
            print(f"FAIL {self.name}: JWTGATE_BIN is not an executable file: '{BIN}'")
            print("0 passed, 1 failed")
            sys.exit(1)
        only = os.environ.get("JWTGATE_IT_ONLY", "")
        for fn in self.cases:
            if only and only not in fn.__name__:
                continue
            self.current = fn.__name__
            try:
                fn()
            except Skip as skip:
                self.skip(fn.__name__, str(skip))
            except Exception as error:
                self.current = ""
                self.check(fn.__name__, False,
                           f"raised {type(error).__name__}: {error}")
                if VERBOSE:
                    traceback.print_exc()
            finally:
                self.current = ""
                release_all()
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(1 if self.failed else 0)


def _shorten(text, limit=300):
    return text if len(text) <= limit else text[:limit] + f"...({len(text)} chars)"


def wait_for(predicate, timeout, interval=0.02):
    """Polls `predicate` until it returns a true value or `timeout` seconds pass."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value
        time.sleep(interval)


class frozen:
    """`with frozen(pid):` stops every thread of a process (SIGSTOP) for the block and lets it
    run again after it (SIGCONT). Events that happen meanwhile wait on its sockets and are
    all handled in its next loop turn, as on a busy proxy: a way to put two events in one
    turn on purpose."""

    def __init__(self, pid):
        self.pid = pid

    def _stopped(self):
        for task in os.listdir(f"/proc/{self.pid}/task"):
            with open(f"/proc/{self.pid}/task/{task}/stat") as stat:
                if stat.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                    return False
        return True

    def __enter__(self):
        os.kill(self.pid, signal.SIGSTOP)
        if not wait_for(self._stopped, 5):
            os.kill(self.pid, signal.SIGCONT)
            raise RuntimeError(f"process {self.pid} did not stop")
        return self

    def __exit__(self, *exc):
        os.kill(self.pid, signal.SIGCONT)
        return False


# --------------------------------------------------------------------------------------------
# Ports and addresses


def has_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (prefer port 0 in configs where possible)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class RefusingPort:
    """A port bound but never listening: connecting to it fails at once with ECONNREFUSED."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        track(self)

    def release(self):
        self.sock.close()


class Blackhole:
    """A listener whose accept queue is full: new SYNs are dropped, so connects hang.

    Linux keeps backlog+1 completed connections queued; with a backlog of 0 two filler
    connections are enough, and no one ever accepts them.
    """

    def __init__(self, fillers=3):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.fillers = []
        for _ in range(fillers):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(filler)
            time.sleep(0.02)
        track(self)

    def connect_hangs(self, seconds=0.5):
        """True when a fresh connect does not complete within `seconds` (the setup worked)."""
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        probe.settimeout(seconds)
        try:
            probe.connect(("127.0.0.1", self.port))
            return False
        except socket.timeout:
            return True
        except OSError:
            return False
        finally:
            probe.close()

    def release(self):
        for filler in self.fillers:
            filler.close()
        self.sock.close()


# --------------------------------------------------------------------------------------------
# Configuration files


def yaml_scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if re.fullmatch(r"[A-Za-z0-9_./-][A-Za-z0-9_./:-]*", text) and not text.endswith(":"):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_yaml(value, indent=0):
    """Block-style YAML for nested dicts, lists and scalars (enough for jwtgate's configs)."""
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:")
                lines.append(to_yaml(item, indent + 1))
            else:
                lines.append(f"{pad}{key}: {yaml_scalar(item)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                body = to_yaml(item, indent + 1).lstrip()
                lines.append(f"{pad}- {body}")
            else:
                lines.append(f"{pad}- {yaml_scalar(item)}")
    else:
        lines.append(pad + yaml_scalar(value))
    return "\n".join(lines)


def proxy_config(upstream, listen="127.0.0.1:0", workers=1, limits=None, timeouts=None,
                 **extra):
    """A config dict in the documented schema; `upstream` is an address or has `.address`.

    Without `auth`, `providers` or `routes` in `extra` the config says `auth: off`: jwtgate
    refuses a file without routes, and these configs test the proxy alone. A caller that adds
    providers and routes to the dict afterwards removes "auth" first.
    """
    config = {
        "listen": listen,
        "upstream": getattr(upstream, "address", upstream),
        "workers": workers,
    }
    if limits:
        config["limits"] = dict(limits)
    if timeouts:
        config["timeouts"] = dict(timeouts)
    if not any(key in extra for key in ("auth", "providers", "routes")):
        config["auth"] = "off"
    config.update(extra)
    return config


# --------------------------------------------------------------------------------------------
# The real binary


def without_default_admin_port(config):
    """Tests run side by side, so a config that names no admin listener gets one on a free
    port instead of the default 127.0.0.1:9901 (which a second test would find taken)."""
    if isinstance(config, dict):
        if "admin" in config:
            return config
        return dict(config, admin={"listen": "127.0.0.1:0"})
    if re.search(r"^admin:", config, re.M):
        return config
    return config.rstrip("\n") + "\nadmin: {listen: 127.0.0.1:0}\n"


class ProxyError(Exception):
    pass


class Proxy:
    """Runs `jwtgate serve --config FILE` and waits for its listening lines.

    `config` is a dict (written as YAML) or the raw text of the file. `ports` and
    `listeners` hold what the binary reported, so port 0 in the config works.
    """

    def __init__(self, config, listeners=None, startup_timeout=10, env=None, args=None,
                 wrapper=()):
        self.dir = tempfile.mkdtemp(prefix="jwtgate-it-")
        self.config_path = os.path.join(self.dir, "jwtgate.yaml")
        config = without_default_admin_port(config)
        text = config if isinstance(config, str) else to_yaml(config) + "\n"
        with open(self.config_path, "w") as out:
            out.write(text)
        self.config_text = text
        if listeners is None:
            listen = config.get("listen", "") if isinstance(config, dict) else ""
            listeners = len(listen) if isinstance(listen, list) else 1
        self.stderr_lines = []
        self.stdout_lines = []
        self._cond = threading.Condition()
        self.returncode = None
        self.killed = False
        # `wrapper` (such as taskset) must exec the binary so that `pid` stays the proxy's.
        cmd = list(wrapper) + [BIN, "serve", "--config", self.config_path] + list(args or [])
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env,
                                     start_new_session=True)
        self.pid = self.proc.pid
        track(self)
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr_lines),
                             daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout_lines),
                             daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.listeners = self._wait_listening(listeners, startup_timeout)
        self.host, self.port = self.listeners[0][0], self.listeners[0][1]

    def _read(self, stream, lines):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if VERBOSE:
                print(f"  [jwtgate {self.pid}] {line}", file=sys.stderr, flush=True)
            with self._cond:
                lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _wait_listening(self, count, timeout):
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in map(_LISTEN_RE.search, self.stderr_lines) if m]
                if len(found) >= count:
                    return [(m.group(1).strip("[]"), int(m.group(2)), int(m.group(3)))
                            for m in found[:count]]
                if self.proc.poll() is not None and not any(r.is_alive() for r in
                                                            self._readers):
                    raise ProxyError(f"jwtgate exited with {self.proc.returncode} before "
                                     f"listening: {self.stderr_text()}")
                left = end - time.monotonic()
                if left <= 0:
                    raise ProxyError(f"no listening line within {timeout}s: "
                                     f"{self.stderr_text()}")
                self._cond.wait(min(left, 0.1))

    def stderr_text(self):
        with self._cond:
            return _shorten("\n".join(self.stderr_lines), 2000)

    def wait_stderr(self, pattern, timeout=5):
        """Waits for a stderr line matching the regex `pattern`; returns it or None."""
        regex = re.compile(pattern)
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.stderr_lines:
                    if regex.search(line):
                        return line
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.1))

    def alive(self):
        return self.proc.poll() is None

    def send_signal(self, signum):
        if self.alive():
            self.proc.send_signal(signum)

    def wait_exit(self, timeout):
        """Waits for the process to exit; returns its exit code or None on timeout."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, signum=signal.SIGTERM, timeout=20):
        """Sends `signum`, waits up to `timeout`, then SIGKILLs. Returns the exit code."""
        if self.alive():
            self.proc.send_signal(signum)
            if self.wait_exit(timeout) is None:
                self.killed = True
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.returncode = self.proc.returncode
        # The readers reach end of file once the process is gone; join them so that the last
        # lines it wrote (drain and shutdown messages) are in stdout_lines/stderr_lines.
        for reader in self._readers:
            reader.join(timeout=5)
        return self.returncode

    def release(self):
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=5)
        for reader in self._readers:
            reader.join(timeout=2)
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def rss_kb(self):
        return rss_kb(self.pid)

    def url(self, path="/"):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{path}"

    def client(self, timeout=10):
        return Client(self.port, self.host, timeout=timeout)


def run_binary(args, timeout=10):
    """Runs the binary to completion (for config errors); returns (exit code, stdout, stderr)."""
    proc = subprocess.Popen([BIN] + list(args), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=5)
        raise
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def binary_is_sanitized():
    """True when JWTGATE_BIN was built with AddressSanitizer (memory figures do not apply)."""
    try:
        with open(BIN, "rb") as binary:
            return b"__asan_init" in binary.read()
    except OSError:
        return False


def _descendants(pid):
    found = []
    pending = [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except OSError:
            pass
    return found


def rss_kb(pid):
    """VmRSS in KiB of `pid` and its descendant processes (threads share one figure)."""
    total = 0
    for member in _descendants(pid):
        try:
            with open(f"/proc/{member}/status") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def cpu_ticks(pid):
    """utime + stime in clock ticks of `pid` and its descendants."""
    total = 0
    for member in _descendants(pid):
        try:
            with open(f"/proc/{member}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total


# --------------------------------------------------------------------------------------------
# HTTP messages


class Message:
    """A parsed HTTP/1.x request or response; header names keep the case they arrived in."""

    def __init__(self):
        self.start_line = ""
        self.headers = []
        self.body = b""
        self.raw = b""
        self.raw_head = b""
        self.chunked = False
        self.chunk_sizes = []
        self.trailers = []

    def header(self, name, default=None):
        """The first value of `name` (case-insensitive), or `default`."""
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return default

    def all(self, name):
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def has(self, name):
        return any(key.lower() == name.lower() for key, _ in self.headers)

    def names(self):
        return [key.lower() for key, _ in self.headers]

    def tokens(self, name):
        """The comma-separated tokens of every `name` header, lower-cased."""
        out = []
        for value in self.all(name):
            out.extend(t.strip().lower() for t in value.split(",") if t.strip())
        return out


class Request(Message):
    def __init__(self):
        super().__init__()
        self.method = ""
        self.target = ""
        self.version = ""


class Response(Message):
    def __init__(self):
        super().__init__()
        self.version = ""
        self.status = 0
        self.reason = ""

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class IncompleteMessage(Exception):
    """The peer closed (or the timeout expired) before a whole message arrived."""

    def __init__(self, what, partial):
        super().__init__(f"{what} after {len(partial)} bytes: {_shorten(repr(bytes(partial)))}")
        self.partial = bytes(partial)


def parse_head(head):
    """Splits a head (without the blank line) into its start line and header list."""
    lines = head.split(b"\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.decode("latin-1"), value.strip(b" \t").decode("latin-1")))
    return lines[0].decode("latin-1"), headers


def http_request(method, target="/", headers=(), body=b"", version="HTTP/1.1",
                 host="upstream.test", content_length=None):
    """Bytes of one request; adds Host and (for a non-empty body) Content-Length unless given."""
    names = {name.lower() for name, _ in headers}
    lines = [f"{method} {target} {version}"]
    if host is not None and "host" not in names:
        lines.append(f"Host: {host}")
    lines.extend(f"{name}: {value}" for name, value in headers)
    if content_length is None:
        content_length = body and "content-length" not in names and \
            "transfer-encoding" not in names
    if content_length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def http_response(status=200, headers=(), body=b"", reason=None, content_length=True,
                  version="HTTP/1.1"):
    reason = reason if reason is not None else REASONS.get(status, "Status")
    lines = [f"{version} {status} {reason}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    if content_length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked_body(chunks, trailers=(), extensions=False):
    """Chunked framing of `chunks` (a list of bytes) with an optional trailer section."""
    out = bytearray()
    for index, chunk in enumerate(chunks):
        if not chunk:
            continue
        ext = f";n={index}" if extensions else ""
        out += f"{len(chunk):x}{ext}\r\n".encode() + chunk + b"\r\n"
    out += b"0\r\n"
    for name, value in trailers:
        out += f"{name}: {value}\r\n".encode("latin-1")
    out += b"\r\n"
    return bytes(out)


REASONS = {100: "Continue", 101: "Switching Protocols", 200: "OK", 201: "Created",
           204: "No Content", 304: "Not Modified", 400: "Bad Request", 404: "Not Found",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def pattern_bytes(offset, length):
    """Deterministic, position-dependent bytes so a relayed stream can be checked anywhere."""
    out = bytearray()
    block = 4096
    first = offset // block
    last = (offset + length + block - 1) // block
    for index in range(first, last):
        out += hashlib.sha256(struct.pack(">Q", index)).digest() * (block // 32)
    start = offset - first * block
    return bytes(out[start:start + length])


def digest(data):
    return hashlib.sha256(data).hexdigest()[:16]


class Reader:
    """Buffered reads from a socket with deadlines; every byte received is kept in `raw`."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.raw = bytearray()
        self.eof = False
        self.reset = False

    def fill(self, deadline, size=65536):
        """Reads once; False on EOF, reset or deadline."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                return False
            data = self.sock.recv(size)
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            self.eof = self.reset = True
            return False
        except OSError:
            self.eof = True
            return False
        if not data:
            self.eof = True
            return False
        self.buf += data
        self.raw += data
        return True

    def take(self, count):
        data = bytes(self.buf[:count])
        del self.buf[:count]
        return data

    def read_exact(self, count, deadline):
        while len(self.buf) < count:
            if not self.fill(deadline):
                raise IncompleteMessage(
                    "closed" if self.eof else "timed out", self.buf)
        return self.take(count)

    def read_until(self, marker, deadline, limit=1 << 20):
        while True:
            index = self.buf.find(marker)
            if index >= 0:
                return self.take(index + len(marker))
            if len(self.buf) > limit:
                raise IncompleteMessage("head too long", self.buf)
            if not self.fill(deadline):
                raise IncompleteMessage("closed" if self.eof else "timed out", self.buf)

    def read_to_eof(self, deadline):
        while self.fill(deadline):
            pass
        if not self.eof:
            raise IncompleteMessage("timed out before close", self.buf)
        return self.take(len(self.buf))

    def read_chunked(self, message, deadline, sink=None):
        """De-chunks a body into `message.body` (or `sink`), recording sizes and trailers."""
        body = bytearray()
        while True:
            line = self.read_until(b"\r\n", deadline)[:-2]
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise IncompleteMessage(f"bad chunk size {line!r}", self.buf)
            message.chunk_sizes.append(size)
            if size == 0:
                break
            data = self.read_exact(size, deadline)
            if sink:
                sink(data)
            else:
                body += data
            if self.read_exact(2, deadline) != b"\r\n":
                raise IncompleteMessage("chunk without CRLF", self.buf)
        while True:
            line = self.read_until(b"\r\n", deadline)[:-2]
            if not line:
                break
            name, _, value = line.partition(b":")
            message.trailers.append((name.decode("latin-1"), value.strip().decode("latin-1")))
        message.body = bytes(body)


def _is_chunked(message):
    codings = message.tokens("transfer-encoding")
    return bool(codings) and codings[-1] == "chunked"


def read_request(reader, deadline, on_head=None):
    """One request from `reader`, or None when the peer closed cleanly between requests.
    `on_head(request)` runs once the head is parsed, before the body is read."""
    if not reader.buf and not reader.fill(deadline):
        if reader.eof:
            return None
        raise IncompleteMessage("timed out waiting for a request", reader.buf)
    start = len(reader.raw) - len(reader.buf)
    head = reader.read_until(b"\r\n\r\n", deadline)
    request = Request()
    request.raw_head = head
    request.start_line, request.headers = parse_head(head[:-4])
    parts = request.start_line.split(" ")
    if len(parts) == 3:
        request.method, request.target, request.version = parts
    if on_head:
        on_head(request)
    if _is_chunked(request):
        request.chunked = True
        reader.read_chunked(request, deadline)
    else:
        length = request.header("content-length")
        if length is not None and length.strip().isdigit():
            request.body = reader.read_exact(int(length), deadline)
    request.raw = bytes(reader.raw[start:len(reader.raw) - len(reader.buf)])
    return request


def read_response(reader, deadline, method="GET", skip_interim=True, sink=None):
    """One response from `reader`; `sink(data)` receives the body instead of storing it."""
    while True:
        start = len(reader.raw) - len(reader.buf)
        head = reader.read_until(b"\r\n\r\n", deadline)
        response = Response()
        response.raw_head = head
        response.start_line, response.headers = parse_head(head[:-4])
        parts = response.start_line.split(" ", 2)
        response.version = parts[0]
        response.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        response.reason = parts[2] if len(parts) > 2 else ""
        if not (skip_interim and 100 <= response.status < 200 and response.status != 101):
            break
    if method == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200:
        pass
    elif _is_chunked(response):
        response.chunked = True
        reader.read_chunked(response, deadline, sink)
    elif response.header("content-length") is not None:
        remaining = int(response.header("content-length"))
        if sink is None:
            response.body = reader.read_exact(remaining, deadline)
        else:
            while remaining:
                if not reader.buf and not reader.fill(deadline):
                    raise IncompleteMessage("closed mid-body", reader.buf)
                piece = reader.take(min(remaining, len(reader.buf)))
                remaining -= len(piece)
                sink(piece)
    else:
        response.body = reader.read_to_eof(deadline)
    response.raw = bytes(reader.raw[start:len(reader.raw) - len(reader.buf)])
    return response


# --------------------------------------------------------------------------------------------
# Clients


class Client:
    """A raw TCP client: sends exact bytes and parses exact responses."""

    def __init__(self, port, host="127.0.0.1", timeout=10, rcvbuf=None):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.sock.settimeout(None)
        self.timeout = timeout
        self.reader = Reader(self.sock)
        track(self)

    def send(self, data):
        self.sock.sendall(data)

    def trickle(self, data, delay):
        """Sends `data` one byte at a time; stops early (returning False) if the peer closed."""
        for index in range(len(data)):
            try:
                self.sock.send(data[index:index + 1])
            except OSError:
                return False
            ready, _, _ = select.select([self.sock], [], [], delay)
            if ready:
                return False
        return True

    def request(self, data, method=None, timeout=None):
        """Sends one request and reads its response."""
        self.send(data)
        if method is None:
            method = data.split(b" ", 1)[0].decode("latin-1")
        return self.response(method, timeout)

    def response(self, method="GET", timeout=None, skip_interim=True, sink=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        return read_response(self.reader, deadline, method, skip_interim, sink)

    def recv_some(self, timeout=5):
        """Buffered bytes, else whatever arrives within `timeout` (b"" if nothing or closed)."""
        if not self.reader.buf:
            self.reader.fill(time.monotonic() + timeout)
        return self.reader.take(len(self.reader.buf))

    def data_within(self, timeout):
        """True when bytes arrive within `timeout`; they stay buffered for `response()`."""
        return bool(self.reader.buf) or self.reader.fill(time.monotonic() + timeout)

    def closed(self, timeout=5):
        """True when the peer closes (FIN or RST) within `timeout`; keeps any extra bytes."""
        deadline = time.monotonic() + timeout
        while not self.reader.eof:
            if not self.reader.fill(deadline) and not self.reader.eof:
                return False
        return True

    def shut_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def close(self):
        self.sock.close()

    def release(self):
        self.sock.close()


def one_request(port, data, host="127.0.0.1", timeout=10, method=None):
    """New connection, one request, its response; the connection stays tracked until the
    case ends. Returns (response, client)."""
    client = Client(port, host, timeout)
    return client.request(data, method), client


def curl(args, timeout=30):
    """Runs curl with no proxy from the environment; returns CompletedProcess (bytes)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    cmd = ["curl", "--noproxy", "*", "-sS", "--max-time", str(timeout)] + list(args)
    return subprocess.run(cmd, capture_output=True, timeout=timeout + 5, env=env)


# --------------------------------------------------------------------------------------------
# The recording upstream


class UpstreamConn:
    """One connection accepted by the upstream; `raw` holds every byte it received."""

    def __init__(self, sock, index, server):
        self.sock = sock
        self.index = index
        self.server = server
        self.reader = Reader(sock)
        self.requests = []
        self.closed_by_peer = threading.Event()
        self.error = None

    @property
    def raw(self):
        return bytes(self.reader.raw)

    def read_request(self, timeout=10, on_head=None):
        """The next request, or None when the proxy closed the connection between requests.
        `on_head(request, conn)` runs before the body is read (to answer 100-continue)."""
        hook = (lambda request: on_head(request, self)) if on_head else None
        request = read_request(self.reader, time.monotonic() + timeout, hook)
        if request is None:
            self.closed_by_peer.set()
        else:
            with self.server.lock:
                self.requests.append(request)
                self.server.cond.notify_all()
        return request

    def read_some(self, timeout=5):
        """Buffered bytes, else whatever arrives within `timeout` (b"" on nothing or EOF)."""
        if not self.reader.buf:
            self.reader.fill(time.monotonic() + timeout)
        if self.reader.eof:
            self.closed_by_peer.set()
        return self.reader.take(len(self.reader.buf))

    def wait_eof(self, timeout=5):
        """Reads (and records) until the proxy closes; True if it did within `timeout`."""
        deadline = time.monotonic() + timeout
        while not self.reader.eof:
            if not self.reader.fill(deadline) and not self.reader.eof:
                return False
        self.closed_by_peer.set()
        return True

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def reset(self):
        """Closes with RST (SO_LINGER 0) instead of FIN."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.sock.close()


class Upstream:
    """A threaded upstream on loopback that records what it receives, per connection.

    `handler(conn)` runs on its own thread for each accepted connection; the default answers
    every request with `echo`. `family` is "tcp4", "tcp6" or "unix".
    """

    def __init__(self, handler=None, family="tcp4", backlog=128, rcvbuf=None):
        self.handler = handler or serve(echo)
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.connections = []
        self.threads = []
        self.stopping = False
        self.dir = None
        if family == "unix":
            self.dir = tempfile.mkdtemp(prefix="jwtgate-up-")
            self.path = os.path.join(self.dir, "upstream.sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(self.path)
            self.address = f"unix:{self.path}"
        elif family == "tcp6":
            self.sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            self.sock.bind(("::1", 0))
            self.port = self.sock.getsockname()[1]
            self.address = f"[::1]:{self.port}"
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
            self.address = f"127.0.0.1:{self.port}"
        if rcvbuf:
            # Accepted connections inherit it: a small window keeps the proxy's bytes queued
            # on its side while the handler does not read.
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.listen(backlog)
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()
        track(self)

    def _accept(self):
        while not self.stopping:
            try:
                ready, _, _ = select.select([self.sock], [], [], 0.05)
                if not ready:
                    continue
                sock, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                conn = UpstreamConn(sock, len(self.connections), self)
                self.connections.append(conn)
                self.cond.notify_all()
            thread = threading.Thread(target=self._run, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _run(self, conn):
        try:
            self.handler(conn)
        except Exception as error:  # the proxy hanging up is normal; keep it for debugging
            conn.error = error
            if VERBOSE and not self.stopping:
                print(f"  [upstream conn {conn.index}] {type(error).__name__}: {error}",
                      file=sys.stderr, flush=True)
        finally:
            try:
                conn.sock.close()
            except OSError:
                pass

    def release(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.connections)
        for conn in conns:
            conn.close()
        self.acceptor.join(timeout=2)
        for thread in self.threads:
            thread.join(timeout=2)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def connection_count(self):
        with self.lock:
            return len(self.connections)

    def requests(self):
        with self.lock:
            return [r for conn in self.connections for r in conn.requests]

    def total_bytes(self):
        with self.lock:
            return sum(len(conn.reader.raw) for conn in self.connections)

    def all_raw(self):
        with self.lock:
            return b"".join(bytes(conn.reader.raw) for conn in self.connections)

    def wait_requests(self, count, timeout=10):
        """Waits until `count` requests were read; returns the list of all requests."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [r for conn in self.connections for r in conn.requests]
                left = end - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found
                self.cond.wait(min(left, 0.1))

    def wait_connections(self, count, timeout=10):
        end = time.monotonic() + timeout
        with self.cond:
            while len(self.connections) < count:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.1))
            return list(self.connections)


# Stop marker a responder returns when it has closed or taken over the connection.
HANDLED = object()


def serve(respond, request_timeout=60, on_head=None):
    """A connection handler that reads requests in a loop and answers each with
    `respond(request, conn)`: bytes to send, or HANDLED when it wrote (or closed) itself.
    The loop ends when the proxy closes, when the responder returns HANDLED after closing,
    or after a response that carries `Connection: close`."""

    def handler(conn):
        while True:
            request = conn.read_request(timeout=request_timeout, on_head=on_head)
            if request is None:
                return
            out = respond(request, conn)
            if out is HANDLED:
                if conn.sock.fileno() < 0:
                    return
                continue
            conn.send(out)
            head = out.split(b"\r\n\r\n", 1)[0].lower() + b"\r\n"
            if b"\r\nconnection: close\r\n" in head or "close" in request.tokens("connection"):
                conn.close()
                return

    return handler


def echo_body(request):
    """What `echo` answers: method, target, body length and digest, one line."""
    return (f"{request.method} {request.target} {len(request.body)} "
            f"{digest(request.body)}").encode()


def echo(request, conn):
    """200 with a body that identifies the request; HEAD gets the length, no body."""
    body = echo_body(request)
    headers = [("Content-Type", "text/plain"), ("X-Upstream-Conn", str(conn.index)),
               ("X-Upstream-Seq", str(len(conn.requests)))]
    if request.method == "HEAD":
        return http_response(200, headers + [("Content-Length", str(len(body)))],
                             content_length=False)
    return http_response(200, headers, body)


def continue_on_expect(request, conn):
    """An `on_head` hook that answers `Expect: 100-continue` the way origin servers do."""
    if "100-continue" in request.tokens("expect"):
        conn.send(b"HTTP/1.1 100 Continue\r\n\r\n")


def fixed(data):
    """A responder that always sends the same bytes."""
    return lambda request, conn: data


def slow(delay, then=echo):
    """A responder that waits `delay` seconds before answering with `then`."""

    def respond(request, conn):
        time.sleep(delay)
        return then(request, conn)

    return respond


def streamed(total, piece=65536, chunked=False, headers=()):
    """A responder that streams `total` pattern bytes as fast as the proxy takes them."""

    def respond(request, conn):
        extra = [("Transfer-Encoding", "chunked")] if chunked else \
            [("Content-Length", str(total))]
        conn.send(http_response(200, list(headers) + extra, content_length=False))
        sent = 0
        while sent < total:
            data = pattern_bytes(sent, min(piece, total - sent))
            conn.send(f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data)
            sent += len(data)
        if chunked:
            conn.send(b"0\r\n\r\n")
        return HANDLED

    return respond


def cut_off(head_and_partial, reset=False, pause=0.2):
    """A responder that sends some bytes then closes (FIN) or resets (RST)."""

    def respond(request, conn):
        conn.send(head_and_partial)
        time.sleep(pause)
        if reset:
            conn.reset()
        else:
            conn.close()
        return HANDLED

    return respond


def upgrade_echo(request, conn):
    """Answers 101 and then echoes every byte back with an `echo:` prefix until EOF."""
    conn.send(http_response(101, [("Connection", "Upgrade"),
                                  ("Upgrade", request.header("upgrade", "websocket"))],
                            content_length=False))
    conn.send(b"hello-from-upstream")
    while True:
        data = conn.read_some(timeout=30)
        if not data:
            if conn.reader.eof:
                conn.close()
                return HANDLED
            continue
        conn.send(b"echo:" + data)


# --------------------------------------------------------------------------------------------
# Assertions shared by several files


def check_proxy_error(suite, name, response, status, client=None, closes=True):
    """A proxy-made error: the status, a JSON body whose length matches Content-Length, and
    `Connection: close` plus an actual close when `closes`."""
    if not suite.equal(f"{name}: status", response.status, status):
        return False
    length = response.header("content-length")
    suite.check(f"{name}: Content-Length matches the body",
                length is not None and length.isdigit() and int(length) == len(response.body),
                f"Content-Length {length!r}, body {len(response.body)} bytes")
    try:
        parsed = json.loads(response.body.decode("utf-8"))
        is_json = isinstance(parsed, dict)
    except ValueError:
        is_json = False
    suite.check(f"{name}: body is a short JSON object",
                is_json and len(response.body) < 512, repr(response.body[:200]))
    if closes:
        suite.check(f"{name}: Connection: close", "close" in response.tokens("connection"),
                    response.headers)
        if client is not None:
            suite.check(f"{name}: connection closed", client.closed(5),
                        "still open 5s after the error")
    return True

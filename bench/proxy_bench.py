#!/usr/bin/python3
"""Load bench for jwtgate beside HAProxy and nginx, forwarding and verifying JWTs, on loopback.

Run by hand (bench/README.md), never from the test suite. A fast nginx returns a small fixed
body; wrk drives it directly and then through each proxy in turn. The proxy under test is
pinned to CPU 0, wrk and the upstream to CPU 1. The authentication rows send a valid token on
every request (bench/bearer.lua) to jwtgate with a provider, with and without its token
cache, and to HAProxy verifying it with jwt_verify; the raw OpenSSL verify cost measured in
the same run is their yardstick. See ROWS at the end.
"""

import argparse
import base64
import json
import os
import platform
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import harness  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
BODY = (b"bench upstream body: a small fixed response that every proxy relays unchanged.\n"
        b"0123456789abcdef\n")
PROXY_CPU = "0"
LOAD_CPU = "1"

# Targets from the task: ratios against the cheaper of HAProxy and nginx.
TARGET_CPU_RATIO = 0.80
TARGET_THROUGHPUT_RATIO = 1.0
TARGET_ADDED_P50_US = 50.0
TARGET_IDLE_RSS_KB = 10 * 1024
TARGET_10K_RSS_KB = 64 * 1024

# Authentication targets: a cache hit costs at most 10% over forwarding alone; without the
# cache a request costs at most forwarding plus 1.1 times the raw OpenSSL verify; jwtgate on
# cache hits serves at least 3 times what HAProxy's jwt_verify serves (RS256).
TARGET_CACHE_HIT_CPU_RATIO = 1.10
TARGET_NO_CACHE_VERIFY_RATIO = 1.10
TARGET_VS_HAPROXY_JWT_THROUGHPUT = 3.0

BEARER_SCRIPT = os.path.join(ROOT, "bench", "bearer.lua")
AUTH_ALGORITHMS = ("RS256", "ES256", "EdDSA")
ISSUER = "https://issuer.bench.test/"
AUDIENCE = "api://bench"
TOKEN_LIFETIME_S = 24 * 3600  # far beyond any run, so no token expires mid-run


def log(message):
    print(message, file=sys.stderr, flush=True)


def pinned(cpu, enabled):
    return ["taskset", "-c", cpu] if enabled else []


def free_port():
    return harness.free_port()


def wait_port(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Service:
    """A process started from a config in the temp dir, stopped with SIGTERM then SIGKILL."""

    def __init__(self, name, cmd, port, workdir):
        self.name = name
        self.port = port
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid
        harness.track(self)
        if not wait_port(port):
            self.release()
            raise RuntimeError(f"{name} did not listen on {port}: {self.log_text()}")

    def log_text(self):
        with open(self.log_path, "rb") as stream:
            return stream.read()[-2000:].decode("utf-8", "replace")

    def release(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()


class JwtgateService:
    """jwtgate started through the integration harness (it waits for the listening line)."""

    def __init__(self, config, wrapper):
        self.proxy = harness.Proxy(config, wrapper=wrapper)
        self.pid = self.proxy.pid
        self.port = self.proxy.port
        self.name = "jwtgate"
        self.stats = {}

    def release(self):
        self.proxy.stop(signal.SIGTERM, timeout=20)
        self.stats = worker_stats(self.proxy.stderr_lines)


_STATS_RE = re.compile(r"auth: worker stats: (.*)$")


def worker_stats(lines):
    """The counters of jwtgate's shutdown line (`requests=... cache_hits=...`), summed over
    workers; empty when it configured no authentication."""
    total = {}
    for line in lines:
        match = _STATS_RE.search(line)
        if not match:
            continue
        for pair in match.group(1).split():
            key, _, value = pair.partition("=")
            if value.isdigit():
                total[key] = total.get(key, 0) + int(value)
    return total


# --------------------------------------------------------------------------------------------
# Keys and tokens


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Credentials:
    """One fresh key pair per algorithm (RSA 2048, P-256, Ed25519), its public key as a PEM
    file in the bench's temp dir, and one token signed with it by PyJWT, an implementation
    independent of jwtgate. Both jwtgate and HAProxy read the same PEM files."""

    def __init__(self, workdir):
        import jwt  # Debian's python3-jwt: only the authentication rows need it
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        private = {
            "RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ES256": ec.generate_private_key(ec.SECP256R1()),
            "EdDSA": ed25519.Ed25519PrivateKey.generate(),
        }
        now = int(time.time())
        self.expires = now + TOKEN_LIFETIME_S
        self.pem, self.token, self.token_file, self.kid = {}, {}, {}, {}
        for alg, key in private.items():
            self.kid[alg] = f"bench-{alg.lower()}"
            self.pem[alg] = os.path.join(workdir, f"{alg.lower()}-public.pem")
            with open(self.pem[alg], "wb") as out:
                out.write(key.public_key().public_bytes(
                    serialization.Encoding.PEM,
                    serialization.PublicFormat.SubjectPublicKeyInfo))
            token = jwt.encode(self.claims(now), key, algorithm=alg,
                               headers={"kid": self.kid[alg], "typ": "JWT"})
            self.token[alg] = token if isinstance(token, str) else token.decode()
            self.token_file[alg] = os.path.join(workdir, f"{alg.lower()}.token")
            with open(self.token_file[alg], "w") as out:
                out.write(self.token[alg] + "\n")

    def claims(self, now):
        """An access token of the usual size (about 300 bytes of claims)."""
        return {"iss": ISSUER, "sub": "5f1c6b2e-8d0a-4f5e-9b1a-2c3d4e5f6a7b", "aud": AUDIENCE,
                "exp": self.expires, "iat": now, "nbf": now,
                "jti": "0d7a4c52-9b3e-4f61-a8c0-7e2b5d9f1a36", "azp": "bench-client",
                "scope": "openid profile email orders:read orders:write",
                "email": "alice@bench.test"}

    def forged(self, alg):
        """The token with one signature byte changed (still canonical base64url)."""
        head, payload, signature = self.token[alg].split(".")
        raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
        raw[len(raw) // 2] ^= 0x01
        return f"{head}.{payload}.{b64url(bytes(raw))}"


# --------------------------------------------------------------------------------------------
# Configurations


NGINX_COMMON = """daemon off;
error_log {dir}/{name}-error.log warn;
pid {dir}/{name}.pid;
"""

NGINX_TEMP_PATHS = """  client_body_temp_path {dir}/{name}-body;
  proxy_temp_path {dir}/{name}-proxy;
  fastcgi_temp_path {dir}/{name}-fastcgi;
  uwsgi_temp_path {dir}/{name}-uwsgi;
  scgi_temp_path {dir}/{name}-scgi;
"""


def start_upstream(bench):
    name = "upstream"
    port = free_port()
    body = BODY.decode().replace("\n", "\\n")
    text = NGINX_COMMON + """master_process off;
worker_processes 1;
worker_rlimit_nofile 4096;
events {{ worker_connections 4096; }}
http {{
  access_log off;
""" + NGINX_TEMP_PATHS + """  keepalive_requests 100000000;
  keepalive_timeout 300s;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      default_type text/plain;
      return 200 "{body}";
    }}
  }}
}}
"""
    path = bench.write(f"{name}.conf", text.format(dir=bench.dir, name=name, port=port,
                                                    body=body))
    cmd = pinned(LOAD_CPU, bench.pin) + ["nginx", "-p", bench.dir, "-e",
                                         f"{bench.dir}/{name}-error.log", "-c", path]
    return Service(name, cmd, port, bench.dir)


def start_direct(bench):
    return None  # wrk talks to the upstream itself


def start_relay(bench):
    """The floor: bench/byte_relay.c copies bytes between each client and its own upstream
    connection, with no HTTP work at all (two reads and two writes per request)."""
    if not bench.byte_relay:
        raise RuntimeError("no byte_relay binary (build the byte_relay target, or "
                           "--byte-relay PATH)")
    port = free_port()
    cmd = pinned(PROXY_CPU, bench.pin) + [bench.byte_relay, str(port), str(bench.upstream.port)]
    return Service("relay", cmd, port, bench.dir)


def jwtgate_config(bench, port=0, **extra):
    config = {
        "listen": f"127.0.0.1:{port}",
        "upstream": f"127.0.0.1:{bench.upstream.port}",
        "workers": 1,
        "limits": {"max_connections": 20000, "max_idle_upstream": 64},
        "timeouts": {"client_idle": "300s", "request_header": "60s"},
        # Like the nginx and HAProxy rows, which log nothing per request.
        "access_log": {"output": "off"},
    }
    if not any(key in extra for key in ("auth", "providers", "routes")):
        config["auth"] = "off"  # jwtgate refuses a file without routes unless it says so
    config.update(extra)
    return config


def start_jwtgate(bench, **extra):
    return JwtgateService(jwtgate_config(bench, **extra), pinned(PROXY_CPU, bench.pin))


def start_jwtgate_auth(bench, alg, cache=True):
    """jwtgate with one provider (the PEM key of `alg`) and one route needing its token."""
    credentials = bench.credentials()
    provider = {
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "keys": [{"pem": credentials.pem[alg], "kid": credentials.kid[alg], "alg": alg}],
        "algorithms": [alg],
    }
    extra = {
        "providers": {"bench": provider},
        "routes": [{"name": "bench", "match": {"prefix": "/"},
                    "require": {"provider": "bench"}}],
    }
    if not cache:
        extra["auth"] = {"cache": {"max_entries": 0}}
    return start_jwtgate(bench, **extra)


HAPROXY_CONFIG = """global
  nbthread 1
  maxconn 9990
defaults
  mode http
  timeout connect 2s
  timeout client 300s
  timeout server 30s
  timeout http-keep-alive 300s
  timeout http-request 60s
frontend fe
  bind 127.0.0.1:{port}
{auth}  option forwardfor
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  default_backend be
backend be
  http-reuse always
  server s1 127.0.0.1:{upstream} maxconn 64
"""

# HAProxy 2.6's own JWT converters: the same checks as the jwtgate rows (alg pinned, the
# signature, iss, aud, exp), a 401 for anything else. jwt_verify returns 1 for a good
# signature; the PEM path must be a literal so that HAProxy loads the key at start.
HAPROXY_JWT_RULES = """  http-request set-var(txn.bearer) http_auth_bearer
  http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('$.alg')
  http-request set-var(txn.iss) var(txn.bearer),jwt_payload_query('$.iss')
  http-request set-var(txn.aud) var(txn.bearer),jwt_payload_query('$.aud')
  http-request set-var(txn.exp) var(txn.bearer),jwt_payload_query('$.exp','int')
  http-request set-var(txn.now) date
  acl jwt_alg var(txn.alg) -m str {alg}
  acl jwt_signature var(txn.bearer),jwt_verify(txn.alg,"{pem}") -m int 1
  acl jwt_issuer var(txn.iss) -m str {issuer}
  acl jwt_audience var(txn.aud) -m str {audience}
  acl jwt_unexpired var(txn.exp),sub(txn.now) -m int gt 0
""" + (  # one line: HAProxy has no line continuation
    "  http-request return status 401 content-type application/json"
    " string '{{\"error\":\"invalid_token\"}}' hdr WWW-Authenticate 'Bearer realm=\"bench\"'"
    " unless jwt_alg jwt_signature jwt_issuer jwt_audience jwt_unexpired\n")


def start_haproxy(bench, name="haproxy", auth=""):
    port = free_port()
    text = HAPROXY_CONFIG.format(port=port, upstream=bench.upstream.port, auth=auth)
    path = bench.write(f"{name}.cfg", text)
    cmd = pinned(PROXY_CPU, bench.pin) + ["haproxy", "-db", "-f", path]
    return Service(name, cmd, port, bench.dir)


def start_haproxy_jwt(bench, alg):
    credentials = bench.credentials()
    rules = HAPROXY_JWT_RULES.format(alg=alg, pem=credentials.pem[alg], issuer=ISSUER,
                                     audience=AUDIENCE)
    return start_haproxy(bench, f"haproxy-{alg.lower()}", rules)


def start_nginx_proxy(bench):
    name = "nginx"
    port = free_port()
    text = NGINX_COMMON + """worker_processes 1;
worker_rlimit_nofile 40000;
events {{ worker_connections 20480; }}
http {{
  access_log off;
""" + NGINX_TEMP_PATHS + """  keepalive_requests 100000000;
  keepalive_timeout 300s;
  upstream backend {{
    server 127.0.0.1:{up};
    keepalive 64;
    keepalive_requests 100000000;
  }}
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
    }}
  }}
}}
"""
    path = bench.write(f"{name}.conf", text.format(dir=bench.dir, name=name, port=port,
                                                    up=bench.upstream.port))
    cmd = pinned(PROXY_CPU, bench.pin) + ["nginx", "-p", bench.dir, "-e",
                                          f"{bench.dir}/{name}-error.log", "-c", path]
    return Service(name, cmd, port, bench.dir)


# --------------------------------------------------------------------------------------------
# Measuring


class Row:
    """One line of the table: how to start the server under test and what wrk sends.

    `start(bench)` returns a service with `.port` and `.pid` (None: talk to the upstream).
    `headers` go to wrk as -H. `token` names the algorithm whose token every request carries
    (through bench/bearer.lua); `verifies` says the server checks it (a request without it
    or with a forged one must get 401). `reference` rows are the plain proxies jwtgate is compared
    with; `subject` rows are jwtgate's own forwarding rows (the engine targets); the `floor` row
    is the byte relay that does no HTTP. `max_clients` caps the idle-client count where the
    server cannot take more under the fd limit.
    """

    def __init__(self, name, start, headers=(), reference=False, subject=False,
                 memory=True, max_clients=None, token=None, verifies=True, floor=False):
        self.name = name
        self.floor = floor
        self.max_clients = max_clients
        self.start = start
        self.headers = list(headers)
        self.reference = reference
        self.subject = subject
        self.memory = memory
        self.token = token
        self.verifies = verifies and bool(token)

    def request_headers(self, bench):
        """The headers of every request of this row, the token included (for checks by hand;
        wrk gets the token from bearer.lua)."""
        if not self.token:
            return self.headers
        return self.headers + [f"Authorization: Bearer {bench.credentials().token[self.token]}"]


_LATENCY_RE = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNITS_US = {"us": 1.0, "ms": 1000.0, "s": 1e6}


def parse_wrk(text):
    result = {"requests": 0, "rps": 0.0, "errors": 0, "non2xx": 0}
    for match in _LATENCY_RE.finditer(text):
        result[f"p{match.group(1)}"] = float(match.group(2)) * _UNITS_US[match.group(3)]
    match = re.search(r"(\d+) requests in", text)
    if match:
        result["requests"] = int(match.group(1))
    match = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if match:
        result["rps"] = float(match.group(1))
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      text)
    if match:
        result["errors"] = sum(int(g) for g in match.groups())
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if match:
        result["non2xx"] = int(match.group(1))
    return result


def run_wrk(bench, port, seconds, row, connections=None):
    connections = connections or bench.connections
    threads = min(bench.threads, connections)
    cmd = pinned(LOAD_CPU, bench.pin) + [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
        "--timeout", "5s"]
    for header in row.headers:
        cmd += ["-H", header]
    url = f"http://127.0.0.1:{port}/bench"
    if row.token:
        cmd += ["-s", BEARER_SCRIPT, url, bench.credentials().token_file[row.token]]
    else:
        cmd.append(url)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr}")
    return parse_wrk(done.stdout), done.stdout


def status_of(port, headers):
    extra = [tuple(h.split(": ", 1)) for h in headers]
    response, client = harness.one_request(port, harness.http_request("GET", "/bench",
                                                                      headers=extra))
    client.close()
    return response


def sanity_check(bench, row, port):
    """Requests by hand: the row must answer 200 with the upstream's body; a row that needs a
    token must answer 401 without one and with a forged one (so it really verifies)."""
    response = status_of(port, row.request_headers(bench))
    if response.status != 200 or response.body != BODY:
        raise RuntimeError(f"sanity request got {response.status}: {response.body[:200]!r}")
    if not row.verifies:
        return
    forged = f"Authorization: Bearer {bench.credentials().forged(row.token)}"
    for label, headers in (("no token", row.headers), ("a forged token",
                                                       row.headers + [forged])):
        response = status_of(port, headers)
        if response.status != 401:
            raise RuntimeError(f"{label} got {response.status}, not 401")


def move_to_cpu(service, cpu):
    """Re-pins every thread of the service's processes (taskset -a) to `cpu`."""
    for pid in harness._descendants(service.pid):
        subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(pid)], capture_output=True,
                       check=True, timeout=10)


def measure_once(bench, row, service, port, repeat):
    """One wrk run at full concurrency (with the proxy's CPU time), then two at -c1: with the
    proxy on its own CPU, and with the proxy moved beside wrk and the upstream."""
    run_wrk(bench, port, bench.warmup, row)
    before = harness.cpu_ticks(service.pid) if service else 0
    result, _ = run_wrk(bench, port, bench.duration, row)
    after = harness.cpu_ticks(service.pid) if service else 0
    served = max(result["requests"], 1)
    result["cpu_us_per_req"] = (after - before) / CLK_TCK * 1e6 / served if service else None
    if result["errors"] or result["non2xx"]:
        log(f"  {row.name}: {result['errors']} socket errors, "
            f"{result['non2xx']} non-2xx responses")

    # One connection: the latency the proxy adds without queueing behind others.
    single, _ = run_wrk(bench, port, bench.single_duration, row, 1)
    result["p50_c1"] = single.get("p50")
    result["p99_c1"] = single.get("p99")

    # The split placement gives the proxied path four cross-CPU wake-ups per request that the
    # direct path (wrk and upstream on one CPU) never has. On one CPU both paths pay the same
    # scheduling, so the difference is what the proxy itself adds.
    result["p50_c1_one_cpu"] = result["p50_c1"] if bench.pin else None
    if bench.pin and service:
        move_to_cpu(service, LOAD_CPU)
        try:
            local, _ = run_wrk(bench, port, bench.single_duration, row, 1)
        finally:
            move_to_cpu(service, PROXY_CPU)
        result["p50_c1_one_cpu"] = local.get("p50")
    result["rss_kb"] = harness.rss_kb(service.pid) if service else None
    log(f"  {row.name} run {repeat + 1}: {result['rps']:.0f} req/s, "
        f"p50 {result.get('p50', 0):.0f} us, CPU {result['cpu_us_per_req'] or 0:.2f} us/req, "
        f"p50 at -c1 {single.get('p50', 0):.0f} us "
        f"({result['p50_c1_one_cpu'] or 0:.0f} us on one CPU), "
        f"RSS {(result['rss_kb'] or 0) / 1024:.1f} MiB")
    return result


def measure_load(bench, rows):
    """Starts every row's server, then runs the rows round-robin, `repeat` rounds, so that
    a slow period of a noisy machine spreads over all rows instead of hitting one."""
    services = {}
    for row in rows:
        try:
            service = row.start(bench)
            services[row.name] = service
            sanity_check(bench, row, service.port if service else bench.upstream.port)
        except Exception as error:  # one broken row must not hide the others
            log(f"  {row.name} failed to start: {error}")
            broken = services.pop(row.name, None)
            if broken:
                broken.release()
    runs = {name: [] for name in services}
    for repeat in range(bench.repeat):
        log(f"round {repeat + 1} of {bench.repeat}")
        for row in rows:
            if row.name not in services:
                continue
            service = services[row.name]
            port = service.port if service else bench.upstream.port
            try:
                runs[row.name].append(measure_once(bench, row, service, port, repeat))
            except Exception as error:
                log(f"  {row.name} run failed: {error}")
    stats = {}
    for name, service in services.items():
        if service:
            service.release()
            stats[name] = getattr(service, "stats", {})
    results = {name: summarize(found) for name, found in runs.items() if found}
    for name, result in results.items():
        result["worker_stats"] = stats.get(name, {})
    return results


def summarize(runs):
    keys = ["rps", "p50", "p90", "p99", "cpu_us_per_req", "requests", "errors", "non2xx",
            "p50_c1", "p99_c1", "p50_c1_one_cpu", "rss_kb"]
    out = {}
    for key in keys:
        values = [run[key] for run in runs if run.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    out["runs"] = runs
    return out


# --------------------------------------------------------------------------------------------
# The raw OpenSSL verify cost: the yardstick of the rows without the token cache

_RAW_FILTER = "^BM_RawOpenssl/(" + "|".join(AUTH_ALGORITHMS) + ")$"


def raw_from_verifier_benchmark(bench):
    """Per algorithm, the CPU ns of one raw OpenSSL verify (EVP_DigestVerifyInit plus
    EVP_DigestVerify on a loaded key) from verifier_benchmark's BM_RawOpenssl rows, one value
    per repetition. Runs on the proxy's CPU, as jwtgate does."""
    out_path = os.path.join(bench.dir, f"raw-{time.monotonic_ns()}.json")
    cmd = pinned(PROXY_CPU, bench.pin) + [
        bench.verifier_benchmark, f"--benchmark_filter={_RAW_FILTER}",
        f"--benchmark_repetitions={bench.raw_repetitions}", "--benchmark_min_time=0.5",
        f"--benchmark_out={out_path}", "--benchmark_out_format=json"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"verifier_benchmark failed: {done.stderr[-500:]}")
    with open(out_path) as data:
        report = json.load(data)
    scale = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
    found = {}
    for entry in report.get("benchmarks", []):
        if entry.get("run_type") != "iteration" or entry.get("error_occurred"):
            continue
        alg = entry["run_name"].split("/", 1)[1]
        found.setdefault(alg, []).append(entry["cpu_time"] * scale[entry["time_unit"]])
    return found


_SPEED_LINES = {
    "RS256": re.compile(r"^rsa\s+2048 bits\s+\S+\s+\S+\s+\S+\s+([\d.]+)\s*$", re.M),
    "ES256": re.compile(r"^\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+\S+\s+([\d.]+)\s*$",
                        re.M),
    "EdDSA": re.compile(r"^\s*253 bits EdDSA \(Ed25519\)\s+\S+\s+\S+\s+\S+\s+([\d.]+)\s*$",
                        re.M),
}


def raw_from_openssl_speed(bench):
    """The same from `openssl speed` (verify/s), when verifier_benchmark is not built."""
    cmd = pinned(PROXY_CPU, bench.pin) + ["openssl", "speed", "-seconds", "3", "rsa2048",
                                          "ecdsap256", "ed25519"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    found = {}
    for alg, pattern in _SPEED_LINES.items():
        match = pattern.search(done.stdout)
        if match and float(match.group(1)) > 0:
            found[alg] = [1e9 / float(match.group(1))]
    return found


def measure_raw_verify(bench, label):
    try:
        if bench.verifier_benchmark:
            found, source = raw_from_verifier_benchmark(bench), "verifier_benchmark"
        else:
            found, source = raw_from_openssl_speed(bench), "openssl speed"
    except (OSError, ValueError, KeyError, RuntimeError, subprocess.SubprocessError) as error:
        log(f"raw verify ({label}) failed: {error}")
        return
    bench.raw_source = source
    for alg, values in found.items():
        bench.raw_ns.setdefault(alg, []).extend(values)
    log(f"raw OpenSSL verify ({label}, {source}): " + ", ".join(
        f"{alg} {statistics.median(v) / 1000:.1f} us" for alg, v in sorted(found.items())))


# --------------------------------------------------------------------------------------------
# Memory with many idle keep-alive clients


def open_idle_clients(port, count, timeout=120):
    """Opens `count` connections, completes one request on each, and leaves them open."""
    request = b"GET /bench HTTP/1.1\r\nHost: bench\r\n\r\n"
    selector = selectors.DefaultSelector()
    socks = []
    pending = {}
    end = time.monotonic() + timeout
    batch = 500
    opened = 0
    while opened < count or pending:
        if time.monotonic() > end:
            raise RuntimeError(f"only {len(socks) - len(pending)} of {count} clients ready")
        while opened < count and len(pending) < batch:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            socks.append(sock)
            pending[sock.fileno()] = [sock, b"", False]
            selector.register(sock, selectors.EVENT_WRITE)
            opened += 1
        for key, events in selector.select(timeout=1):
            state = pending[key.fd]
            sock = state[0]
            if events & selectors.EVENT_WRITE and not state[2]:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    raise RuntimeError("a client connection failed")
                sock.send(request)
                state[2] = True
                selector.modify(sock, selectors.EVENT_READ)
                continue
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("the proxy closed an idle client")
            state[1] += data
            if state[1].endswith(BODY):
                selector.unregister(sock)
                del pending[key.fd]
    selector.close()
    return socks


def measure_memory(bench, row, count):
    service = row.start(bench)
    try:
        sanity_check(bench, row, service.port)
        time.sleep(0.5)
        idle = harness.rss_kb(service.pid)
        socks = open_idle_clients(service.port, count)
        time.sleep(1.0)
        loaded = harness.rss_kb(service.pid)
        for sock in socks:
            sock.close()
        return {"idle_kb": idle, "clients": count, "loaded_kb": loaded}
    finally:
        service.release()


# --------------------------------------------------------------------------------------------
# Report


def fmt(value, digits=0, suffix=""):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{suffix}"


def verdict(ok):
    return "PASS" if ok else "MISS"


def ratio_line(label, value, target, better):
    if value is None:
        return f"  {label}: -"
    ok = value <= target if better == "lower" else value >= target
    sign = "<=" if better == "lower" else ">="
    shown = f"{value:.2f}"
    if float(shown) == target and value != target:
        shown = f"{value:.3f}"  # so that 2.996 does not read as 3.00 beside a MISS
    return f"  {label}: {shown} (target {sign} {target:.2f}) {verdict(ok)}"


def table_lines(bench, results):
    direct = results.get("direct")
    header = f"{'row':<18}{'req/s':>10}{'p50 us':>9}{'p90 us':>9}{'p99 us':>9}" \
             f"{'CPU us/req':>12}{'added p50':>11}{'c1 p50':>9}{'c1 p99':>9}{'c1 added':>10}" \
             f"{'1cpu p50':>10}{'1cpu add':>10}{'RSS MiB':>9}"
    lines = [header, "-" * len(header)]
    for row in bench.rows:
        res = results.get(row.name)
        if res is None:
            lines.append(f"{row.name:<18}  (failed: see above)")
            continue
        proxied = direct and row.name != "direct"
        added = res["p50"] - direct["p50"] if proxied else None
        added_c1 = res["p50_c1"] - direct["p50_c1"] if proxied else None
        one_cpu = res.get("p50_c1_one_cpu")
        added_one_cpu = (one_cpu - direct["p50_c1_one_cpu"]
                         if proxied and one_cpu is not None else None)
        rss = res["rss_kb"] / 1024 if res.get("rss_kb") else None
        lines.append(f"{row.name:<18}{fmt(res['rps']):>10}{fmt(res['p50']):>9}"
                     f"{fmt(res['p90']):>9}{fmt(res['p99']):>9}"
                     f"{fmt(res['cpu_us_per_req'], 2):>12}{fmt(added, 0):>11}"
                     f"{fmt(res['p50_c1']):>9}{fmt(res['p99_c1']):>9}{fmt(added_c1, 0):>10}"
                     f"{fmt(one_cpu):>10}{fmt(added_one_cpu, 0):>10}{fmt(rss, 1):>9}")
    return lines


def engine_target_lines(bench, results):
    """jwtgate forwarding against the plain HAProxy and nginx rows."""
    direct = results.get("direct")
    references = [r for r in bench.rows if r.reference and results.get(r.name)]
    subjects = [r for r in bench.rows if r.subject and results.get(r.name)]
    if not references or not subjects:
        return []
    cheapest = min(references, key=lambda r: results[r.name]["cpu_us_per_req"])
    cheapest_cpu = results[cheapest.name]["cpu_us_per_req"]
    lines = [""]
    floor = next((r for r in bench.rows if r.floor and results.get(r.name)), None)
    if floor:
        # What no proxy can avoid here: the kernel's loopback TCP path and the machine's
        # wake-ups. The CPU target leaves a proxy its budget minus this for its own work.
        floor_cpu = results[floor.name]["cpu_us_per_req"]
        budget = TARGET_CPU_RATIO * cheapest_cpu
        lines.append(f"floor: the byte relay (no HTTP) spends {floor_cpu:.2f} us/request, "
                     f"{floor_cpu / cheapest_cpu:.2f} of {cheapest.name}; the CPU target "
                     f"({TARGET_CPU_RATIO:.2f} x {cheapest_cpu:.2f} = {budget:.2f} us) leaves "
                     f"{budget - floor_cpu:.2f} us per request for all HTTP work")
    for subject in subjects:
        mine = results[subject.name]
        lines.append(f"{subject.name}:")
        if floor:
            lines.append(f"  over the floor: {mine['cpu_us_per_req'] - floor_cpu:.2f} us/request"
                         f" (the other proxies: " + ", ".join(
                             f"{r.name} {results[r.name]['cpu_us_per_req'] - floor_cpu:.2f}"
                             for r in references) + ")")
        lines.append(ratio_line(f"CPU/request vs {cheapest.name} (the cheaper)",
                                mine["cpu_us_per_req"] /
                                results[cheapest.name]["cpu_us_per_req"],
                                TARGET_CPU_RATIO, "lower"))
        for reference in references:
            lines.append(ratio_line(f"throughput vs {reference.name}",
                                    mine["rps"] / results[reference.name]["rps"],
                                    TARGET_THROUGHPUT_RATIO, "higher"))
        if direct:
            for label, key in ((f"-c{bench.connections}", "p50"),
                               (f"-c1, proxy on CPU {PROXY_CPU}", "p50_c1"),
                               ("-c1, all on one CPU", "p50_c1_one_cpu")):
                if mine.get(key) is None or direct.get(key) is None:
                    continue
                added = mine[key] - direct[key]
                relay = results[floor.name].get(key) if floor else None
                relay_note = (f"; the byte relay adds {relay - direct[key]:.0f} us"
                              if relay is not None else "")
                lines.append(f"  added p50 at {label}: {added:.0f} us "
                             f"(target < {TARGET_ADDED_P50_US:.0f} us) "
                             f"{verdict(added < TARGET_ADDED_P50_US)}{relay_note}")
    return lines


def raw_us(bench, alg):
    values = bench.raw_ns.get(alg)
    return statistics.median(values) / 1000 if values else None


def auth_target_lines(bench, results):
    """The authentication rows against jwtgate's own forwarding, the raw OpenSSL verify cost
    and HAProxy's jwt_verify, all from this run."""
    plain = results.get("jwtgate")
    cached = results.get("jwtgate-rs256")
    lines = ["", "authentication targets:"]
    if bench.raw_ns:
        lines.append(f"  raw OpenSSL verify ({bench.raw_source}, median of "
                     f"{max(len(v) for v in bench.raw_ns.values())}, CPU {PROXY_CPU}): " +
                     ", ".join(f"{alg} {raw_us(bench, alg):.1f} us "
                               f"({1e6 / raw_us(bench, alg):,.0f}/s)"
                               for alg in AUTH_ALGORITHMS if raw_us(bench, alg)))
    if plain and cached:
        lines.append(ratio_line("jwtgate-rs256 (cache hits) CPU/request vs jwtgate",
                                cached["cpu_us_per_req"] / plain["cpu_us_per_req"],
                                TARGET_CACHE_HIT_CPU_RATIO, "lower"))
    carried = results.get("jwtgate-hdr")
    if carried and cached:
        lines.append(f"  jwtgate-rs256 (cache hits) CPU/request vs jwtgate-hdr (the same bytes, "
                     f"no auth): {cached['cpu_us_per_req'] / carried['cpu_us_per_req']:.2f}; "
                     f"carrying the token costs "
                     f"{carried['cpu_us_per_req'] - plain['cpu_us_per_req']:.2f} us, checking "
                     f"it {cached['cpu_us_per_req'] - carried['cpu_us_per_req']:.2f} us "
                     "(no target)")
    for alg in AUTH_ALGORITHMS:
        name = f"jwtgate-{alg.lower()}-nc"
        mine, raw = results.get(name), raw_us(bench, alg)
        if not (plain and mine and raw):
            continue
        budget = plain["cpu_us_per_req"] + TARGET_NO_CACHE_VERIFY_RATIO * raw
        extra = mine["cpu_us_per_req"] - plain["cpu_us_per_req"]
        lines.append(f"  {name} CPU/request: {mine['cpu_us_per_req']:.2f} us, budget "
                     f"{plain['cpu_us_per_req']:.2f} + {TARGET_NO_CACHE_VERIFY_RATIO:.1f} x "
                     f"{raw:.2f} = {budget:.2f} us; verification cost {extra:.2f} us = "
                     f"{extra / raw:.2f} x raw {verdict(mine['cpu_us_per_req'] <= budget)}")
    for alg in ("RS256", "ES256"):
        theirs = results.get(f"haproxy-{alg.lower()}")
        if not (cached and theirs):
            continue
        label = f"jwtgate-rs256 (cache hits) vs haproxy-{alg.lower()}"
        if alg == "RS256":
            lines.append(ratio_line(f"{label} throughput", cached["rps"] / theirs["rps"],
                                    TARGET_VS_HAPROXY_JWT_THROUGHPUT, "higher"))
        else:
            lines.append(f"  {label} throughput: {cached['rps'] / theirs['rps']:.2f} "
                         "(no target)")
        lines.append(f"  {label} CPU/request: "
                     f"{cached['cpu_us_per_req'] / theirs['cpu_us_per_req']:.2f} (no target)")
        mine = results.get(f"jwtgate-{alg.lower()}-nc")
        if mine:
            lines.append(f"  jwtgate-{alg.lower()}-nc vs haproxy-{alg.lower()}: throughput "
                         f"{mine['rps'] / theirs['rps']:.2f}, CPU/request "
                         f"{mine['cpu_us_per_req'] / theirs['cpu_us_per_req']:.2f} "
                         "(both verify every request; no target)")
    counters = [(row.name, results[row.name].get("worker_stats")) for row in bench.rows
                if row.token and results.get(row.name, {}).get("worker_stats")]
    if counters:
        lines.append("  jwtgate worker counters over the whole run:")
        for name, stats in counters:
            lines.append(f"    {name}: " + " ".join(f"{key}={value}" for key, value in
                                                    stats.items()))
    return lines if len(lines) > 2 else []


def memory_lines(bench, memory):
    if not memory:
        return []
    lines = ["", f"{'memory (VmRSS)':<18}{'idle':>12}{'with clients':>16}{'clients':>10}"]
    for name, mem in memory.items():
        if mem is None:
            lines.append(f"{name:<18}  (failed: see above)")
            continue
        lines.append(f"{name:<18}{fmt(mem['idle_kb'] / 1024, 1, ' MiB'):>12}"
                     f"{fmt(mem['loaded_kb'] / 1024, 1, ' MiB'):>16}{mem['clients']:>10}")
    for row in bench.rows:
        mem = memory.get(row.name)
        if row.subject and mem:
            idle_ok = mem["idle_kb"] < TARGET_IDLE_RSS_KB
            loaded_ok = mem["loaded_kb"] < TARGET_10K_RSS_KB
            lines.append(f"{row.name}: idle {verdict(idle_ok)} (< 10 MiB), "
                         f"{mem['clients']} clients {verdict(loaded_ok)} (< 64 MiB)")
    return lines


def report(bench, results, memory):
    lines = ["", f"wrk -t{bench.threads} -c{bench.connections} -d{bench.duration}s, "
                 f"median of {bench.repeat}; proxy on CPU {PROXY_CPU}, wrk and upstream on "
                 f"CPU {LOAD_CPU}" + ("" if bench.pin else " (not pinned)"), ""]
    if bench.repeat < 3:
        lines[-1:-1] = [f"(only {bench.repeat} run per row: differences of 10-15 % are noise "
                        "here; the full run takes the median of 3)"]
    lines += table_lines(bench, results)
    lines += engine_target_lines(bench, results)
    lines += auth_target_lines(bench, results)
    lines += memory_lines(bench, memory)
    print("\n".join(lines), flush=True)


# --------------------------------------------------------------------------------------------
# Main


class Bench:
    def __init__(self, args, rows):
        self.dir = tempfile.mkdtemp(prefix="jwtgate-bench-")
        self.pin = (os.cpu_count() or 1) >= 2 and not args.no_pin
        self.duration = args.duration
        self.warmup = args.warmup
        self.single_duration = max(2, args.duration // 2)
        self.repeat = args.repeat
        self.threads = args.threads
        self.connections = args.connections
        self.rows = rows
        self.upstream = None
        self.verifier_benchmark = args.verifier_benchmark
        self.byte_relay = args.byte_relay
        self.raw_repetitions = args.repeat
        self.raw_ns = {}  # algorithm -> CPU ns of one raw OpenSSL verify, one per repetition
        self.raw_source = ""
        self._credentials = None

    def credentials(self):
        """The keys and tokens of the authentication rows, made on first use."""
        if self._credentials is None:
            self._credentials = Credentials(self.dir)
        return self._credentials

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as out:
            out.write(text)
        return path


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def machine_line():
    model = ""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{platform.node()}: {os.cpu_count()} CPUs, {model}, Linux {platform.release()}"


def versions():
    out = {}
    for name, cmd in (("wrk", ["wrk", "-v"]), ("haproxy", ["haproxy", "-v"]),
                      ("nginx", ["nginx", "-v"])):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
            out[name] = (done.stdout + done.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            out[name] = "missing"
    return out


def main():
    global PROXY_CPU
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jwtgate", default=os.environ.get(
        "JWTGATE_BIN", os.path.join(ROOT, "build", "jwtgate")))
    parser.add_argument("--duration", type=int, default=None,
                        help="seconds per wrk run (default 10; 3 with --quick)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per run")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per row, median taken (default 3; 1 with --quick)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--idle-clients", type=int, default=10000)
    parser.add_argument("--rows", default="", help="comma-separated row names to run")
    parser.add_argument("--skip-load", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--proxy-cpu", default=PROXY_CPU,
                        help=f"CPU for the proxy under test (default {PROXY_CPU}; {LOAD_CPU} "
                             "puts it beside wrk and the upstream: no cross-CPU wake-ups)")
    parser.add_argument("--verifier-benchmark", default=None,
                        help="verifier_benchmark binary for the raw OpenSSL verify cost "
                             "(default: bench/verifier_benchmark beside --jwtgate; without "
                             "it, openssl speed)")
    parser.add_argument("--byte-relay", default=None,
                        help="byte_relay binary for the floor row (default: bench/byte_relay "
                             "beside --jwtgate)")
    parser.add_argument("--skip-raw", action="store_true",
                        help="do not measure the raw OpenSSL verify cost")
    parser.add_argument("--quick", action="store_true",
                        help="3 s runs, 1 repetition (about 2 minutes; figures are noisy)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    # --quick changes the defaults only: an explicit --duration or --repeat wins.
    if args.duration is None:
        args.duration = 3 if args.quick else 10
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3

    for tool in ("wrk", "nginx", "haproxy", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (scripts/install-deps.sh installs it)")
    if not os.access(args.jwtgate, os.X_OK):
        sys.exit(f"no jwtgate binary at {args.jwtgate} (use --jwtgate or JWTGATE_BIN)")
    harness.BIN = args.jwtgate
    PROXY_CPU = args.proxy_cpu
    if args.verifier_benchmark is None:
        beside = os.path.join(os.path.dirname(os.path.abspath(args.jwtgate)), "bench",
                              "verifier_benchmark")
        args.verifier_benchmark = beside if os.access(beside, os.X_OK) else ""
    if args.byte_relay is None:
        beside = os.path.join(os.path.dirname(os.path.abspath(args.jwtgate)), "bench",
                              "byte_relay")
        args.byte_relay = beside if os.access(beside, os.X_OK) else ""
    fd_limit = raise_fd_limit()
    if fd_limit < args.idle_clients + 1000:
        log(f"fd limit {fd_limit} is too low for {args.idle_clients} clients; lowering")
        args.idle_clients = fd_limit - 1000

    rows = [r for r in ROWS if not args.rows or r.name in args.rows.split(",")]
    bench = Bench(args, rows)
    log(f"machine: {machine_line()}")
    log(f"temp dir: {bench.dir}")
    load_before = os.getloadavg()
    log(f"load average at start: {load_before[0]:.2f} {load_before[1]:.2f} "
        f"{load_before[2]:.2f}")
    results, memory = {}, {}
    wants_raw = not args.skip_load and not args.skip_raw and any(r.token for r in rows)
    try:
        bench.upstream = start_upstream(bench)
        if wants_raw:
            measure_raw_verify(bench, "before the load")
        if not args.skip_load:
            results = measure_load(bench, rows)
        if wants_raw:
            measure_raw_verify(bench, "after the load")
        if not args.skip_memory:
            for row in rows:
                if row.name == "direct" or not row.memory:
                    continue
                log(f"memory {row.name}")
                try:
                    count = min(args.idle_clients, row.max_clients or args.idle_clients)
                    memory[row.name] = measure_memory(bench, row, count)
                except Exception as error:
                    log(f"  {row.name} memory failed: {error}")
                    memory[row.name] = None
    finally:
        harness.release_all()
        shutil.rmtree(bench.dir, ignore_errors=True)

    load_after = os.getloadavg()
    print(f"\n{time.strftime('%Y-%m-%d')} on {machine_line()}")
    print(" | ".join(f"{k}: {v}" for k, v in versions().items()))
    print(f"load average (1 min) at start {load_before[0]:.2f}, at end {load_after[0]:.2f}")
    report(bench, results, memory)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"date": time.strftime("%Y-%m-%d"), "machine": machine_line(),
                       "versions": versions(), "load_average": [load_before, load_after],
                       "raw_verify_ns": bench.raw_ns, "raw_source": bench.raw_source,
                       "load": results, "memory": memory}, out, indent=2)


# The rows, in order: forwarding only, then the authentication rows (a valid token on every
# request; `-nc` rows have jwtgate's token cache turned off, so every request is verified).
ROWS = [
    Row("direct", start_direct),
    # Not a proxy: the least any proxy pays here (no HTTP, two reads and two writes).
    Row("relay", start_relay, floor=True, memory=False),
    Row("jwtgate", start_jwtgate, subject=True),
    # HAProxy wants 2 fds per allowed connection; under a 20000 fd hard limit that is 9990.
    Row("haproxy", start_haproxy, reference=True, max_clients=9900),
    Row("nginx", start_nginx_proxy, reference=True),
    # jwtgate without authentication sent the RS256 token anyway (it forwards it untouched):
    # what carrying 800 more bytes costs, apart from checking them.
    Row("jwtgate-hdr", start_jwtgate, token="RS256", verifies=False, memory=False),
    Row("jwtgate-rs256", lambda b: start_jwtgate_auth(b, "RS256"), token="RS256",
        memory=False),
    Row("jwtgate-rs256-nc", lambda b: start_jwtgate_auth(b, "RS256", cache=False),
        token="RS256", memory=False),
    Row("jwtgate-es256-nc", lambda b: start_jwtgate_auth(b, "ES256", cache=False),
        token="ES256", memory=False),
    Row("jwtgate-eddsa-nc", lambda b: start_jwtgate_auth(b, "EdDSA", cache=False),
        token="EdDSA", memory=False),
    Row("haproxy-rs256", lambda b: start_haproxy_jwt(b, "RS256"), token="RS256",
        memory=False),
    Row("haproxy-es256", lambda b: start_haproxy_jwt(b, "ES256"), token="ES256",
        memory=False),
]

if __name__ == "__main__":
    main()

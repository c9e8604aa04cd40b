#!/usr/bin/python3
"""Load bench for jwtgate's forwarding engine beside HAProxy and nginx, all on loopback.

Run by hand (bench/README.md), never from the test suite. A fast nginx returns a small fixed
body; wrk drives it directly and then through each proxy in turn. The proxy under test is
pinned to CPU 0, wrk and the upstream to CPU 1. Rows are a list so that later rows (jwtgate
with a provider and a token) reuse the same harness: see ROWS at the end.
"""

import argparse
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

    def release(self):
        self.proxy.stop(signal.SIGTERM, timeout=20)


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


def jwtgate_config(bench, port=0, **extra):
    config = {
        "listen": f"127.0.0.1:{port}",
        "upstream": f"127.0.0.1:{bench.upstream.port}",
        "workers": 1,
        "limits": {"max_connections": 20000, "max_idle_upstream": 64},
        "timeouts": {"client_idle": "300s", "request_header": "60s"},
    }
    config.update(extra)
    return config


def start_jwtgate(bench, **extra):
    return JwtgateService(jwtgate_config(bench, **extra), pinned(PROXY_CPU, bench.pin))


def start_haproxy(bench):
    name = "haproxy"
    port = free_port()
    text = f"""global
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
  option forwardfor
  http-request set-header X-Forwarded-Proto http
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  default_backend be
backend be
  http-reuse always
  server s1 127.0.0.1:{bench.upstream.port} maxconn 64
"""
    path = bench.write(f"{name}.cfg", text)
    cmd = pinned(PROXY_CPU, bench.pin) + ["haproxy", "-db", "-f", path]
    return Service(name, cmd, port, bench.dir)


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
    `headers` go to wrk as -H (an Authorization header for the auth rows). `reference` rows
    are the ones jwtgate is compared with; `subject` rows are jwtgate's own. `max_clients`
    caps the idle-client count where the server cannot take more under the fd limit.
    """

    def __init__(self, name, start, headers=(), reference=False, subject=False,
                 memory=True, max_clients=None):
        self.name = name
        self.max_clients = max_clients
        self.start = start
        self.headers = list(headers)
        self.reference = reference
        self.subject = subject
        self.memory = memory


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


def run_wrk(bench, port, seconds, headers, connections=None):
    connections = connections or bench.connections
    threads = min(bench.threads, connections)
    cmd = pinned(LOAD_CPU, bench.pin) + [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
        "--timeout", "5s"]
    for header in headers:
        cmd += ["-H", header]
    cmd.append(f"http://127.0.0.1:{port}/bench")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {done.stderr}")
    return parse_wrk(done.stdout), done.stdout


def sanity_check(port, headers):
    """One request by hand: the row must answer 200 with the upstream's body."""
    extra = [tuple(h.split(": ", 1)) for h in headers]
    response, client = harness.one_request(port, harness.http_request("GET", "/bench",
                                                                      headers=extra))
    client.close()
    if response.status != 200 or response.body != BODY:
        raise RuntimeError(f"sanity request got {response.status}: {response.body[:200]!r}")


def measure_once(bench, row, service, port, repeat):
    """One wrk run at full concurrency (with the proxy's CPU time), then one at -c1."""
    run_wrk(bench, port, bench.warmup, row.headers)
    before = harness.cpu_ticks(service.pid) if service else 0
    result, _ = run_wrk(bench, port, bench.duration, row.headers)
    after = harness.cpu_ticks(service.pid) if service else 0
    served = max(result["requests"], 1)
    result["cpu_us_per_req"] = (after - before) / CLK_TCK * 1e6 / served if service else None
    if result["errors"] or result["non2xx"]:
        log(f"  {row.name}: {result['errors']} socket errors, "
            f"{result['non2xx']} non-2xx responses")

    # One connection: the latency the proxy adds without queueing behind others.
    single, _ = run_wrk(bench, port, bench.single_duration, row.headers, 1)
    result["p50_c1"] = single.get("p50")
    result["p99_c1"] = single.get("p99")
    log(f"  {row.name} run {repeat + 1}: {result['rps']:.0f} req/s, "
        f"p50 {result.get('p50', 0):.0f} us, CPU {result['cpu_us_per_req'] or 0:.2f} us/req, "
        f"p50 at -c1 {single.get('p50', 0):.0f} us")
    return result


def measure_load(bench, rows):
    """Starts every row's server, then runs the rows round-robin, `repeat` rounds, so that
    a slow period of a noisy machine spreads over all rows instead of hitting one."""
    services = {}
    for row in rows:
        try:
            service = row.start(bench)
            sanity_check(service.port if service else bench.upstream.port, row.headers)
            services[row.name] = service
        except Exception as error:  # one broken row must not hide the others
            log(f"  {row.name} failed to start: {error}")
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
    for service in services.values():
        if service:
            service.release()
    return {name: summarize(found) for name, found in runs.items() if found}


def summarize(runs):
    keys = ["rps", "p50", "p90", "p99", "cpu_us_per_req", "requests", "errors", "non2xx",
            "p50_c1", "p99_c1"]
    out = {}
    for key in keys:
        values = [run[key] for run in runs if run.get(key) is not None]
        out[key] = statistics.median(values) if values else None
    out["runs"] = runs
    return out


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
        sanity_check(service.port, row.headers)
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


def ratio_line(label, value, target, better):
    if value is None:
        return f"  {label}: -"
    ok = value <= target if better == "lower" else value >= target
    sign = "<=" if better == "lower" else ">="
    return f"  {label}: {value:.2f} (target {sign} {target:.2f}) {'met' if ok else 'MISSED'}"


def report(bench, results, memory):
    direct = results.get("direct")
    lines = ["", f"wrk -t{bench.threads} -c{bench.connections} -d{bench.duration}s, "
                 f"median of {bench.repeat}; proxy on CPU {PROXY_CPU}, wrk and upstream on "
                 f"CPU {LOAD_CPU}" + ("" if bench.pin else " (not pinned)"), ""]
    header = f"{'row':<16}{'req/s':>10}{'p50 us':>9}{'p90 us':>9}{'p99 us':>9}" \
             f"{'CPU us/req':>12}{'added p50':>11}{'c1 p50':>9}{'c1 p99':>9}{'c1 added':>10}"
    lines += [header, "-" * len(header)]
    for row in bench.rows:
        res = results.get(row.name)
        if res is None:
            lines.append(f"{row.name:<16}  (failed: see above)")
            continue
        proxied = direct and row.name != "direct"
        added = res["p50"] - direct["p50"] if proxied else None
        added_c1 = res["p50_c1"] - direct["p50_c1"] if proxied else None
        lines.append(f"{row.name:<16}{fmt(res['rps']):>10}{fmt(res['p50']):>9}"
                     f"{fmt(res['p90']):>9}{fmt(res['p99']):>9}"
                     f"{fmt(res['cpu_us_per_req'], 2):>12}{fmt(added, 0):>11}"
                     f"{fmt(res['p50_c1']):>9}{fmt(res['p99_c1']):>9}{fmt(added_c1, 0):>10}")

    references = [r for r in bench.rows if r.reference and results.get(r.name)]
    subjects = [r for r in bench.rows if r.subject and results.get(r.name)]
    if references and subjects:
        cheapest = min(references, key=lambda r: results[r.name]["cpu_us_per_req"])
        lines.append("")
        for subject in subjects:
            mine = results[subject.name]
            lines.append(f"{subject.name}:")
            lines.append(ratio_line(f"CPU/request vs {cheapest.name} (the cheaper)",
                                    mine["cpu_us_per_req"] /
                                    results[cheapest.name]["cpu_us_per_req"],
                                    TARGET_CPU_RATIO, "lower"))
            for reference in references:
                lines.append(ratio_line(f"throughput vs {reference.name}",
                                        mine["rps"] / results[reference.name]["rps"],
                                        TARGET_THROUGHPUT_RATIO, "higher"))
            if direct:
                for label, key in ((f"-c{bench.connections}", "p50"), ("-c1", "p50_c1")):
                    added = mine[key] - direct[key]
                    verdict = "met" if added < TARGET_ADDED_P50_US else "MISSED"
                    lines.append(f"  added p50 at {label}: {added:.0f} us "
                                 f"(target < {TARGET_ADDED_P50_US:.0f} us) {verdict}")

    if memory:
        lines += ["", f"{'memory (VmRSS)':<16}{'idle':>12}{'with clients':>16}{'clients':>10}"]
        for name, mem in memory.items():
            if mem is None:
                lines.append(f"{name:<16}  (failed: see above)")
                continue
            lines.append(f"{name:<16}{fmt(mem['idle_kb'] / 1024, 1, ' MiB'):>12}"
                         f"{fmt(mem['loaded_kb'] / 1024, 1, ' MiB'):>16}{mem['clients']:>10}")
        for row in bench.rows:
            mem = memory.get(row.name)
            if row.subject and mem:
                idle_ok = mem["idle_kb"] < TARGET_IDLE_RSS_KB
                loaded_ok = mem["loaded_kb"] < TARGET_10K_RSS_KB
                lines.append(f"{row.name}: idle {'met' if idle_ok else 'MISSED'} (< 10 MiB), "
                             f"{mem['clients']} clients {'met' if loaded_ok else 'MISSED'} "
                             "(< 64 MiB)")
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
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per row (median taken)")
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
    parser.add_argument("--quick", action="store_true", help="3 s runs, 1 repetition")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.warmup, args.repeat = 3, 1, 1

    for tool in ("wrk", "nginx", "haproxy", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (scripts/install-deps.sh installs it)")
    if not os.access(args.jwtgate, os.X_OK):
        sys.exit(f"no jwtgate binary at {args.jwtgate} (use --jwtgate or JWTGATE_BIN)")
    harness.BIN = args.jwtgate
    PROXY_CPU = args.proxy_cpu
    fd_limit = raise_fd_limit()
    if fd_limit < args.idle_clients + 1000:
        log(f"fd limit {fd_limit} is too low for {args.idle_clients} clients; lowering")
        args.idle_clients = fd_limit - 1000

    rows = [r for r in ROWS if not args.rows or r.name in args.rows.split(",")]
    bench = Bench(args, rows)
    log(f"machine: {machine_line()}")
    log(f"temp dir: {bench.dir}")
    results, memory = {}, {}
    try:
        bench.upstream = start_upstream(bench)
        if not args.skip_load:
            results = measure_load(bench, rows)
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

    print(f"\n{time.strftime('%Y-%m-%d')} on {machine_line()}")
    print(" | ".join(f"{k}: {v}" for k, v in versions().items()))
    report(bench, results, memory)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"date": time.strftime("%Y-%m-%d"), "machine": machine_line(),
                       "versions": versions(), "load": results, "memory": memory}, out,
                      indent=2)


# The rows, in order. The auth rows to come add entries such as
#   Row("jwtgate RS256", lambda b: start_jwtgate(b, providers=[...]),
#       headers=["Authorization: Bearer <token>"], subject=True)
ROWS = [
    Row("direct", start_direct),
    Row("jwtgate", start_jwtgate, subject=True),
    # HAProxy wants 2 fds per allowed connection; under a 20000 fd hard limit that is 9990.
    Row("haproxy", start_haproxy, reference=True, max_clients=9900),
    Row("nginx", start_nginx_proxy, reference=True),
]

if __name__ == "__main__":
    main()

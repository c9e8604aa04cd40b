"""Helpers for the operations end-to-end tests (metrics, readiness, reload): the admin
listener's port, plain GETs against it, a strict parser of the Prometheus text exposition
(version 0.0.4), wrk runs with their summary parsed, and configuration files replaced the
ways operators and Kubernetes replace them.

Only the standard library is used; processes and sockets come from harness.py.
"""

import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402

_ADMIN_RE = re.compile(r"admin listening on (\[[^\]]+\]|[^\s\[\]]+):(\d+)")


def admin_port(proxy, timeout=10):
    """The admin listener's port, from its start-up line."""
    line = proxy.wait_stderr(_ADMIN_RE.pattern, timeout=timeout)
    if line is None:
        raise AssertionError("no admin listening line: " + proxy.stderr_text())
    return int(_ADMIN_RE.search(line).group(2))


def admin_get(port, path, method="GET", timeout=10):
    """One request to the admin listener on a new connection; returns the Response."""
    response, _ = h.one_request(port, h.http_request(method, path, host="admin.test"),
                                timeout=timeout, method=method)
    return response


# --------------------------------------------------------------------------------------------
# The Prometheus text format, strictly

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
_SAMPLE_RE = re.compile(rf"^({_NAME})(\{{(.*)\}})? (\S+)( -?[0-9]+)?$")
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class ExpositionError(Exception):
    pass


def _parse_labels(text, line_no):
    labels = {}
    pos = 0
    while pos < len(text):
        match = re.compile(rf"({_LABEL_NAME})=\"").match(text, pos)
        if not match:
            raise ExpositionError(f"line {line_no}: bad label at {text[pos:]!r}")
        name = match.group(1)
        pos = match.end()
        value = []
        while True:
            if pos >= len(text):
                raise ExpositionError(f"line {line_no}: unterminated label value")
            char = text[pos]
            if char == "\\":
                escaped = text[pos + 1:pos + 2]
                if escaped not in ("\\", "\"", "n"):
                    raise ExpositionError(f"line {line_no}: bad escape \\{escaped}")
                value.append("\n" if escaped == "n" else escaped)
                pos += 2
            elif char == "\"":
                pos += 1
                break
            elif char == "\n":
                raise ExpositionError(f"line {line_no}: newline in a label value")
            else:
                value.append(char)
                pos += 1
        if name in labels:
            raise ExpositionError(f"line {line_no}: label {name} repeated")
        labels[name] = "".join(value)
        if pos < len(text):
            if text[pos] != ",":
                raise ExpositionError(f"line {line_no}: expected ',' in labels")
            pos += 1
    return labels


def _parse_value(text, line_no):
    if text in ("+Inf", "-Inf", "NaN"):
        return float(text.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?", text):
        raise ExpositionError(f"line {line_no}: bad value {text!r}")
    return float(text)


class Metrics:
    """A parsed exposition: `types[family]`, `samples[(name, labels-tuple)] = value`."""

    def __init__(self, text):
        self.text = text
        self.types = {}
        self.helps = {}
        self.samples = {}
        self._parse(text)
        self._check_histograms()

    def _family_of(self, name):
        if name in self.types:
            return name
        for suffix in ("_bucket", "_sum", "_count"):
            base = name[:-len(suffix)] if name.endswith(suffix) else None
            if base and self.types.get(base) in ("histogram", "summary"):
                return base
        return None

    def _parse(self, text):
        if not text.endswith("\n"):
            raise ExpositionError("the exposition must end with a newline")
        seen_samples = set()
        for line_no, line in enumerate(text[:-1].split("\n"), 1):
            if line.startswith("#"):
                parts = line.split(" ", 3)
                if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                    name = parts[2]
                    if not re.fullmatch(_NAME, name):
                        raise ExpositionError(f"line {line_no}: bad family name {name!r}")
                    if parts[1] == "TYPE":
                        if len(parts) != 4 or parts[3] not in _TYPES:
                            raise ExpositionError(f"line {line_no}: bad TYPE line {line!r}")
                        if name in self.types:
                            raise ExpositionError(f"line {line_no}: TYPE of {name} repeated")
                        if name in seen_samples:
                            raise ExpositionError(f"line {line_no}: TYPE of {name} after "
                                                  "its samples")
                        self.types[name] = parts[3]
                    else:
                        if name in self.helps:
                            raise ExpositionError(f"line {line_no}: HELP of {name} repeated")
                        self.helps[name] = parts[3] if len(parts) == 4 else ""
                continue
            if line == "":
                raise ExpositionError(f"line {line_no}: empty line")
            match = _SAMPLE_RE.match(line)
            if not match:
                raise ExpositionError(f"line {line_no}: not a sample: {line!r}")
            name = match.group(1)
            labels = _parse_labels(match.group(3) or "", line_no)
            value = _parse_value(match.group(4), line_no)
            family = self._family_of(name)
            if family is None:
                raise ExpositionError(f"line {line_no}: sample {name} has no TYPE before it")
            seen_samples.add(family)
            key = (name, tuple(sorted(labels.items())))
            if key in self.samples:
                raise ExpositionError(f"line {line_no}: sample repeated: {line!r}")
            self.samples[key] = value
            if self.types[family] == "counter" and (value < 0 or math.isnan(value)):
                raise ExpositionError(f"line {line_no}: negative counter {line!r}")

    def _check_histograms(self):
        for family, kind in self.types.items():
            if kind != "histogram":
                continue
            series = {}
            for (name, labels), value in self.samples.items():
                if name != family + "_bucket":
                    continue
                rest = tuple(item for item in labels if item[0] != "le")
                le = dict(labels).get("le")
                if le is None:
                    raise ExpositionError(f"{family}: a bucket without le")
                series.setdefault(rest, []).append((_parse_value(le, 0), value))
            for rest, buckets in series.items():
                buckets.sort()
                counts = [count for _, count in buckets]
                if counts != sorted(counts):
                    raise ExpositionError(f"{family}{rest}: buckets are not cumulative")
                if not math.isinf(buckets[-1][0]):
                    raise ExpositionError(f"{family}{rest}: no +Inf bucket")
                total = self.samples.get((family + "_count", rest))
                if total is None or (family + "_sum", rest) not in self.samples:
                    raise ExpositionError(f"{family}{rest}: _count or _sum missing")
                if total != buckets[-1][1]:
                    raise ExpositionError(f"{family}{rest}: _count {total} != +Inf bucket")

    def value(self, name, **labels):
        """The sample with exactly these labels, or None."""
        return self.samples.get((name, tuple(sorted(labels.items()))))

    def total(self, name, **labels):
        """The sum of every sample of `name` whose labels include `labels`."""
        return sum(value for (sample, have), value in self.samples.items()
                   if sample == name and all(item in have for item in labels.items()))

    def series(self, name):
        """{labels dict as tuple: value} of every sample of `name`."""
        return {have: value for (sample, have), value in self.samples.items() if sample == name}


def scrape(port):
    """GET /metrics and parse it (raising ExpositionError when it is not well formed)."""
    response = admin_get(port, "/metrics")
    if response.status != 200:
        raise AssertionError(f"/metrics answered {response.status}: {response.body[:200]!r}")
    return Metrics(response.body.decode("utf-8")), response


def wait_metric(port, predicate, timeout=10):
    """Scrapes until `predicate(metrics)` holds; returns the last Metrics either way."""
    last = [None]

    def attempt():
        last[0], _ = scrape(port)
        return predicate(last[0])

    h.wait_for(attempt, timeout, interval=0.05)
    return last[0]


# --------------------------------------------------------------------------------------------
# wrk

_WRK_REQUESTS = re.compile(r"^\s*(\d+) requests in ", re.M)
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_WRK_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class WrkResult:
    def __init__(self, output, returncode):
        self.output = output
        self.returncode = returncode
        match = _WRK_REQUESTS.search(output)
        self.requests = int(match.group(1)) if match else None
        match = _WRK_NON2XX.search(output)
        self.non_2xx = int(match.group(1)) if match else 0
        match = _WRK_SOCKET.search(output)
        self.socket_errors = sum(int(n) for n in match.groups()) if match else 0


class Wrk:
    """wrk in the background against a loopback URL, bounded in threads, connections and
    duration; `wait()` returns a WrkResult."""

    def __init__(self, url, token_file, script, threads=1, connections=8, duration=6):
        if not url.startswith("http://127.0.0.1:"):
            raise ValueError("wrk runs against loopback only")
        self.binary = shutil.which("wrk")
        if self.binary is None:
            raise h.Skip("wrk is not installed (scripts/install-deps.sh installs it)")
        self.duration = duration
        self.proc = subprocess.Popen(
            [self.binary, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout",
             "5s", "-s", script, url, token_file],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            start_new_session=True)
        h.track(self)

    def wait(self):
        out, _ = self.proc.communicate(timeout=self.duration + 30)
        return WrkResult(out.decode("utf-8", "replace"), self.proc.returncode)

    def release(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


# --------------------------------------------------------------------------------------------
# Files replaced the way deployments replace them


def replace_by_rename(path, text):
    """Writes `text` next to `path` and renames it over `path` (atomic for readers)."""
    staged = path + ".staged"
    with open(staged, "w") as out:
        out.write(text)
    os.rename(staged, path)


class KubernetesVolume:
    """A directory laid out like a Kubernetes ConfigMap volume: `<dir>/<name>` is a symlink
    to `..data/<name>`, `..data` a symlink to a versioned directory. `publish()` writes a new
    version and swaps `..data` atomically (the way the kubelet updates it)."""

    def __init__(self, files):
        self.dir = tempfile.mkdtemp(prefix="jwtgate-k8s-")
        self.version = 0
        self._publish(files)
        for name in files:
            os.symlink(os.path.join("..data", name), os.path.join(self.dir, name))
        h.track(self)

    def path(self, name):
        return os.path.join(self.dir, name)

    def _publish(self, files):
        self.version += 1
        versioned = f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{self.version}"
        os.mkdir(os.path.join(self.dir, versioned))
        for name, text in files.items():
            with open(os.path.join(self.dir, versioned, name), "w") as out:
                out.write(text)
        staged = os.path.join(self.dir, "..data_tmp")
        os.symlink(versioned, staged)
        os.rename(staged, os.path.join(self.dir, "..data"))

    def publish(self, files):
        self._publish(files)

    def release(self):
        shutil.rmtree(self.dir, ignore_errors=True)

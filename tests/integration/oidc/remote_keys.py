"""Helpers for jwtgate's remote-keys integration tests: keys and tokens made with Debian's
PyJWT and python3-cryptography, a real OpenID provider (panva's oidc-provider under Node.js),
a switchable loopback key server (plain or TLS) that can fail in every way a JWKS endpoint
does, a test CA, and jwtgate configurations that take their keys from those servers.

Everything listens on 127.0.0.1 only. Every process, socket and thread is registered with the
harness (`track`) and released when its case ends.
"""

import base64
import datetime
import http.server
import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness as h  # noqa: E402

OIDC_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("JWTGATE_SOURCE_DIR", os.path.join(OIDC_DIR, "..", "..", ".."))

# Clients of the test provider (client_secret_basic).
CLIENT_ID = "jwtgate-test-client"
CLIENT_SECRET = "test-secret-not-used-anywhere-else"

# Resource indicators; the provider signs tokens for the first with RS256, the second ES256.
API_RS = "https://api.test/rs"
API_ES = "https://api.test/es"
API_OTHER = "https://other.test/api"


def clean_env():
    """The environment for jwtgate: no proxy variables, so nothing leaves loopback."""
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


# --------------------------------------------------------------------------------------------
# Keys and tokens


class SigningKey:
    """A private key with its kid and algorithm, and its JWKs."""

    def __init__(self, alg, kid=None):
        self.alg = alg
        self.kid = kid or f"{alg.lower()}-{uuid.uuid4().hex[:10]}"
        if alg.startswith("RS") or alg.startswith("PS"):
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            self.key = ec.generate_private_key(ec.SECP256R1())
        elif alg == "ES384":
            self.key = ec.generate_private_key(ec.SECP384R1())
        else:
            raise ValueError(f"unsupported test algorithm {alg}")
        self._algorithm = jwt.algorithms.get_default_algorithms()[alg]

    def _jwk(self, key):
        jwk = json.loads(self._algorithm.to_jwk(key))
        jwk.pop("key_ops", None)  # "use" says it; both together confuse some providers
        if jwk.get("kty") == "EC":
            # PyJWT 2.6 drops leading zero bytes of EC coordinates; RFC 7518 section 6.2.1.2
            # wants the full field size, and jwtgate refuses anything else (about one key in
            # 128 would otherwise make the provider's whole JWKS unusable in these tests).
            size = (self.key.curve.key_size + 7) // 8
            for member in ("x", "y", "d"):
                if member in jwk:
                    raw = base64.urlsafe_b64decode(jwk[member] + "=" * (-len(jwk[member]) % 4))
                    padded = raw.rjust(size, b"\0")
                    jwk[member] = base64.urlsafe_b64encode(padded).rstrip(b"=").decode()
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        return jwk

    def private_jwk(self):
        return self._jwk(self.key)

    def public_jwk(self):
        return self._jwk(self.key.public_key())

    def sign(self, claims, kid=None, typ="at+jwt"):
        headers = {"kid": self.kid if kid is None else kid, "typ": typ}
        return jwt.encode(claims, self.key, algorithm=self.alg, headers=headers)


def jwks_of(*keys):
    return {"keys": [key.public_jwk() for key in keys]}


def claims_for(issuer, audience, subject="svc-1", lifetime=300, **extra):
    now = int(time.time())
    claims = {"iss": issuer, "aud": audience, "sub": subject, "iat": now, "exp": now + lifetime,
              "client_id": subject}
    claims.update(extra)
    return claims


# --------------------------------------------------------------------------------------------
# The real OpenID provider


class NodeMissing(Exception):
    pass


_node_problem = []  # the first failure of this process: later cases do not try npm again


def skipping_node_tests():
    return os.environ.get("JWTGATE_SKIP_NODE_TESTS", "") == "1"


def ensure_node_modules():
    """Checks that node and npm are there and installs the pinned provider when its
    node_modules folder is missing (npm ci from the committed package-lock.json), unless
    JWTGATE_SKIP_NODE_TESTS=1 says not to reach the registry.

    Raises NodeMissing when the provider cannot run: the caller fails its cases loudly unless
    JWTGATE_SKIP_NODE_TESTS=1 says to skip them (documented in docs/remote-keys.md)."""
    if _node_problem:
        raise NodeMissing(_node_problem[0])
    node = shutil.which("node")
    npm = shutil.which("npm")
    if not node or not npm:
        _node_problem.append("node and npm are needed for the OpenID provider "
                             "(scripts/install-deps.sh installs them)")
        raise NodeMissing(_node_problem[0])
    marker = os.path.join(OIDC_DIR, "node_modules", "oidc-provider", "package.json")
    if os.path.exists(marker):
        return
    if skipping_node_tests():
        raise NodeMissing("tests/integration/oidc/node_modules is not installed")
    result = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--prefix", OIDC_DIR],
                            capture_output=True, timeout=300, env=clean_env())
    if result.returncode != 0 or not os.path.exists(marker):
        _node_problem.append("npm ci in tests/integration/oidc failed: " +
                             result.stderr.decode(errors="replace")[-800:])
        raise NodeMissing(_node_problem[0])


def node_or_skip(suite):
    """Returns True when the provider can run; otherwise records why (FAIL, or SKIP when
    JWTGATE_SKIP_NODE_TESTS=1) and returns False."""
    try:
        ensure_node_modules()
        return True
    except NodeMissing as missing:
        if skipping_node_tests():
            raise h.Skip(f"{missing} (JWTGATE_SKIP_NODE_TESTS=1)")
        suite.check("node and the pinned oidc-provider are available", False, str(missing))
        return False


class OidcProvider:
    """panva's oidc-provider on 127.0.0.1, issuing at+jwt access tokens through the
    client-credentials grant. `keys` are SigningKey objects (their private JWKs are what it
    signs with and publishes). restart() keeps the port, so the issuer stays the same."""

    def __init__(self, keys, port=0):
        self.dir = tempfile.mkdtemp(prefix="jwtgate-oidc-")
        self.port = port
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()
        self._start(keys)
        h.track(self)

    def _start(self, keys):
        config = {
            "port": self.port,
            "jwks": {"keys": [key.private_jwk() for key in keys]},
            "clients": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}],
            "resources": {API_RS: "RS256", API_ES: "ES256"},
            "default_alg": "RS256",
        }
        path = os.path.join(self.dir, "provider.json")
        with open(path, "w") as out:
            json.dump(config, out)
        with self.cond:
            self.lines = []
        self.proc = subprocess.Popen(["node", os.path.join(OIDC_DIR, "provider.mjs"), path],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=clean_env(),
                                     start_new_session=True)
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr,), daemon=True).start()
        ready = self.wait_line(lambda line: line.startswith("ready "), timeout=30)
        if ready is None:
            self.stop()
            raise RuntimeError("the OpenID provider did not start: " + "\n".join(self.lines))
        self.port = int(ready.split()[1])
        self.issuer = f"http://127.0.0.1:{self.port}"

    def _read(self, stream):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if h.VERBOSE:
                print(f"  [oidc] {line}", file=sys.stderr, flush=True)
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def wait_line(self, predicate, timeout=10):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                left = end - time.monotonic()
                if left <= 0 or (self.proc and self.proc.poll() is not None):
                    return None
                self.cond.wait(min(left, 0.1))

    def count(self, path, method="GET"):
        """Requests for `path` this process of the provider has served. The provider logs a
        request on its stdout, which a reader thread collects: wait until that output has
        been quiet for a moment (at most 2 s) so a request it served just now is counted."""
        deadline = time.monotonic() + 2
        with self.cond:
            seen = len(self.lines)
            while time.monotonic() < deadline:
                self.cond.wait(timeout=0.25)
                if len(self.lines) == seen:
                    break
                seen = len(self.lines)
            return sum(1 for line in self.lines if line == f"request {method} {path}")

    def jwks_fetches(self):
        return self.count("/jwks")

    def restart(self, keys):
        """Stops the provider and starts it again on the same port with other keys."""
        self.stop()
        deadline = time.monotonic() + 10
        while True:
            try:
                self._start(keys)
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def token(self, resource, scope="api:read", client_id=CLIENT_ID, secret=CLIENT_SECRET):
        """An access token from the token endpoint, as a client gets it."""
        basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        body = f"grant_type=client_credentials&resource={resource}&scope={scope}".encode()
        request = urllib.request.Request(f"{self.issuer}/token", data=body, method="POST",
                                         headers={"Authorization": f"Basic {basic}",
                                                  "Content-Type":
                                                      "application/x-www-form-urlencoded"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=10) as response:
            return json.loads(response.read())["access_token"]

    def stop(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        if self.proc:
            for stream in (self.proc.stdout, self.proc.stderr):
                try:
                    stream.close()
                except OSError:
                    pass

    def release(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# A switchable key server


class KeyServer:
    """Serves /jwks (and, when set, /.well-known/openid-configuration) on 127.0.0.1, plain
    or TLS. `mode` switches how /jwks answers:
      ok       the JWKS (`jwks`, or fetched from `relay_url` at every request)
      error500 500 with a short body
      hang     reads the request and never answers (until the server stops)
      garbage  200 with bytes that are not JSON
      empty    200 with {"keys": []}
      slow     the JWKS after `slow_seconds`
      304      304 Not Modified, whatever the request asked
    stop_listening() closes the socket (connections refused); listen_again() reopens it on
    the same port. `fetches` counts /jwks requests. With `etag` set, /jwks carries it and a
    request whose If-None-Match holds it gets a bodiless 304 (counted in `not_modified`);
    `if_none_match` lists the If-None-Match values received, in order."""

    def __init__(self, jwks=None, relay_url=None, tls=None, cache_control=None):
        self.jwks = jwks
        self.relay_url = relay_url
        self.tls = tls
        self.cache_control = cache_control
        self.etag = None
        self.not_modified = 0
        self.if_none_match = []
        self.mode = "ok"
        self.slow_seconds = 1.0
        self.discovery = None
        self.lock = threading.Lock()
        self.counts = {}
        self.release_hang = threading.Event()
        self.server = None
        self.port = 0
        self._listen()
        h.track(self)

    def _handler(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                with owner.lock:
                    owner.counts[path] = owner.counts.get(path, 0) + 1
                    mode = owner.mode
                if path == "/.well-known/openid-configuration" and owner.discovery is not None:
                    return self._send(200, json.dumps(owner.discovery).encode())
                if path != "/jwks":
                    return self._send(404, b"not found")
                if mode == "hang":
                    owner.release_hang.wait(60)
                    self.close_connection = True
                    return
                if mode == "error500":
                    return self._send(500, b"internal error")
                if mode == "garbage":
                    return self._send(200, b"<html>this is not a JWKS</html>")
                if mode == "empty":
                    return self._send(200, b'{"keys":[]}')
                if mode == "304":
                    return self._send(304, b"", etag=owner.etag)
                if mode == "slow":
                    owner.release_hang.wait(owner.slow_seconds)
                asked = self.headers.get("If-None-Match")
                with owner.lock:
                    etag = owner.etag
                    if asked is not None:
                        owner.if_none_match.append(asked)
                    unchanged = etag is not None and asked == etag
                    if unchanged:
                        owner.not_modified += 1
                if unchanged:
                    return self._send(304, b"", etag=etag)
                return self._send(200, owner._jwks_bytes(), etag=etag)

            def _send(self, status, body, etag=None):
                # One request per connection, so that stop_listening() stops everything.
                self.close_connection = True
                self.send_response(status)
                self.send_header("Connection", "close")
                if etag is not None:
                    self.send_header("ETag", etag)
                if status != 304:
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                if owner.cache_control:
                    self.send_header("Cache-Control", owner.cache_control)
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def _jwks_bytes(self):
        if self.relay_url:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(self.relay_url, timeout=5) as response:
                return response.read()
        return json.dumps(self.jwks).encode()

    def _listen(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        if self.tls:
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self.server = server
        self.port = server.server_address[1]
        self.thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def scheme(self):
        return "https" if self.tls else "http"

    def url(self, path="/jwks", host="127.0.0.1"):
        return f"{self.scheme}://{host}:{self.port}{path}"

    def set_mode(self, mode):
        with self.lock:
            self.mode = mode
        if mode != "hang":
            self.release_hang.set()
            self.release_hang = threading.Event()

    def fetches(self, path="/jwks"):
        with self.lock:
            return self.counts.get(path, 0)

    def stop_listening(self):
        self.release_hang.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def listen_again(self):
        self._listen()

    def release(self):
        try:
            self.stop_listening()
        except Exception:
            pass


# --------------------------------------------------------------------------------------------
# A test CA


class TestCA:
    """A CA made for one test run, and leaf certificates it signs, as files in a temp dir."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="jwtgate-ca-")
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwtgate test CA")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(minutes=5))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                                  crl_sign=True, content_commitment=False,
                                                  key_encipherment=False, data_encipherment=False,
                                                  key_agreement=False, encipher_only=False,
                                                  decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.ca_file = os.path.join(self.dir, "ca.pem")
        with open(self.ca_file, "wb") as out:
            out.write(self.cert.public_bytes(serialization.Encoding.PEM))
        h.track(self)

    def server_context(self, names=(), ips=()):
        """An ssl.SSLContext for a server whose certificate names `names` (DNS) and `ips`."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        alt = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i))
                                                  for i in ips]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                                            (list(names) + list(ips))[0])]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName(alt), critical=False)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        stem = os.path.join(self.dir, uuid.uuid4().hex[:8])
        with open(stem + ".crt", "wb") as out:
            out.write(cert.public_bytes(serialization.Encoding.PEM))
            out.write(self.cert.public_bytes(serialization.Encoding.PEM))
        with open(stem + ".key", "wb") as out:
            out.write(key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(stem + ".crt", stem + ".key")
        return context

    def release(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# jwtgate


def jwtgate_config(upstream, providers, workers=1):
    """A jwtgate config: every path requires provider `idp` (the first of `providers`)."""
    first = next(iter(providers))
    return h.proxy_config(upstream, workers=workers, providers=providers,
                          routes=[{"match": {"prefix": "/"}, "require": {"provider": first}}])


def start_jwtgate(config, args=(), startup_timeout=20):
    return h.Proxy(config, env=clean_env(), args=list(args), startup_timeout=startup_timeout)


def bearer_request(token, path="/resource"):
    headers = [("Authorization", f"Bearer {token}")] if token else []
    return h.http_request("GET", path, headers=headers)


def get(proxy, token, path="/resource", timeout=15):
    """GET `path` through jwtgate on a new connection with `token` as a Bearer credential;
    returns the Response (the connection is closed at once)."""
    client = h.Client(proxy.port, proxy.host, timeout)
    try:
        return client.request(bearer_request(token, path))
    finally:
        client.close()


def describe(response):
    """Status, WWW-Authenticate and body, for failure details."""
    if response is None:
        return "no response"
    return (f"{response.status} {response.header('WWW-Authenticate', '')} "
            f"{response.body[:200]!r}")

"""Helpers for the authentication end-to-end tests: keys made with python3-cryptography,
tokens minted with Debian's PyJWT (an implementation independent of jwtgate), and
configurations made from the repository's config.example.yaml with the listen address, the
upstream and the key paths replaced.

Only the standard library, PyJWT and cryptography are used; processes and sockets come from
harness.py (which this module does not change).
"""

import base64
import json
import os
import re
import shutil
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402

import jwt  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: E402
from jwt.algorithms import RSAAlgorithm  # noqa: E402

SOURCE_DIR = os.environ.get("JWTGATE_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(SOURCE_DIR, "config.example.yaml")

CORP_ISSUER = "https://id.example.com/"
PARTNER_ISSUER = "https://partner.example.com/"
AUDIENCE = "api://orders"

# The headers jwtgate sets with the example configuration (what a client must never forge).
IDENTITY_HEADERS = ["X-User-Id", "X-User-Email", "X-Tenant", "X-Jwt-Payload", "X-Partner-Id",
                    "X-Jwtgate-Route", "X-Jwtgate-Report"]


def spellings(name):
    """The same header name as a client could spell it: as is, lower, upper, with '_'."""
    return [name, name.lower(), name.upper(), name.replace("-", "_")]


class Keys:
    """Fresh keys for one test file: corp has an RSA and a P-256 key (a JWKS file), partner an
    Ed25519 key (a PEM file). Files live in a temporary directory removed on release."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="jwtgate-keys-")
        self.corp_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.corp_ec = ec.generate_private_key(ec.SECP256R1())
        self.partner = ed25519.Ed25519PrivateKey.generate()
        rsa_jwk = json.loads(RSAAlgorithm.to_jwk(self.corp_rsa.public_key()))
        rsa_jwk.update({"kid": "corp-rsa", "use": "sig"})
        # NOTE: written by hand: PyJWT 2.6 drops leading zero bytes of EC coordinates, which
        # RFC 7518 section 6.2.1.2 forbids (and jwtgate refuses).
        numbers = self.corp_ec.public_key().public_numbers()
        ec_jwk = {"kty": "EC", "crv": "P-256", "kid": "corp-ec", "alg": "ES256",
                  "x": b64url(numbers.x.to_bytes(32, "big")),
                  "y": b64url(numbers.y.to_bytes(32, "big"))}
        self.corp_jwks = os.path.join(self.dir, "corp-jwks.json")
        with open(self.corp_jwks, "w") as out:
            json.dump({"keys": [rsa_jwk, ec_jwk]}, out)
        self.partner_pem = os.path.join(self.dir, "partner.pem")
        with open(self.partner_pem, "wb") as out:
            out.write(self.partner.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        h.track(self)

    def release(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def corp(self, alg="RS256", lifetime=600, **claims):
        """A corp user token (RS256 or ES256) valid for `lifetime` seconds; `claims` override
        or add claims (a value of None removes the claim)."""
        now = int(time.time())
        payload = {"iss": CORP_ISSUER, "aud": AUDIENCE, "sub": "alice",
                   "email": "alice@example.com", "iat": now, "exp": now + lifetime}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        key, kid = (self.corp_rsa, "corp-rsa") if alg.startswith(("RS", "PS")) else \
            (self.corp_ec, "corp-ec")
        return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})

    def partner_token(self, typ="at+jwt", **claims):
        """A partner service token: EdDSA, typ at+jwt, client_type service."""
        now = int(time.time())
        payload = {"iss": PARTNER_ISSUER, "aud": AUDIENCE, "sub": "svc-42",
                   "client_type": "service", "iat": now, "exp": now + 600}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        headers = {"kid": "partner-2024"}
        if typ:
            headers["typ"] = typ
        return jwt.encode(payload, self.partner, algorithm="EdDSA", headers=headers)


def example_text(keys, upstream, replacements=()):
    """config.example.yaml for this machine: listen on a free loopback port, forward to
    `upstream`, one worker, the test keys; then each (old, new) of `replacements`. Every
    replacement must match exactly once, so a changed example fails loudly here."""
    with open(EXAMPLE) as source:
        text = source.read()
    base = [("listen: 0.0.0.0:8080", "listen: 127.0.0.1:0"),
            ("listen: 127.0.0.1:9901", "listen: 127.0.0.1:0"),
            ("upstream: 127.0.0.1:3000", "upstream: " + getattr(upstream, "address", upstream)),
            ("workers: auto", "workers: 1"),
            ("/etc/jwtgate/corp-jwks.json", keys.corp_jwks),
            ("/etc/jwtgate/partner.pem", keys.partner_pem)]
    for old, new in base + list(replacements):
        count = text.count(old)
        if count != 1:
            raise AssertionError(f"config.example.yaml: expected '{old}' once, found {count}")
        text = text.replace(old, new)
    return text


def start(keys, replacements=(), respond=h.echo):
    """A recording upstream and jwtgate running the example configuration."""
    upstream = h.Upstream(h.serve(respond))
    proxy = h.Proxy(example_text(keys, upstream, replacements))
    return upstream, proxy


def request(proxy, target, headers=(), method="GET", host="api.test", body=b""):
    """One request on a new raw TCP connection; returns the response."""
    response, _ = h.one_request(proxy.port, h.http_request(method, target, headers, body,
                                                           host=host))
    return response


def bearer(token):
    return ("Authorization", "Bearer " + token)


def probe():
    """A unique marker to put in a request, to prove later that the upstream never saw it."""
    return "probe-" + uuid.uuid4().hex


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def check_refused(suite, name, proxy, upstream, target, headers=(), status=401, error=None,
                  description=None, scope=None, method="GET", host="api.test"):
    """Sends a request that must be refused: checks the status, the challenge (bare for
    error=None and 401, else with `error`, `description` (a regex) and `scope`), the JSON
    body, and that the upstream received no byte of it."""
    marker = probe()
    before = upstream.total_bytes()
    headers = list(headers) + [("X-Probe", marker)]
    response = request(proxy, target, headers, method=method, host=host)
    suite.equal(f"{name}: status", response.status, status)
    challenge = response.header("www-authenticate")
    try:
        body = response.json()
    except ValueError:
        body = None
    if status in (400, 401, 403) and (error is not None or status == 401):
        if error is None:
            suite.equal(f"{name}: bare challenge", challenge, 'Bearer realm="jwtgate"')
        else:
            suite.check(f"{name}: challenge names the error",
                        challenge is not None and challenge.startswith('Bearer realm="jwtgate"')
                        and f'error="{error}"' in challenge, challenge)
        expected_error = error or "missing_token"
        suite.check(f"{name}: JSON body with the error",
                    isinstance(body, dict) and body.get("error") == expected_error, response.body)
    else:
        suite.check(f"{name}: no challenge", challenge is None, challenge)
        suite.check(f"{name}: JSON body", isinstance(body, dict) and "error" in body,
                    response.body)
    if description is not None:
        text = (body or {}).get("error_description", "")
        suite.check(f"{name}: description", re.search(description, text or "") is not None and
                    f'error_description="{text}"' in (challenge or ""), (challenge, body))
    if scope is not None:
        suite.check(f"{name}: scope in the challenge", f'scope="{scope}"' in (challenge or ""),
                    challenge)
    suite.equal(f"{name}: Cache-Control", response.header("cache-control"), "no-store")
    suite.equal(f"{name}: upstream received nothing", upstream.total_bytes(), before)
    suite.check(f"{name}: the marker never reached the upstream",
                marker.encode() not in upstream.all_raw(), "marker seen upstream")
    return response


def check_forwarded(suite, name, proxy, upstream, target, headers=(), method="GET",
                    host="api.test", status=200):
    """Sends a request that must reach the upstream; returns (response, upstream request)."""
    marker = probe()
    count = len(upstream.requests())
    response = request(proxy, target, list(headers) + [("X-Probe", marker)], method=method,
                       host=host)
    seen = upstream.wait_requests(count + 1, timeout=5)
    got = next((r for r in seen if r.header("x-probe") == marker), None)
    suite.equal(f"{name}: status", response.status, status)
    suite.check(f"{name}: forwarded", got is not None, f"{len(seen)} upstream requests")
    return response, got


def curl_request(proxy, path, args=()):
    """curl -i against the proxy; returns (status, headers dict lower-cased, body bytes)."""
    result = h.curl(["-i", proxy.url(path)] + list(args))
    raw = result.stdout
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines and len(lines[0].split(" ")) > 1 else 0
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, body

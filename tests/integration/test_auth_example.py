"""Authentication end to end with the repository's config.example.yaml: every route and kind
of requirement, every token location, RS256/ES256/EdDSA tokens from PyJWT, identity headers,
spoofed headers, and every refusal with its status, challenge and body while the recording
upstream receives nothing of it."""

import base64
import hashlib
import hmac
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import auth_support as a  # noqa: E402
import harness as h  # noqa: E402

suite = h.Suite("auth_example")
keys = None


def setup():
    global keys
    if keys is None or not os.path.isdir(keys.dir):
        keys = a.Keys()
    return keys


def started(replacements=()):
    return a.start(setup(), replacements)


@suite.case
def example_passes_check_config():
    k = setup()
    upstream = h.Upstream()
    path = os.path.join(k.dir, "example.yaml")
    with open(path, "w") as out:
        out.write(a.example_text(k, upstream))
    code, out, err = h.run_binary(["check-config", path])
    suite.equal("exit status", code, 0)
    suite.equal("summary", out.strip(), "config OK: 2 providers, 6 routes")
    suite.equal("nothing on stderr", err, "")


@suite.case
def open_route_needs_nothing():
    upstream, proxy = started()
    response, got = a.check_forwarded(suite, "healthz", proxy, upstream, "/healthz")
    suite.equal("upstream target", got and got.target, "/healthz")
    suite.equal("info header", got and got.header("x-jwtgate-route"), "health")
    suite.check("no identity header", got is not None and not got.has("x-user-id"),
                got and got.headers)


@suite.case
def every_algorithm_and_identity_header():
    upstream, proxy = started()
    k = setup()
    for alg in ("RS256", "ES256"):
        token = k.corp(alg=alg, org={"tenant": "acme"})
        _, got = a.check_forwarded(suite, alg, proxy, upstream, "/orders/1", [a.bearer(token)])
        if got is None:
            continue
        suite.equal(f"{alg}: X-User-Id", got.header("x-user-id"), "alice")
        suite.equal(f"{alg}: X-User-Email", got.header("x-user-email"), "alice@example.com")
        suite.equal(f"{alg}: X-Tenant from a nested claim", got.header("x-tenant"), "acme")
        suite.equal(f"{alg}: info header", got.header("x-jwtgate-route"),
                    "default; provider=corp")
        suite.equal(f"{alg}: the token is kept (keep_token: true)",
                    got.header("authorization"), "Bearer " + token)
        payload = got.header("x-jwt-payload") or ""
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        suite.equal(f"{alg}: X-Jwt-Payload is base64url of the verified payload",
                    payload, token.split(".")[1])
        suite.equal(f"{alg}: payload decodes to the claims", decoded.get("sub"), "alice")

    token = k.partner_token()
    _, got = a.check_forwarded(suite, "EdDSA", proxy, upstream, "/orders/1",
                               [("X-Api-Token", "Token " + token)])
    if got is not None:
        suite.equal("EdDSA: X-Partner-Id", got.header("x-partner-id"), "svc-42")
        suite.equal("EdDSA: info header", got.header("x-jwtgate-route"),
                    "default; provider=partner")
        suite.check("EdDSA: the token is removed (keep_token: false)",
                    not got.has("x-api-token") and token.encode() not in got.raw, got.headers)
        suite.check("EdDSA: no corp identity", not got.has("x-user-id"), got.headers)


@suite.case
def every_token_location():
    upstream, proxy = started()
    k = setup()
    token = k.corp()
    rows = [
        ("Authorization Bearer", "/orders", [("Authorization", "Bearer " + token)]),
        ("lower-case scheme", "/orders", [("Authorization", "bearer " + token)]),
        ("cookie", "/orders", [("Cookie", "theme=dark; access_token=" + token + "; lang=en")]),
        ("query parameter", "/orders?page=2&access_token=" + token, []),
        ("same token in header and cookie", "/orders",
         [a.bearer(token), ("Cookie", "access_token=" + token)]),
    ]
    for name, target, headers in rows:
        _, got = a.check_forwarded(suite, name, proxy, upstream, target, headers)
        suite.equal(f"{name}: identity", got and got.header("x-user-id"), "alice")
    _, got = a.check_forwarded(suite, "query: target kept", proxy, upstream,
                               "/orders?page=2&access_token=" + token)
    suite.equal("query: keep_token keeps the parameter", got and got.target,
                "/orders?page=2&access_token=" + token)

    # A real client: curl with a cookie jar entry and with a header.
    status, _, body = a.curl_request(proxy, "/orders/7", ["--cookie", "access_token=" + token])
    suite.equal("curl cookie: status", status, 200)
    suite.check("curl cookie: upstream answered", body.startswith(b"GET /orders/7"), body)
    status, headers, body = a.curl_request(proxy, "/orders/7")
    suite.equal("curl without token: status", status, 401)
    suite.equal("curl without token: challenge", headers.get("www-authenticate"),
                'Bearer realm="jwtgate"')


@suite.case
def admin_routes_check_scopes_and_roles():
    upstream, proxy = started()
    k = setup()
    admin = k.corp(scope="orders:admin orders:read")
    reader = k.corp(scope="orders:read", roles=["auditor"])
    for method in ("POST", "DELETE"):
        a.check_forwarded(suite, f"{method} with orders:admin", proxy, upstream, "/admin/users",
                          [a.bearer(admin)], method=method)
        a.check_refused(suite, f"{method} without orders:admin", proxy, upstream, "/admin/users",
                        [a.bearer(reader)], status=403, error="insufficient_scope",
                        scope="orders:admin", method=method)
    a.check_forwarded(suite, "GET as auditor", proxy, upstream, "/admin/users",
                      [a.bearer(reader)])
    a.check_refused(suite, "GET without a role", proxy, upstream, "/admin/users",
                    [a.bearer(admin)], status=403, error="insufficient_scope")
    a.check_refused(suite, "GET without a token", proxy, upstream, "/admin/users")


@suite.case
def public_route_allows_missing_tokens_only():
    upstream, proxy = started()
    k = setup()
    _, got = a.check_forwarded(suite, "no token", proxy, upstream, "/public/catalog")
    suite.check("no token: no identity", got is not None and not got.has("x-user-id"),
                got and got.headers)
    suite.equal("no token: info header", got and got.header("x-jwtgate-route"), "public")
    _, got = a.check_forwarded(suite, "valid token", proxy, upstream, "/public/catalog",
                               [a.bearer(k.corp())])
    suite.equal("valid token: identity", got and got.header("x-user-id"), "alice")
    a.check_refused(suite, "bad token", proxy, upstream, "/public/catalog",
                    [a.bearer(k.corp()[:-4] + "AAAA")], error="invalid_token")


def hs256_with_public_key(k):
    """The classic algorithm confusion: HS256 keyed with the RSA public key's PEM."""
    pem = k.corp_rsa.public_key().public_bytes(
        a.serialization.Encoding.PEM, a.serialization.PublicFormat.SubjectPublicKeyInfo)
    header = a.b64url(json.dumps({"alg": "HS256", "kid": "corp-rsa"}).encode())
    payload = a.b64url(json.dumps({"iss": a.CORP_ISSUER, "aud": a.AUDIENCE, "sub": "mallory",
                                   "exp": 4102444800}).encode())
    signing_input = f"{header}.{payload}".encode()
    return f"{header}.{payload}." + a.b64url(hmac.new(pem, signing_input,
                                                      hashlib.sha256).digest())


@suite.case
def every_refusal():
    upstream, proxy = started()
    k = setup()
    good = k.corp()
    unsigned = a.jwt.encode({"iss": a.CORP_ISSUER, "aud": a.AUDIENCE, "sub": "x",
                             "exp": 4102444800}, None, algorithm="none")
    rows = [
        ("missing token", [], 401, None, None),
        ("bad signature", [a.bearer(good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA")
                                                 else "BBBBBB"))],
         401, "invalid_token", "signature"),
        ("expired", [a.bearer(k.corp(lifetime=-3600))], 401, "invalid_token", "expired"),
        ("wrong audience", [a.bearer(k.corp(aud="api://other"))], 401, "invalid_token",
         "audience"),
        ("wrong issuer", [a.bearer(k.corp(iss="https://evil.example.com/"))], 401,
         "invalid_token", "issuer"),
        ("alg none", [a.bearer(unsigned)], 401, "invalid_token", None),
        ("HS256 with the public key", [a.bearer(hs256_with_public_key(k))], 401,
         "invalid_token", None),
        ("garbage", [a.bearer("not.a.token")], 401, "invalid_token", None),
        ("partner token without typ", [("X-Api-Token", "Token " + k.partner_token(typ=None))],
         401, "invalid_token", None),
        ("partner token of a user", [("X-Api-Token", "Token " +
                                      k.partner_token(client_type="user"))],
         401, "invalid_token", None),
        ("corp token in the partner header", [("X-Api-Token", "Token " + good)], 401,
         "invalid_token", None),
        ("two Authorization headers", [a.bearer(good), a.bearer(good)], 400, "invalid_request",
         None),
        ("different header and cookie", [a.bearer(good), ("Cookie", "access_token=" +
                                                          k.corp(sub="bob"))],
         400, "invalid_request", None),
        ("tokens of two providers on an any route",
         [a.bearer(good), ("X-Api-Token", "Token " + k.partner_token())], 400,
         "invalid_request", None),
        ("empty bearer", [("Authorization", "Bearer ")], 400, "invalid_request", None),
        ("oversized token", [a.bearer(k.corp(pad="x" * 9000))], 400, "invalid_request", None),
    ]
    for name, headers, status, error, description in rows:
        a.check_refused(suite, name, proxy, upstream, "/orders", headers, status=status,
                        error=error, description=description and f"(?i){description}")
    suite.check("proxy still running", proxy.alive())


@suite.case
def descriptions_can_be_turned_off():
    upstream, proxy = started([("error_descriptions: true", "error_descriptions: false")])
    response = a.check_refused(suite, "expired", proxy, upstream, "/orders",
                               [a.bearer(setup().corp(lifetime=-3600))], error="invalid_token")
    suite.equal("challenge without description", response.header("www-authenticate"),
                'Bearer realm="jwtgate", error="invalid_token"')
    suite.equal("body without description", response.json(), {"error": "invalid_token"})


@suite.case
def report_mode_route_forwards_marked():
    upstream, proxy = started()
    k = setup()
    user = k.corp(roles=["buyer"], org={"tenant": "acme"})
    service = ("X-Api-Token", "Token " + k.partner_token())
    host = "api.example.com"
    _, got = a.check_forwarded(suite, "both tokens", proxy, upstream, "/v2/orders",
                               [a.bearer(user), service], host=host)
    if got is not None:
        suite.equal("both tokens: user identity", got.header("x-user-id"), "alice")
        suite.equal("both tokens: partner identity", got.header("x-partner-id"), "svc-42")
        suite.equal("both tokens: info", got.header("x-jwtgate-route"),
                    "partner-orders; provider=corp,partner")
        suite.check("both tokens: no report marker", not got.has("x-jwtgate-report"),
                    got.headers)

    rows = [
        ("partner token missing", [a.bearer(user)], "missing_token"),
        ("other tenant", [a.bearer(k.corp(roles=["buyer"], org={"tenant": "evil"})), service],
         "insufficient_scope"),
        ("expired user token", [a.bearer(k.corp(lifetime=-3600, roles=["buyer"],
                                                org={"tenant": "acme"})), service],
         "invalid_token"),
    ]
    for name, headers, marker in rows:
        spoofed = [("X-User-Id", "spoofed"), ("X-Jwtgate-Report", "spoofed")]
        _, got = a.check_forwarded(suite, name, proxy, upstream, "/v2/orders",
                                   headers + spoofed, host=host)
        if got is None:
            continue
        suite.equal(f"{name}: marker", got.all("x-jwtgate-report"), [marker])
        suite.check(f"{name}: no identity headers",
                    not any(got.has(n) for n in ("x-user-id", "x-partner-id", "x-tenant")),
                    got.headers)
        suite.equal(f"{name}: info without provider", got.header("x-jwtgate-route"),
                    "partner-orders")
    line = proxy.wait_stderr(r"report: would refuse: route=partner-orders", timeout=5)
    suite.check("report line logged", line is not None, proxy.stderr_text())
    suite.check("no token bytes in the log",
                user.split(".")[2][:20] not in proxy.stderr_text() and
                user.split(".")[1][:20] not in proxy.stderr_text(), proxy.stderr_text())

    # Another host: the regex route does not apply, the default route does (enforced).
    _, got = a.check_forwarded(suite, "other host", proxy, upstream, "/v2/orders",
                               [a.bearer(user)], host="api.test")
    suite.equal("other host: default route", got and got.header("x-jwtgate-route"),
                "default; provider=corp")
    a.check_refused(suite, "other host without token", proxy, upstream, "/v2/orders")


@suite.case
def spoofed_identity_headers_are_stripped_everywhere():
    upstream, proxy = started()
    k = setup()
    token = k.corp(scope="orders:admin", roles=["admin", "buyer"], org={"tenant": "acme"})
    service = ("X-Api-Token", "Token " + k.partner_token())
    routes = [
        ("health", "/healthz", [], "api.test"),
        ("admin-read", "/admin/x", [a.bearer(token)], "api.test"),
        ("public without token", "/public/x", [], "api.test"),
        ("public with token", "/public/x", [a.bearer(token)], "api.test"),
        ("partner-orders", "/v1/orders", [a.bearer(token), service], "api.example.com"),
        ("default", "/x", [a.bearer(token)], "api.test"),
    ]
    for name, target, headers, host in routes:
        spoofed = []
        for header in a.IDENTITY_HEADERS:
            for index, spelling in enumerate(a.spellings(header)):
                spoofed.append((spelling, f"forged{index}"))
        _, got = a.check_forwarded(suite, name, proxy, upstream, target, headers + spoofed,
                                   host=host)
        if got is None:
            continue
        suite.check(f"{name}: no forged value reached the upstream",
                    b"forged" not in got.raw, [x for x in got.headers if "forged" in x[1]])


if __name__ == "__main__":
    suite.run()

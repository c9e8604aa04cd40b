"""The admin listener's /metrics after a scripted mix of allowed and refused requests: exact
counts per route and outcome, per refusal reason, cache hits and misses, status classes and
histogram counts; an exposition that a strict parser accepts; and no token or key material
in it (nor in the access log and diagnostics).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import app_ops_support as ops  # noqa: E402
import auth_support as a  # noqa: E402
import harness as h  # noqa: E402

import jwt  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

suite = h.Suite("ops / metrics", deadline=240)


def config_for(keys, upstream):
    return {
        "listen": "127.0.0.1:0",
        "upstream": upstream.address,
        "workers": 1,
        "admin": {"listen": "127.0.0.1:0"},
        "auth": {"no_route": 404},
        "providers": {"corp": {
            "issuer": a.CORP_ISSUER,
            "audiences": [a.AUDIENCE],
            "keys": [{"file": keys.corp_jwks}],
            "algorithms": ["RS256", "ES256"],
            "token_from": [{"header": "Authorization", "scheme": "Bearer"},
                           {"query": "access_token"}],
        }},
        "routes": [
            {"name": "open", "match": {"prefix": "/open/"}, "auth": "none"},
            {"name": "admin", "match": {"prefix": "/admin/"},
             "require": {"provider": "corp", "scopes_all": ["orders:admin"]}},
            {"name": "api", "match": {"prefix": "/api/"}, "require": {"provider": "corp"}},
        ],
    }


def forged_signature_token():
    """A well-formed corp token signed by a key jwtgate does not know, under corp's kid."""
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    payload = {"iss": a.CORP_ISSUER, "aud": a.AUDIENCE, "sub": "mallory", "iat": now,
               "exp": now + 600}
    return jwt.encode(payload, other, algorithm="RS256", headers={"kid": "corp-rsa"})


@suite.case
def scripted_requests_are_counted_exactly():
    keys = a.Keys()
    upstream = h.Upstream(h.serve(h.echo))
    proxy = h.Proxy(config_for(keys, upstream))
    port = ops.admin_port(proxy)

    now = int(time.time())
    valid = keys.corp(sub="alice")
    by_query = keys.corp(sub="query-user")
    expired = keys.corp(sub="late", iat=now - 7200, exp=now - 3600)
    forged = forged_signature_token()
    wrong_audience = keys.corp(sub="elsewhere", aud="api://other")
    no_scope = keys.corp(sub="bob")
    admin = keys.corp(sub="carol", scope="orders:admin")
    tokens = [valid, by_query, expired, forged, wrong_audience, no_scope, admin]

    # The script: (path, headers, expected status), each on a new connection.
    script = (
        [("/open/a", [], 200)] * 3 +
        [("/api/orders", [a.bearer(valid)], 200)] * 4 +
        [(f"/api/orders?x=1&access_token={by_query}", [], 200)] +
        [("/api/orders", [], 401)] * 2 +
        [("/api/orders", [a.bearer(expired)], 401),
         ("/api/orders", [a.bearer(forged)], 401),
         ("/api/orders", [a.bearer(wrong_audience)], 401),
         ("/admin/users", [a.bearer(no_scope)], 403),
         ("/admin/users", [a.bearer(admin)], 200),
         ("/nowhere", [], 404)])
    statuses = [a.request(proxy, path, headers).status for path, headers, _ in script]
    suite.equal("every scripted request got its status", statuses,
                [status for _, _, status in script])
    total = len(script)
    forwarded = sum(1 for _, _, status in script if status == 200)

    # Counters are updated when the last response byte is written: wait until they settle.
    metrics = ops.wait_metric(port, lambda m: (
        m.total("jwtgate_http_requests_total") >= total and
        m.value("jwtgate_access_log_lines_total", result="written") >= total))
    value = metrics.value
    suite.equal("2xx responses", value("jwtgate_http_requests_total", code="2xx"), forwarded)
    suite.equal("4xx responses", value("jwtgate_http_requests_total", code="4xx"),
                total - forwarded)
    suite.equal("3xx and 5xx responses",
                (value("jwtgate_http_requests_total", code="3xx"),
                 value("jwtgate_http_requests_total", code="5xx")), (0, 0))
    suite.equal("request duration histogram counts every request",
                value("jwtgate_request_duration_seconds_count"), total)
    suite.equal("upstream requests", value("jwtgate_upstream_requests_total"), forwarded)
    suite.equal("upstream duration histogram counts every forwarded request",
                value("jwtgate_upstream_duration_seconds_count"), forwarded)
    suite.equal("connections accepted", value("jwtgate_connections_accepted_total"), total)
    suite.equal("access log lines written",
                value("jwtgate_access_log_lines_total", result="written"), total)
    suite.equal("access log lines dropped",
                value("jwtgate_access_log_lines_total", result="dropped"), 0)
    suite.equal("workers", value("jwtgate_workers"), 1)
    suite.equal("not draining", value("jwtgate_draining"), 0)

    outcomes = {(dict(labels)["route"], dict(labels)["outcome"]): count
                for labels, count in metrics.series("jwtgate_auth_requests_total").items()
                if count}
    no_route = {key: count for key, count in outcomes.items() if key[1] == "no_route"}
    suite.equal("one request without a route", sum(no_route.values()), 1)
    for key in no_route:
        outcomes.pop(key)
    suite.equal("requests per route and outcome", outcomes, {
        ("open", "open"): 3, ("api", "allowed"): 5, ("api", "refused"): 5,
        ("admin", "refused"): 1, ("admin", "allowed"): 1})
    reasons = {dict(labels)["reason"]: count
               for labels, count in metrics.series("jwtgate_auth_refusals_total").items()
               if count}
    suite.equal("refusals per reason", reasons, {
        "missing_token": 2, "expired": 1, "bad_signature": 1, "audience": 1, "scope": 1,
        "no_route": 1})
    suite.equal("token cache hits (the repeated token)", value("jwtgate_token_cache_hits_total"),
                3)
    suite.equal("token cache misses (each distinct token once)",
                value("jwtgate_token_cache_misses_total"), 7)
    suite.equal("one verifier run per miss",
                value("jwtgate_verification_duration_seconds_count"), 7)
    suite.equal("keys loaded for corp", value("jwtgate_keys_loaded", provider="corp"), 2)
    suite.equal("no reloads yet", metrics.total("jwtgate_config_reloads_total"), 0)
    suite.check("a reload timestamp from start-up",
                (value("jwtgate_config_last_reload_success_timestamp_seconds") or 0) > 0,
                metrics.text[-400:])
    build = metrics.series("jwtgate_build_info")
    suite.check("build info names a version", len(build) == 1 and
                list(build.values()) == [1] and dict(next(iter(build)))["version"], build)
    suite.check("start time is a plausible Unix time",
                abs((value("jwtgate_start_time_seconds") or 0) - time.time()) < 3600,
                value("jwtgate_start_time_seconds"))

    # Every family of the operations spec is there.
    for family in ("jwtgate_http_requests_total", "jwtgate_request_duration_seconds",
                   "jwtgate_upstream_duration_seconds", "jwtgate_upstream_errors_total",
                   "jwtgate_upstream_requests_total", "jwtgate_upstream_retries_total",
                   "jwtgate_open_connections", "jwtgate_connections_accepted_total",
                   "jwtgate_access_log_lines_total", "jwtgate_draining", "jwtgate_workers",
                   "jwtgate_auth_requests_total", "jwtgate_auth_refusals_total",
                   "jwtgate_token_cache_hits_total", "jwtgate_token_cache_misses_total",
                   "jwtgate_verification_duration_seconds", "jwtgate_key_fetches_total",
                   "jwtgate_keys_loaded", "jwtgate_key_last_success_age_seconds",
                   "jwtgate_config_reloads_total",
                   "jwtgate_config_last_reload_success_timestamp_seconds",
                   "jwtgate_build_info", "jwtgate_start_time_seconds"):
        suite.check(f"family {family} is declared", family in metrics.types,
                    sorted(metrics.types))

    # No secret material anywhere the operator looks.
    with open(keys.corp_jwks) as source:
        moduli = [key["n"] for key in json.load(source)["keys"] if "n" in key]
    secrets = tokens + [t.rsplit(".", 1)[1] for t in tokens] + moduli
    suite.check("no token, signature or key in /metrics",
                not any(s in metrics.text for s in secrets), "secret material in /metrics")
    proxy.stop()
    output = "\n".join(proxy.stdout_lines + proxy.stderr_lines)
    suite.check("no token or signature in stdout or stderr",
                not any(s in output for s in tokens + [t.rsplit(".", 1)[1] for t in tokens]),
                "token bytes in the output")
    lines = [json.loads(line) for line in proxy.stdout_lines if line.startswith("{")]
    suite.equal("one access log line per request", len(lines), total)
    suite.check("the token query parameter is redacted in the access log",
                any(line.get("path") == "/api/orders?x=1&access_token=[redacted]"
                    for line in lines), [line.get("path") for line in lines])


@suite.case
def debug_level_logs_each_refused_token_without_the_token():
    keys = a.Keys()
    upstream = h.Upstream(h.serve(h.echo))
    config = config_for(keys, upstream)
    config["log_level"] = "debug"
    proxy = h.Proxy(config)
    now = int(time.time())
    expired = keys.corp(sub="late", iat=now - 7200, exp=now - 3600)
    forged = forged_signature_token()
    for token in (expired, forged):
        response = a.request(proxy, "/api/x", [a.bearer(token)])
        suite.equal("refused", response.status, 401)
    def refused_lines():
        return [line for line in list(proxy.stderr_lines) if "auth: refused" in line]

    # Diagnostics come through a writer thread, a few milliseconds later.
    h.wait_for(lambda: len(refused_lines()) >= 2, 5, interval=0.05)
    time.sleep(0.1)
    lines = refused_lines()
    suite.equal("one debug line per refused token", len(lines), 2)
    suite.check("at debug level, naming the route",
                all(line.startswith("jwtgate: debug: auth: refused: route=api")
                    for line in lines),
                lines)
    output = "\n".join(proxy.stderr_lines + proxy.stdout_lines)
    for token in (expired, forged):
        suite.check("no token bytes in any output", token.split(".")[2] not in output)
    suite.equal("exits cleanly", proxy.stop(), 0)


@suite.case
def the_exposition_parser_is_strict():
    # The parser must refuse what a Prometheus server would refuse, or its acceptance of
    # jwtgate's output means nothing.
    good = ("# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"1\"} 3\n"
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
            "h_sum 0.5\nh_count 2\n")
    ops.Metrics(good)
    bad = {
        "no TYPE": "x 1\n",
        "bad value": "# TYPE x gauge\nx one\n",
        "repeated sample": "# TYPE x gauge\nx 1\nx 2\n",
        "unterminated label": "# TYPE x gauge\nx{a=\"1} 1\n",
        "bad escape": "# TYPE x gauge\nx{a=\"\\t\"} 1\n",
        "no final newline": "# TYPE x gauge\nx 1",
        "not cumulative": "# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\n"
                          "h_sum 1\nh_count 2\n",
        "count differs": "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
        "TYPE repeated": "# TYPE x gauge\n# TYPE x gauge\nx 1\n",
        "negative counter": "# TYPE x counter\nx -1\n",
    }
    for name, text in bad.items():
        try:
            ops.Metrics(text)
            suite.check(f"refuses: {name}", False, text)
        except ops.ExpositionError:
            suite.check(f"refuses: {name}", True)


@suite.case
def metrics_with_auth_off_still_declare_every_family():
    upstream = h.Upstream(h.serve(h.echo))
    config = h.proxy_config(upstream, admin={"listen": "127.0.0.1:0"})
    proxy = h.Proxy(config)
    port = ops.admin_port(proxy)
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/x"))
    suite.equal("forwarded", response.status, 200)
    metrics = ops.wait_metric(port, lambda m: m.value("jwtgate_http_requests_total",
                                                      code="2xx") == 1)
    suite.equal("the request is counted", metrics.value("jwtgate_http_requests_total",
                                                        code="2xx"), 1)
    for family in ("jwtgate_auth_requests_total", "jwtgate_auth_refusals_total",
                   "jwtgate_key_fetches_total", "jwtgate_config_reloads_total"):
        suite.check(f"family {family} is declared", family in metrics.types,
                    sorted(metrics.types))


suite.run()

"""Key server outages: the JWKS endpoint stops, answers 500, hangs or returns garbage. The
last good keys keep verifying within the stale window (3 s here), then the provider's
requests fail with a clear description, and a recovered endpoint brings the keys back.

The JWKS is the real OpenID provider's, relayed by a loopback server that can be switched
into each failure mode. Needs node (see test_remote_keys_oidc.py).
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "oidc"))
import harness as h  # noqa: E402
import remote_keys as rk  # noqa: E402

suite = h.Suite("remote keys / outages", deadline=480)

SHORT_REFRESH = {
    "cache_min": "1s",
    "cache_max": "1s",
    "stale_window": "3s",
    "retry_initial": "200ms",
    "retry_max": "500ms",
    "connect_timeout": "1s",
    "timeout": "1s",
}


def started(unavailable_status=None):
    provider = rk.OidcProvider([rk.SigningKey("RS256")])
    relay = rk.KeyServer(relay_url=provider.issuer + "/jwks")
    upstream = h.Upstream()
    settings = {
        "issuer": provider.issuer,
        "jwks_uri": relay.url(),
        "allow_insecure": True,
        "audiences": [rk.API_RS],
        "remote_keys": dict(SHORT_REFRESH),
    }
    if unavailable_status:
        settings["remote_keys"]["unavailable_status"] = unavailable_status
    proxy = rk.start_jwtgate(rk.jwtgate_config(upstream, {"idp": settings}))
    return provider, relay, proxy


def first_refusal(proxy, token, limit=20):
    """Sends the token every 100 ms until jwtgate stops accepting it; returns that response."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        response = rk.get(proxy, token)
        if response.status != 200:
            return response
        time.sleep(0.1)
    return None


def outage(mode, unavailable_status=None, expected_status=401, recovers=False):
    if not rk.node_or_skip(suite):
        return
    provider, relay, proxy = started(unavailable_status)
    suite.check("keys ready", proxy.wait_stderr(r"keys ready", timeout=15), proxy.stderr_text())
    token = provider.token(rk.API_RS)
    suite.equal("the token passes while the key server is fine", rk.get(proxy, token).status, 200)

    if mode == "stopped":
        relay.stop_listening()
    else:
        relay.set_mode(mode)
    failed = proxy.wait_stderr(r"JWKS fetch from .* failed: .*the last good keys stay in use",
                               timeout=10)
    suite.check(f"{mode}: the failed refresh is logged with its reason", failed,
                proxy.stderr_text())
    suite.equal(f"{mode}: after a failed refresh the cached keys still verify",
                rk.get(proxy, token).status, 200)

    refusal = first_refusal(proxy, token)
    suite.check(f"{mode}: once the stale window is over the token is refused",
                refusal is not None and refusal.status == expected_status, rk.describe(refusal))
    challenge = (refusal.header("WWW-Authenticate") or "") if refusal else ""
    body = refusal.body.decode("utf-8", "replace") if refusal else ""
    suite.check(f"{mode}: the refusal says the keys expired",
                "expired and could not be refreshed" in challenge + body, rk.describe(refusal))
    suite.check(f"{mode}: the log says the stale window ran out",
                proxy.wait_stderr(r"expired: refreshes failed for the whole stale window",
                                  timeout=5), proxy.stderr_text())
    suite.check(f"{mode}: the log never shows key material",
                '"n":' not in proxy.stderr_text() and '"x":' not in proxy.stderr_text())
    if not recovers:
        return

    if mode == "stopped":
        relay.listen_again()
    else:
        relay.set_mode("ok")
    back = None
    end = time.monotonic() + 20
    while time.monotonic() < end:
        back = rk.get(proxy, token)
        if back.status == 200:
            break
        time.sleep(0.1)
    suite.check(f"{mode}: the recovered key server brings the keys back",
                back is not None and back.status == 200, rk.describe(back))


@suite.case
def endpoint_stopped():
    outage("stopped", recovers=True)


@suite.case
def endpoint_answers_500():
    outage("error500", recovers=True)


@suite.case
def endpoint_hangs():
    outage("hang")


@suite.case
def endpoint_returns_garbage_and_503_is_configured():
    outage("garbage", unavailable_status=503, expected_status=503)


@suite.case
def endpoint_returns_a_jwks_without_keys():
    outage("empty")


@suite.case
def a_request_during_the_first_fetch_waits_for_it():
    if not rk.node_or_skip(suite):
        return
    provider = rk.OidcProvider([rk.SigningKey("RS256")])
    relay = rk.KeyServer(relay_url=provider.issuer + "/jwks")
    relay.slow_seconds = 1.5
    relay.set_mode("slow")
    upstream = h.Upstream()
    settings = {"issuer": provider.issuer, "jwks_uri": relay.url(), "allow_insecure": True,
                "audiences": [rk.API_RS]}
    proxy = rk.start_jwtgate(rk.jwtgate_config(upstream, {"idp": settings}))
    token = provider.token(rk.API_RS)
    suite.check("the first fetch is still in flight", relay.fetches() <= 1 and
                not any("keys ready" in line for line in proxy.stderr_lines),
                proxy.stderr_text())
    response = rk.get(proxy, token)
    suite.equal("a request sent before the keys arrived waits and passes", response.status, 200)
    suite.equal("one fetch served it", relay.fetches(), 1)


suite.run()

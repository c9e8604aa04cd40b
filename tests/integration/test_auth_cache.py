"""The verified-token cache end to end: repeated tokens are served from the cache (the
worker's counters, logged when it stops, say so), a token that expires while cached is
refused from then on, route checks still run on cached tokens, and the cache can be off."""

import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import auth_support as a  # noqa: E402
import harness as h  # noqa: E402

suite = h.Suite("auth_cache")

STATS = re.compile(r"auth: worker stats: requests=(\d+) passed=(\d+) refused=(\d+) "
                   r"reported=(\d+) anonymous=(\d+) cache_hits=(\d+) verifications=(\d+)")


def stop_and_read_stats(proxy):
    """Stops the proxy (SIGTERM) and returns its workers' summed counters, or None."""
    code = proxy.stop(signal.SIGTERM)
    suite.equal("clean exit", code, 0)
    lines = [STATS.search(line) for line in proxy.stderr_lines]
    found = [m for m in lines if m]
    if not found:
        return None
    names = ["requests", "passed", "refused", "reported", "anonymous", "cache_hits",
             "verifications"]
    return {name: sum(int(m.group(i + 1)) for m in found) for i, name in enumerate(names)}


@suite.case
def repeated_tokens_come_from_the_cache():
    keys = a.Keys()
    upstream, proxy = a.start(keys)
    token = keys.corp(scope="orders:read", roles=["auditor"])
    client = proxy.client()
    for index in range(5):
        response = client.request(h.http_request("GET", f"/orders/{index}",
                                                 [a.bearer(token)]))
        suite.equal(f"request {index}: status", response.status, 200)
    # The same cached token, but a route whose check it fails: refused on every request.
    for index in range(2):
        response = client.request(h.http_request("POST", "/admin/users", [a.bearer(token)]))
        suite.equal(f"admin-write {index}: 403 from a cached token", response.status, 403)
    response = client.request(h.http_request("GET", "/admin/users", [a.bearer(token)]))
    suite.equal("admin-read: the role passes", response.status, 200)
    stats = stop_and_read_stats(proxy)
    suite.check("stats logged", stats is not None, proxy.stderr_text())
    if stats:
        suite.equal("one verification", stats["verifications"], 1)
        suite.equal("every other request was a cache hit", stats["cache_hits"], 7)
        suite.equal("requests", stats["requests"], 8)
        suite.equal("refused", stats["refused"], 2)


@suite.case
def a_token_that_expires_while_cached_is_refused():
    keys = a.Keys()
    upstream, proxy = a.start(keys, [("    leeway: 60s", "    leeway: 0s")])
    exp = int(time.time()) + 2
    token = keys.corp(lifetime=exp - int(time.time()))
    client = proxy.client()
    first = client.request(h.http_request("GET", "/orders", [a.bearer(token)]))
    second = client.request(h.http_request("GET", "/orders", [a.bearer(token)]))
    suite.equal("valid: first request", first.status, 200)
    suite.equal("valid: second request (cached)", second.status, 200)

    # Wait for the wall clock to pass exp (at most ~3 s).
    while time.time() < exp + 0.3:
        time.sleep(0.1)
    a.check_refused(suite, "after exp", proxy, upstream, "/orders", [a.bearer(token)],
                    error="invalid_token", description="(?i)expired")
    response = client.request(h.http_request("GET", "/orders", [a.bearer(token)]))
    suite.equal("after exp, same connection", response.status, 401)
    stats = stop_and_read_stats(proxy)
    if suite.check("stats logged", stats is not None, proxy.stderr_text()):
        suite.equal("the second request was a hit", stats["cache_hits"], 1)
        suite.equal("verified again after exp", stats["verifications"], 3)


@suite.case
def the_cache_can_be_turned_off():
    keys = a.Keys()
    upstream, proxy = a.start(keys, [("cache: {max_entries: 10000, max_age: 5m}",
                                      "cache: {max_entries: 0}")])
    token = keys.corp()
    client = proxy.client()
    for index in range(3):
        response = client.request(h.http_request("GET", "/orders", [a.bearer(token)]))
        suite.equal(f"request {index}", response.status, 200)
    stats = stop_and_read_stats(proxy)
    if suite.check("stats logged", stats is not None, proxy.stderr_text()):
        suite.equal("no hits", stats["cache_hits"], 0)
        suite.equal("every request verified", stats["verifications"], 3)


if __name__ == "__main__":
    suite.run()

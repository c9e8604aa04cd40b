"""Fetching remote keys: HTTPS with a configured CA (and refused without it or for the wrong
host name), discovery documents that name another issuer, plain http without
allow_insecure, a provider without keys failing only its own routes, --wait-for-keys, and a
flood of tokens with made-up kids costing one fetch per cool-down. Keys and tokens are made
here with PyJWT; no Node.js needed.
"""

import json
import os
import random
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "oidc"))
import harness as h  # noqa: E402
import remote_keys as rk  # noqa: E402

suite = h.Suite("remote keys / fetching", deadline=420)

ISSUER = "https://issuer.test"
AUDIENCE = "https://api.test/rs"


def settings_for(jwks_uri, **extra):
    settings = {"issuer": ISSUER, "jwks_uri": jwks_uri, "audiences": [AUDIENCE]}
    settings.update(extra)
    return settings


def token_of(key, kid=None):
    return key.sign(rk.claims_for(ISSUER, AUDIENCE), kid=kid)


@suite.case
def https_with_the_configured_ca():
    key = rk.SigningKey("ES256")
    ca = rk.TestCA()
    server = rk.KeyServer(jwks=rk.jwks_of(key), tls=ca.server_context(ips=["127.0.0.1"]))
    upstream = h.Upstream()
    proxy = rk.start_jwtgate(rk.jwtgate_config(
        upstream, {"idp": settings_for(server.url(), ca_file=ca.ca_file)}))
    suite.check("keys ready over https", proxy.wait_stderr(r"keys ready", timeout=15),
                proxy.stderr_text())
    suite.equal("a token signed with the served key passes", rk.get(proxy, token_of(key)).status,
                200)
    suite.equal("the JWKS was fetched once", server.fetches(), 1)


def refused_tls(context_names, context_ips, with_ca, what):
    key = rk.SigningKey("ES256")
    ca = rk.TestCA()
    server = rk.KeyServer(jwks=rk.jwks_of(key),
                          tls=ca.server_context(names=context_names, ips=context_ips))
    upstream = h.Upstream()
    extra = {"ca_file": ca.ca_file} if with_ca else {}
    extra["remote_keys"] = {"retry_initial": "5s"}
    proxy = rk.start_jwtgate(rk.jwtgate_config(upstream, {"idp": settings_for(server.url(),
                                                                               **extra)}))
    failed = proxy.wait_stderr(r"JWKS fetch from https://127\.0\.0\.1:\d+/jwks failed: tls",
                               timeout=15)
    suite.check(f"{what}: the fetch fails as a TLS failure", failed, proxy.stderr_text())
    response = rk.get(proxy, token_of(key))
    suite.equal(f"{what}: the token is refused", response.status, 401)
    text = (response.header("WWW-Authenticate") or "") + response.body.decode("utf-8", "replace")
    suite.check(f"{what}: the refusal says the keys could not be fetched",
                "could not be fetched" in text, rk.describe(response))
    suite.equal(f"{what}: nothing reached the upstream", len(upstream.requests()), 0)


@suite.case
def https_without_the_ca_is_refused():
    refused_tls([], ["127.0.0.1"], False, "unknown CA")


@suite.case
def https_for_another_host_name_is_refused():
    refused_tls(["wrong.example"], [], True, "wrong host name")


@suite.case
def a_discovery_document_of_another_issuer_is_refused():
    key = rk.SigningKey("ES256")
    server = rk.KeyServer(jwks=rk.jwks_of(key))
    issuer = server.url("")
    server.discovery = {"issuer": "http://127.0.0.1:1", "jwks_uri": server.url()}
    upstream = h.Upstream()
    settings = {"issuer": issuer, "discovery": True, "allow_insecure": True,
                "audiences": [AUDIENCE], "remote_keys": {"retry_initial": "5s"}}
    proxy = rk.start_jwtgate(rk.jwtgate_config(upstream, {"idp": settings}))
    suite.check("the log says the document names another issuer",
                proxy.wait_stderr(r"names another issuer", timeout=15), proxy.stderr_text())
    response = rk.get(proxy, key.sign(rk.claims_for(issuer, AUDIENCE)))
    suite.equal("the token is refused", response.status, 401)
    suite.equal("the JWKS it points at was never fetched", server.fetches(), 0)

    server.discovery = {"issuer": issuer, "jwks_uri": server.url()}
    other = rk.KeyServer(jwks=rk.jwks_of(key))
    other.discovery = {"issuer": issuer + "/", "jwks_uri": other.url()}
    proxy = rk.start_jwtgate(rk.jwtgate_config(upstream, {"idp": dict(
        settings, issuer=other.url(""))}))
    suite.check("an issuer differing by a trailing slash is refused too",
                proxy.wait_stderr(r"names another issuer", timeout=15), proxy.stderr_text())


@suite.case
def plain_http_needs_allow_insecure():
    upstream = h.Upstream()
    config = rk.jwtgate_config(upstream, {"idp": settings_for("http://127.0.0.1:9/jwks")})
    work = tempfile.mkdtemp(prefix="jwtgate-it-")
    path = os.path.join(work, "jwtgate.yaml")
    with open(path, "w") as out:
        out.write(h.to_yaml(config) + "\n")
    code, _, err = h.run_binary(["serve", "--config", path])
    suite.equal("serve refuses the configuration", code, 1)
    suite.check("the error names allow_insecure", "allow_insecure" in err, err)
    config["providers"]["idp"]["jwks_uri"] = "file:///etc/passwd"
    with open(path, "w") as out:
        out.write(h.to_yaml(config) + "\n")
    code, _, err = h.run_binary(["serve", "--config", path])
    suite.equal("a file:// jwks_uri is refused", code, 1)


@suite.case
def a_provider_without_keys_fails_only_its_own_routes():
    good_key = rk.SigningKey("ES256")
    good = rk.KeyServer(jwks=rk.jwks_of(good_key))
    broken = h.RefusingPort()
    upstream = h.Upstream()
    config = h.proxy_config(upstream)
    del config["auth"]  # this config has providers and routes
    config["providers"] = {
        "good": settings_for(good.url(), allow_insecure=True),
        "broken": settings_for(f"http://{broken.address}/jwks", allow_insecure=True,
                               remote_keys={"retry_initial": "5s"}),
    }
    config["routes"] = [
        {"match": {"prefix": "/broken/"}, "require": {"provider": "broken"}},
        {"match": {"prefix": "/"}, "require": {"provider": "good"}},
    ]
    proxy = rk.start_jwtgate(config)
    suite.check("the broken provider's failure is logged",
                proxy.wait_stderr(r"provider 'broken': JWKS fetch .* failed: connect", timeout=15),
                proxy.stderr_text())
    token = token_of(good_key)
    suite.equal("the good provider's route passes", rk.get(proxy, token, "/a").status, 200)
    response = rk.get(proxy, token, "/broken/a")
    suite.equal("the broken provider's route is refused", response.status, 401)
    text = (response.header("WWW-Authenticate") or "") + response.body.decode("utf-8", "replace")
    suite.check("with a description that says the keys could not be fetched",
                "could not be fetched" in text, rk.describe(response))


@suite.case
def wait_for_keys_fails_start_after_its_timeout():
    broken = h.RefusingPort()
    upstream = h.Upstream()
    config = rk.jwtgate_config(upstream, {"idp": settings_for(f"http://{broken.address}/jwks",
                                                               allow_insecure=True)})
    config["admin"] = {"listen": "127.0.0.1:0"}  # not the default port, which may be taken
    work = tempfile.mkdtemp(prefix="jwtgate-it-")
    path = os.path.join(work, "jwtgate.yaml")
    with open(path, "w") as out:
        out.write(h.to_yaml(config) + "\n")
    code, _, err = h.run_binary(["serve", "--config", path, "--wait-for-keys=1s"], timeout=20)
    suite.equal("start fails", code, 1)
    suite.check("the error says which keys are missing", "idp" in err and "keys" in err, err)
    suite.check("it never listened", "listening on" not in err, err)


@suite.case
def local_and_remote_keys_are_merged():
    local_key = rk.SigningKey("RS256")
    remote_key = rk.SigningKey("ES256")
    server = rk.KeyServer(jwks=rk.jwks_of(remote_key))
    work = tempfile.mkdtemp(prefix="jwtgate-it-")
    local_file = os.path.join(work, "local.json")
    with open(local_file, "w") as out:
        out.write(json.dumps(rk.jwks_of(local_key)))
    upstream = h.Upstream()
    settings = settings_for(server.url(), allow_insecure=True, keys={"file": local_file})
    proxy = rk.start_jwtgate(rk.jwtgate_config(upstream, {"idp": settings}),
                             args=["--wait-for-keys"])
    suite.check("the merged set lists both kids",
                proxy.wait_stderr(r"2 keys in use; added ", timeout=5), proxy.stderr_text())
    suite.equal("a token of the local key passes", rk.get(proxy, token_of(local_key)).status, 200)
    suite.equal("a token of the fetched key passes", rk.get(proxy, token_of(remote_key)).status,
                200)


@suite.case
def a_flood_of_unknown_kids_costs_one_fetch_per_cooldown():
    key = rk.SigningKey("ES256")
    server = rk.KeyServer(jwks=rk.jwks_of(key))
    upstream = h.Upstream()
    settings = settings_for(server.url(), allow_insecure=True,
                            remote_keys={"refetch_cooldown": "10m"})
    proxy = rk.start_jwtgate(rk.jwtgate_config(upstream, {"idp": settings}, workers=2))
    suite.check("keys ready", proxy.wait_stderr(r"keys ready", timeout=15), proxy.stderr_text())
    impostor = rk.SigningKey("ES256")
    statuses = {}
    lock = threading.Lock()

    def flood(seed, count):
        chooser = random.Random(seed)
        client = h.Client(proxy.port, proxy.host, timeout=15)
        for _ in range(count):
            kid = f"made-up-{chooser.getrandbits(64):016x}"
            response = client.request(rk.bearer_request(token_of(impostor, kid=kid)))
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
        client.close()

    threads = [threading.Thread(target=flood, args=(seed, 400)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    suite.equal("every made-up kid was refused with 401", statuses, {401: 3200})
    suite.equal("3200 made-up kids cost one refetch after the first fetch", server.fetches(), 2)
    suite.equal("a good token still passes", rk.get(proxy, token_of(key)).status, 200)


def full_fetch_lines(proxy):
    return [line for line in list(proxy.stderr_lines) if "fetched JWKS from " in line]


@suite.case
def refreshes_are_conditional_and_a_304_keeps_the_keys():
    key = rk.SigningKey("ES256")
    server = rk.KeyServer(jwks=rk.jwks_of(key))
    server.etag = '"set-1"'
    upstream = h.Upstream()
    quick = {"cache_min": "1s", "cache_max": "1s", "stale_window": "2s"}
    proxy = rk.start_jwtgate(rk.jwtgate_config(
        upstream, {"idp": settings_for(server.url(), allow_insecure=True, remote_keys=quick)}))

    # A lifetime of 1 s and a stale window of 2 s: the keys would be gone by now if the
    # 304s did not renew them.
    suite.check("refreshes come back not modified",
                proxy.wait_stderr(r"not modified: the 1 keys in use are kept 1s", timeout=15),
                proxy.stderr_text())
    deadline = time.monotonic() + 10
    while server.not_modified < 5 and time.monotonic() < deadline:
        time.sleep(0.2)
    suite.check("five refreshes answered 304", server.not_modified >= 5, server.not_modified)
    suite.check("every conditional refresh sent the tag",
                server.if_none_match and set(server.if_none_match) == {'"set-1"'},
                server.if_none_match)
    suite.equal("the first fetch was unconditional",
                server.fetches() - len(server.if_none_match), 1)
    suite.equal("the kept key still verifies", rk.get(proxy, token_of(key)).status, 200)

    # A new set with a new tag replaces the old one at the next refresh.
    rotated = rk.SigningKey("ES256")
    with server.lock:
        server.jwks = rk.jwks_of(rotated)
        server.etag = '"set-2"'
    deadline = time.monotonic() + 10
    while len(full_fetch_lines(proxy)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    suite.equal("the rotated set is fetched whole", len(full_fetch_lines(proxy)), 2)
    time.sleep(0.5)
    suite.equal("the new key verifies", rk.get(proxy, token_of(rotated)).status, 200)
    suite.equal("the old key is gone", rk.get(proxy, token_of(key)).status, 401)
    suite.check("later refreshes send the new tag", '"set-2"' in server.if_none_match[-3:],
                server.if_none_match[-3:])


@suite.case
def a_304_that_was_not_asked_for_is_a_failed_fetch():
    key = rk.SigningKey("ES256")
    server = rk.KeyServer(jwks=rk.jwks_of(key))
    server.etag = '"never-sent"'
    server.set_mode("304")
    upstream = h.Upstream()
    quick = {"retry_initial": "200ms", "retry_max": "500ms"}
    proxy = rk.start_jwtgate(rk.jwtgate_config(
        upstream, {"idp": settings_for(server.url(), allow_insecure=True, remote_keys=quick)}))
    suite.check("the 304 fails the fetch",
                proxy.wait_stderr(r"JWKS fetch .* failed: HTTP status 304; the provider has no "
                                  r"keys yet", timeout=15), proxy.stderr_text())
    suite.equal("a token is refused, keys or not", rk.get(proxy, token_of(key)).status, 401)
    suite.equal("no request asked for a 304", server.if_none_match, [])
    suite.equal("the upstream saw nothing", len(upstream.requests()), 0)

    # Once the server answers properly, the keys arrive with the retries.
    server.set_mode("ok")
    suite.check("the next retry fetches the keys",
                proxy.wait_stderr(r"fetched JWKS from ", timeout=10), proxy.stderr_text())
    suite.equal("the token passes now", rk.get(proxy, token_of(key)).status, 200)


suite.run()

"""jwtgate against a real OpenID provider (panva's oidc-provider on loopback): keys found by
discovery on the issuer alone, access tokens obtained like a client does, key rotation by
restarting the provider with a new signing key, and tokens the provider never signed.

Needs node and npm: the pinned provider is installed with `npm ci` when its node_modules is
missing. Without node the cases FAIL, unless JWTGATE_SKIP_NODE_TESTS=1 asks to skip them.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "oidc"))
import harness as h  # noqa: E402
import remote_keys as rk  # noqa: E402

suite = h.Suite("remote keys / OpenID provider", deadline=420)


def provider_settings(issuer, **extra):
    settings = {
        "issuer": issuer,
        "discovery": True,
        "allow_insecure": True,
        "audiences": [rk.API_RS, rk.API_ES],
        "type": "at+jwt",
        "claims_to_headers": {"X-Client-Id": "client_id", "X-Subject": "sub"},
    }
    settings.update(extra)
    return settings


def started(signing_keys, **extra):
    """The provider, a recording upstream and jwtgate configured with discovery only."""
    provider = rk.OidcProvider(signing_keys)
    upstream = h.Upstream()
    config = rk.jwtgate_config(upstream, {"idp": provider_settings(provider.issuer, **extra)})
    proxy = rk.start_jwtgate(config)
    return provider, upstream, proxy


@suite.case
def discovered_keys_verify_the_providers_tokens():
    if not rk.node_or_skip(suite):
        return
    rsa_key = rk.SigningKey("RS256")
    ec_key = rk.SigningKey("ES256")
    provider, upstream, proxy = started([rsa_key, ec_key])
    suite.check("the log says the keys are ready", proxy.wait_stderr(r"keys ready", timeout=15),
                proxy.stderr_text())
    suite.check("the log names the JWKS the discovery document points at",
                proxy.wait_stderr(r"names the JWKS at " + provider.issuer + "/jwks", timeout=5),
                proxy.stderr_text())

    for resource, key in ((rk.API_RS, rsa_key), (rk.API_ES, ec_key)):
        token = provider.token(resource)
        response = rk.get(proxy, token)
        suite.equal(f"{key.alg} token for {resource} reaches the upstream", response.status, 200)
        seen = upstream.requests()[-1] if upstream.requests() else None
        suite.check(f"{key.alg}: the upstream sees the client as X-Client-Id",
                    seen is not None and seen.header("X-Client-Id") == rk.CLIENT_ID,
                    seen.headers if seen else "no upstream request")
        suite.check(f"{key.alg}: the upstream sees the subject as X-Subject",
                    seen is not None and seen.header("X-Subject") == rk.CLIENT_ID,
                    seen.headers if seen else "no upstream request")
    suite.equal("one discovery document was fetched",
                provider.count("/.well-known/openid-configuration"), 1)
    suite.equal("one JWKS was fetched", provider.jwks_fetches(), 1)


@suite.case
def tokens_the_provider_did_not_mean_for_us_are_refused():
    if not rk.node_or_skip(suite):
        return
    rsa_key = rk.SigningKey("RS256")
    provider, upstream, proxy = started([rsa_key, rk.SigningKey("ES256")])
    suite.check("keys ready", proxy.wait_stderr(r"keys ready", timeout=15), proxy.stderr_text())

    other_audience = provider.token(rk.API_OTHER)
    response = rk.get(proxy, other_audience)
    suite.equal("a token for another audience is refused", response.status, 401)
    suite.check("the refusal says invalid_token",
                "invalid_token" in (response.header("WWW-Authenticate") or ""),
                rk.describe(response))

    # Same kid as the provider's key, same claims, but signed by a key it does not publish.
    impostor = rk.SigningKey("RS256", kid=rsa_key.kid)
    forged = impostor.sign(rk.claims_for(provider.issuer, rk.API_RS))
    response = rk.get(proxy, forged)
    suite.equal("a token signed by an unpublished key under a published kid is refused",
                response.status, 401)

    stranger = rk.SigningKey("RS256")
    before = provider.jwks_fetches()
    response = rk.get(proxy, stranger.sign(rk.claims_for(provider.issuer, rk.API_RS)))
    suite.equal("a token signed by an unknown kid is refused", response.status, 401)
    suite.equal("that unknown kid cost exactly one refetch", provider.jwks_fetches(), before + 1)
    response = rk.get(proxy, stranger.sign(rk.claims_for(provider.issuer, rk.API_RS)))
    suite.equal("within the cool-down the same kid is refused again", response.status, 401)
    suite.equal("... without another fetch", provider.jwks_fetches(), before + 1)

    wrong_issuer = rsa_key.sign(rk.claims_for("http://127.0.0.1:1", rk.API_RS))
    response = rk.get(proxy, wrong_issuer)
    suite.equal("a token naming another issuer is refused", response.status, 401)
    suite.equal("no refused token reached the upstream", len(upstream.requests()), 0)


@suite.case
def a_restart_with_a_new_key_is_a_rotation():
    if not rk.node_or_skip(suite):
        return
    old_key = rk.SigningKey("RS256")
    provider, upstream, proxy = started([old_key])
    suite.check("keys ready", proxy.wait_stderr(r"keys ready", timeout=15), proxy.stderr_text())
    old_token = provider.token(rk.API_RS)
    suite.equal("the old key's token passes", rk.get(proxy, old_token).status, 200)

    new_key = rk.SigningKey("RS256")
    provider.restart([new_key])
    suite.equal("the restarted provider has served no JWKS yet", provider.jwks_fetches(), 0)
    new_token = provider.token(rk.API_RS)
    response = rk.get(proxy, new_token)
    suite.equal("a token with the new kid is accepted", response.status, 200)
    suite.equal("after exactly one refetch", provider.jwks_fetches(), 1)
    suite.check("the log lists the added and removed kids",
                proxy.wait_stderr(rf"added {new_key.kid}; removed {old_key.kid}", timeout=5),
                proxy.stderr_text())

    response = rk.get(proxy, old_token)
    suite.equal("a token with the old kid is refused once the key is gone", response.status, 401)
    suite.equal("the old kid did not cause another fetch", provider.jwks_fetches(), 1)
    suite.equal("the new token still passes", rk.get(proxy, new_token).status, 200)
    suite.equal("three requests reached the upstream", len(upstream.requests()), 3)


@suite.case
def keys_are_ready_before_the_listener_with_wait_for_keys():
    if not rk.node_or_skip(suite):
        return
    # oidc-provider wants an RSA key for its clients' default (RS256) signing algorithm.
    provider = rk.OidcProvider([rk.SigningKey("RS256"), rk.SigningKey("ES256")])
    upstream = h.Upstream()
    config = rk.jwtgate_config(upstream, {"idp": provider_settings(provider.issuer)})
    proxy = rk.start_jwtgate(config, args=["--wait-for-keys=20s"])
    lines = proxy.stderr_lines
    # serve's own line, written after the wait and before the listener: the key service's
    # "keys ready" goes through the asynchronous diagnostics writer and may come later.
    ready = next((i for i, line in enumerate(lines)
                  if "remote keys: every provider has keys" in line), None)
    listening = next((i for i, line in enumerate(lines) if "listening on" in line), None)
    suite.check("the wait for keys ends before 'listening on'",
                ready is not None and listening is not None and ready < listening,
                proxy.stderr_text())
    response = rk.get(proxy, provider.token(rk.API_ES))
    suite.equal("the first request passes without waiting for a fetch", response.status, 200)
    suite.equal("one JWKS fetch in all", provider.jwks_fetches(), 1)


suite.run()

"""Live reload under load: wrk sends a valid token through jwtgate while the configuration
is replaced five times (renamed over the file, a Kubernetes-style ..data swap of the key
volume, SIGHUP) without a single failed request; the new rules are in force afterwards;
invalid files (bad YAML, an unknown key, a missing key file) keep the old rules and count as
failed; a remote provider left unchanged is not fetched again; the access log has a line per
request and no token bytes appear in any output.
"""

import copy
import json
import os
import re
import signal
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "oidc"))

import app_ops_support as ops  # noqa: E402
import auth_support as a  # noqa: E402
import harness as h  # noqa: E402
import remote_keys as rk  # noqa: E402

from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402
from jwt.algorithms import RSAAlgorithm  # noqa: E402
import jwt  # noqa: E402

suite = h.Suite("ops / reload", deadline=300)

REMOTE_ISSUER = "https://remote.test"
BEARER_LUA = os.path.join(a.SOURCE_DIR, "bench", "bearer.lua")


def base_config(upstream, corp_keys, key_server, watch=True):
    """The first configuration: /open/ needs nothing, /api/ a corp token, /remote/ a token of
    the remote provider (keys from a loopback JWKS server)."""
    return {
        "listen": "127.0.0.1:0",
        "upstream": upstream.address,
        "workers": 1,
        "admin": {"listen": "127.0.0.1:0"},
        "reload": {"watch": watch, "debounce": "100ms"},
        "access_log": {"buffer": "16MiB"},
        "auth": {"realm": "jwtgate"},
        "providers": {
            "corp": {"issuer": a.CORP_ISSUER, "audiences": [a.AUDIENCE],
                     "keys": [{"file": corp_keys}], "algorithms": ["RS256", "ES256"]},
            "remote": {"issuer": REMOTE_ISSUER, "audiences": [a.AUDIENCE],
                       "jwks_uri": key_server.url(), "allow_insecure": True},
        },
        "routes": [
            {"name": "open", "match": {"prefix": "/open/"}, "auth": "none"},
            {"name": "api", "match": {"prefix": "/api/"}, "require": {"provider": "corp"}},
            {"name": "remote", "match": {"prefix": "/remote/"},
             "require": {"provider": "remote"}},
        ],
    }


def with_scope_on_open(config):
    config = copy.deepcopy(config)
    config["routes"][0] = {"name": "open", "match": {"prefix": "/open/"},
                           "require": {"provider": "corp", "scopes_all": ["orders:admin"]}}
    return config


def text_of(config):
    return h.to_yaml(config) + "\n"


def reloads(port, result):
    metrics, _ = ops.scrape(port)
    return metrics.value("jwtgate_config_reloads_total", result=result)


def wait_reloads(port, result, count, timeout=10):
    return h.wait_for(lambda: reloads(port, result) == count, timeout, interval=0.05)


def wait_lines(proxy, pattern, count, timeout=5):
    """The stderr lines matching `pattern`, once there are `count` of them or after `timeout`
    (diagnostics are written by a writer thread, a few milliseconds after the event)."""
    def matching():
        return [line for line in list(proxy.stderr_lines) if re.search(pattern, line)]
    h.wait_for(lambda: len(matching()) >= count, timeout, interval=0.05)
    time.sleep(0.1)  # a second line for the same event would show up by now
    return matching()


def get(proxy, path, token=None, request_id=None):
    headers = [a.bearer(token)] if token else []
    if request_id:
        headers.append(("X-Request-Id", request_id))
    return a.request(proxy, path, headers)


def next_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "corp-next", "use": "sig"})
    return key, jwk


def jwks_with(path, extra_jwk):
    with open(path) as source:
        keys = json.load(source)
    keys["keys"].append(extra_jwk)
    return json.dumps(keys)


@suite.case
def five_reloads_under_load_lose_no_request():
    keys = a.Keys()
    with open(keys.corp_jwks) as source:
        volume = ops.KubernetesVolume({"corp-jwks.json": source.read()})
    remote_key = rk.SigningKey("ES256")
    key_server = rk.KeyServer(jwks=rk.jwks_of(remote_key))
    upstream = h.Upstream(h.serve(h.echo))
    first = base_config(upstream, volume.path("corp-jwks.json"), key_server)
    proxy = h.Proxy(text_of(first), env=rk.clean_env())
    port = ops.admin_port(proxy)
    path = proxy.config_path
    suite.check("ready (remote keys fetched)",
                h.wait_for(lambda: ops.admin_get(port, "/readyz").status == 200, 15, 0.1),
                proxy.stderr_text())
    suite.equal("the remote keys were fetched once", key_server.fetches(), 1)
    suite.equal("/open/ is open at first", get(proxy, "/open/x").status, 200)

    token = keys.corp(sub="load")
    work = tempfile.mkdtemp(prefix="jwtgate-wrk-")
    token_file = os.path.join(work, "token")
    with open(token_file, "w") as out:
        out.write(token + "\n")
    wrk = ops.Wrk(proxy.url("/api/bench"), token_file, BEARER_LUA, threads=1, connections=8,
                  duration=6)
    time.sleep(0.5)  # let wrk's connections open before the first swap

    # 1: renamed over the file: /open/ now needs a scope.
    second = with_scope_on_open(first)
    ops.replace_by_rename(path, text_of(second))
    suite.check("swap 1 (rename) applied", wait_reloads(port, "ok", 1), proxy.stderr_text())

    # 2: the key volume's ..data swapped, with one more corp key.
    next_private, next_jwk = next_key()
    volume.publish({"corp-jwks.json": jwks_with(keys.corp_jwks, next_jwk)})
    suite.check("swap 2 (..data symlink) applied", wait_reloads(port, "ok", 2),
                proxy.stderr_text())

    # 3: renamed: a new route.
    third = copy.deepcopy(second)
    third["routes"].insert(0, {"name": "v2", "match": {"prefix": "/v2/"},
                               "require": {"provider": "corp", "roles_any": ["v2"]}})
    ops.replace_by_rename(path, text_of(third))
    suite.check("swap 3 (rename) applied", wait_reloads(port, "ok", 3), proxy.stderr_text())

    # 4: SIGHUP right after the rename: the reload happens at the signal; the watcher's
    # debounced look afterwards finds the same bytes and does nothing.
    fourth = copy.deepcopy(third)
    fourth["log_level"] = "info"
    fourth["auth"]["realm"] = "jwtgate-4"
    ops.replace_by_rename(path, text_of(fourth))
    proxy.send_signal(signal.SIGHUP)
    suite.check("swap 4 (SIGHUP) applied", wait_reloads(port, "ok", 4), proxy.stderr_text())
    suite.check("the SIGHUP is logged", proxy.wait_stderr(r"SIGHUP", timeout=5),
                proxy.stderr_text())

    # 5: renamed: another realm.
    fifth = copy.deepcopy(fourth)
    fifth["auth"]["realm"] = "jwtgate-5"
    ops.replace_by_rename(path, text_of(fifth))
    suite.check("swap 5 (rename) applied", wait_reloads(port, "ok", 5), proxy.stderr_text())

    result = wrk.wait()
    suite.check("wrk ran requests", (result.requests or 0) > 0, result.output)
    print(f"  wrk: {result.requests} requests in {wrk.duration}s during five reloads", flush=True)
    suite.equal("wrk: no non-2xx response", result.non_2xx, 0)
    suite.equal("wrk: no socket error", result.socket_errors, 0)
    time.sleep(0.3)  # the debounced look after the SIGHUP
    metrics, _ = ops.scrape(port)
    suite.equal("exactly five reloads, all ok",
                {r: metrics.value("jwtgate_config_reloads_total", result=r)
                 for r in ("ok", "partial", "failed")}, {"ok": 5, "partial": 0, "failed": 0})

    # The new rules are in force.
    admin_token = keys.corp(sub="admin", scope="orders:admin")
    suite.equal("/open/ now refuses a request without a token", get(proxy, "/open/x").status,
                401)
    suite.equal("/open/ passes with the scope", get(proxy, "/open/x", admin_token).status, 200)
    new_key_token = jwt.encode({"iss": a.CORP_ISSUER, "aud": a.AUDIENCE, "sub": "rotated",
                                "iat": int(time.time()), "exp": int(time.time()) + 600},
                               next_private, algorithm="RS256", headers={"kid": "corp-next"})
    suite.equal("a token of the key added through ..data passes",
                get(proxy, "/api/x", new_key_token).status, 200)
    suite.equal("the new /v2/ route asks for a role", get(proxy, "/v2/x", token).status, 403)
    challenge = get(proxy, "/api/x").header("www-authenticate") or ""
    suite.check("the last realm is used", 'realm="jwtgate-5"' in challenge, challenge)
    remote_token = remote_key.sign(rk.claims_for(REMOTE_ISSUER, a.AUDIENCE))
    suite.equal("the remote provider still has its keys",
                get(proxy, "/remote/x", remote_token).status, 200)
    suite.equal("the unchanged remote provider was not fetched again", key_server.fetches(), 1)

    # Invalid files: refused with file and line, counted, the running rules kept.
    missing = os.path.join(volume.dir, "no-such-keys.json")
    broken = text_of(fifth).replace("auth:\n", "auth: [\n", 1)
    unknown = text_of(fifth) + "colour: blue\n"
    gone = text_of(fifth).replace(volume.path("corp-jwks.json"), missing)
    for count, (name, text) in enumerate((("bad YAML", broken), ("unknown key", unknown),
                                          ("missing key file", gone)), 1):
        ops.replace_by_rename(path, text)
        suite.check(f"{name}: counted as failed", wait_reloads(port, "failed", count),
                    proxy.stderr_text())
        pattern = (r"jwtgate: error: reload refused: " + re.escape(path) +
                   r":\d+: .+; keeping the running configuration")
        errors = wait_lines(proxy, pattern, count)
        suite.equal(f"{name}: one error line with file and line", len(errors), count)
        suite.equal(f"{name}: /open/ still needs the scope", get(proxy, "/open/x").status, 401)
    suite.check("the unknown key is named",
                proxy.wait_stderr(r"reload refused: .*colour", timeout=1), proxy.stderr_text())

    # Back to the running file's exact bytes: nothing to do, nothing counted.
    ops.replace_by_rename(path, text_of(fifth))
    time.sleep(0.5)
    suite.equal("the same bytes again are no reload", reloads(port, "ok"), 5)

    # A restart-only key: applied for the rest, counted partial, named in a warning.
    sixth = copy.deepcopy(fifth)
    sixth["workers"] = 2
    sixth["routes"][1] = {"name": "open", "match": {"prefix": "/open/"}, "auth": "none"}
    ops.replace_by_rename(path, text_of(sixth))
    suite.check("a workers change is a partial reload", wait_reloads(port, "partial", 1),
                proxy.stderr_text())
    suite.check("the warning names the key",
                proxy.wait_stderr(r"warn: reload: 'workers' changed", timeout=2),
                proxy.stderr_text())
    suite.equal("the rest was applied: /open/ is open again", get(proxy, "/open/x").status, 200)
    suite.equal("still one worker", ops.scrape(port)[0].value("jwtgate_workers"), 1)

    # The access log: one line per request (the scripted ones carry their own ids).
    ids = [uuid.uuid4().hex for _ in range(5)]
    for request_id in ids:
        suite.equal("a marked request passes", get(proxy, "/api/x", token, request_id).status,
                    200)
    metrics = ops.wait_metric(port, lambda m: m.value("jwtgate_access_log_lines_total",
                                                      result="written") >=
                              m.total("jwtgate_http_requests_total"))
    answered = metrics.total("jwtgate_http_requests_total")
    dropped = metrics.value("jwtgate_access_log_lines_total", result="dropped")
    suite.equal("no access log line dropped", dropped, 0)
    suite.equal("the proxy exits cleanly", proxy.stop(), 0)
    lines = [json.loads(line) for line in proxy.stdout_lines if line.startswith("{")]
    answered_lines = [line for line in lines if line.get("status", 0) != 0]
    suite.equal("one access log line per answered request", len(answered_lines), answered)
    suite.check("at least one line per wrk request",
                sum(1 for line in lines if line.get("path") == "/api/bench") >=
                (result.requests or 0), (len(lines), result.requests))
    for request_id in ids:
        suite.equal(f"one line for request {request_id[:8]}",
                    sum(1 for line in lines if line.get("request_id") == request_id), 1)
    output = "\n".join(proxy.stdout_lines + proxy.stderr_lines)
    secrets = [token, admin_token, new_key_token, remote_token]
    secrets += [t.rsplit(".", 1)[1] for t in secrets]
    suite.check("no token bytes in stdout or stderr", not any(s in output for s in secrets),
                "token bytes in the output")
    suite.check("no token bytes in wrk's own report either", token not in result.output, "")


@suite.case
def sighup_reloads_without_watching():
    keys = a.Keys()
    remote_key = rk.SigningKey("ES256")
    key_server = rk.KeyServer(jwks=rk.jwks_of(remote_key))
    upstream = h.Upstream(h.serve(h.echo))
    first = base_config(upstream, keys.corp_jwks, key_server, watch=False)
    proxy = h.Proxy(text_of(first), env=rk.clean_env())
    port = ops.admin_port(proxy)
    suite.equal("/open/ is open", get(proxy, "/open/x").status, 200)
    ops.replace_by_rename(proxy.config_path, text_of(with_scope_on_open(first)))
    # Without watching, the file change alone does nothing; the scrape proves the count.
    suite.equal("no reload before the signal", reloads(port, "ok"), 0)
    proxy.send_signal(signal.SIGHUP)
    suite.check("SIGHUP reloads", wait_reloads(port, "ok", 1), proxy.stderr_text())
    suite.equal("/open/ now needs a token", get(proxy, "/open/x").status, 401)
    proxy.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    suite.equal("a second SIGHUP with the same bytes does nothing", reloads(port, "ok"), 1)
    suite.equal("the proxy exits cleanly", proxy.stop(), 0)


suite.run()

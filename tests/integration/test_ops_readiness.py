"""/readyz and /healthz of the admin listener: not ready while a remote provider has no keys
(its loopback key server delays or fails), ready once it answered, not ready ("draining")
right after SIGTERM while the shutdown grace still serves traffic; healthy throughout.
"""

import os
import re
import shutil
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "oidc"))

import app_ops_support as ops  # noqa: E402
import harness as h  # noqa: E402
import remote_keys as rk  # noqa: E402

suite = h.Suite("ops / readiness", deadline=240)

ISSUER = "https://issuer.test"
AUDIENCE = "https://api.test/rs"


def config_for(upstream, server, **extra):
    provider = {"issuer": ISSUER, "jwks_uri": server.url(), "allow_insecure": True,
                "audiences": [AUDIENCE],
                "remote_keys": {"retry_initial": "200ms", "retry_max": "400ms",
                                "timeout": "1s", "connect_timeout": "1s"}}
    config = rk.jwtgate_config(upstream, {"idp": provider})
    config["admin"] = {"listen": "127.0.0.1:0"}
    config.update(extra)
    return config


def readyz(port):
    response = ops.admin_get(port, "/readyz")
    return response.status, response.json()


def check_probe_reply(name, response):
    suite.equal(f"{name}: JSON content type", response.header("content-type"),
                "application/json")
    suite.equal(f"{name}: Content-Length matches", response.header("content-length"),
                str(len(response.body)))


@suite.case
def not_ready_until_the_key_server_answers():
    key = rk.SigningKey("ES256")
    server = rk.KeyServer(jwks=rk.jwks_of(key))
    server.set_mode("error500")
    upstream = h.Upstream()
    proxy = rk.start_jwtgate(config_for(upstream, server))
    port = ops.admin_port(proxy)

    suite.check("the key server was asked", h.wait_for(lambda: server.fetches() >= 1, 10),
                server.fetches())
    response = ops.admin_get(port, "/readyz")
    suite.equal("readyz: 503 while the provider has no keys", response.status, 503)
    check_probe_reply("readyz", response)
    suite.equal("readyz names the provider",
                response.json(), {"status": "not_ready", "reasons": ["no keys: idp"]})
    health = ops.admin_get(port, "/healthz")
    suite.equal("healthz: 200 meanwhile", health.status, 200)
    check_probe_reply("healthz", health)
    suite.equal("healthz body", health.json(), {"status": "ok", "workers": 1})

    server.set_mode("ok")
    ready = h.wait_for(lambda: readyz(port)[0] == 200, 15, interval=0.1)
    suite.check("readyz turns 200 once the keys arrived", ready, readyz(port))
    suite.equal("readyz body", readyz(port), (200, {"status": "ready"}))
    token = key.sign(rk.claims_for(ISSUER, AUDIENCE))
    suite.equal("a token with the fetched key passes", rk.get(proxy, token).status, 200)


@suite.case
def not_ready_while_the_key_server_hangs():
    key = rk.SigningKey("ES256")
    server = rk.KeyServer(jwks=rk.jwks_of(key))
    server.set_mode("hang")
    upstream = h.Upstream()
    proxy = rk.start_jwtgate(config_for(upstream, server))
    port = ops.admin_port(proxy)
    suite.check("the fetch is in flight", h.wait_for(lambda: server.fetches() >= 1, 10),
                server.fetches())
    suite.equal("readyz: 503 while the fetch hangs", readyz(port),
                (503, {"status": "not_ready", "reasons": ["no keys: idp"]}))
    server.set_mode("ok")
    suite.check("ready after the server answers",
                h.wait_for(lambda: readyz(port)[0] == 200, 15, interval=0.1), readyz(port))


@suite.case
def draining_after_sigterm_while_the_grace_still_serves():
    key = rk.SigningKey("ES256")
    server = rk.KeyServer(jwks=rk.jwks_of(key))
    upstream = h.Upstream()
    proxy = rk.start_jwtgate(config_for(upstream, server,
                                        timeouts={"shutdown_grace": "3s", "drain": "2s"}))
    port = ops.admin_port(proxy)
    suite.check("ready first", h.wait_for(lambda: readyz(port)[0] == 200, 15, interval=0.1),
                readyz(port))
    token = key.sign(rk.claims_for(ISSUER, AUDIENCE))

    proxy.send_signal(signal.SIGTERM)
    suite.check("readyz: draining right after SIGTERM",
                h.wait_for(lambda: readyz(port)[0] == 503, 2, interval=0.02), readyz(port))
    suite.equal("readyz body names the drain", readyz(port),
                (503, {"status": "not_ready", "reasons": ["draining"]}))
    suite.equal("traffic is still served during the grace", rk.get(proxy, token).status, 200)
    suite.equal("healthz: still 200", ops.admin_get(port, "/healthz").status, 200)
    suite.equal("the process ends cleanly after grace and drain", proxy.wait_exit(20), 0)


@suite.case
def admin_off_and_a_taken_admin_port():
    key = rk.SigningKey("ES256")
    server = rk.KeyServer(jwks=rk.jwks_of(key))
    upstream = h.Upstream()
    proxy = rk.start_jwtgate(config_for(upstream, server, admin={"listen": "off"}))
    suite.check("no admin line with admin: off",
                proxy.wait_stderr(r"admin listening", timeout=1) is None, proxy.stderr_text())
    proxy.stop()

    taken = h.Upstream()  # a listener on loopback that jwtgate must not share
    config = config_for(upstream, server, admin={"listen": taken.address})
    work = tempfile.mkdtemp(prefix="jwtgate-it-")
    path = os.path.join(work, "taken.yaml")
    with open(path, "w") as out:
        out.write(h.to_yaml(config) + "\n")
    code, _, err = h.run_binary(["serve", "--config", path])
    shutil.rmtree(work, ignore_errors=True)
    suite.equal("a taken admin port fails start-up", code, 1)
    suite.check("the error names the admin address", f"admin listen {taken.address}" in err,
                err)


@suite.case
def check_config_accepts_and_refuses_the_operational_keys():
    work = tempfile.mkdtemp(prefix="jwtgate-it-")
    try:
        path = os.path.join(work, "ops.yaml")
        base = ("listen: 127.0.0.1:8080\nupstream: 127.0.0.1:3000\nauth: off\n"
                "log_level: warn\nreload: {watch: false, debounce: 1s}\n")
        cases = [
            ("a valid file", base + "admin: {listen: 127.0.0.1:9901}\n", 0, r"config OK"),
            ("admin on the traffic socket", base + "admin:\n  listen: 0.0.0.0:8080\n", 1,
             re.escape(path) + r":7: admin\.listen: .*overlaps"),
            ("a bad level", base.replace("warn", "loud"), 1, re.escape(path) + r":4: log_level"),
            ("an unknown reload key", base + "reload2: {}\n", 1,
             re.escape(path) + r":6: unknown top-level key 'reload2'"),
        ]
        for name, text, expected, pattern in cases:
            with open(path, "w") as out:
                out.write(text)
            code, out_text, err = h.run_binary(["check-config", path])
            suite.equal(f"{name}: exit status", code, expected)
            suite.check(f"{name}: message", re.search(pattern, out_text + err), out_text + err)
    finally:
        shutil.rmtree(work, ignore_errors=True)


suite.run()

"""libcurl is loaded only when a remote key provider is configured: the binary does not
link it (no NEEDED entry), a jwtgate with local keys never maps it, one with a jwks_uri
maps it and fetches; when it cannot be loaded (JWTGATE_LIBCURL names a missing file) a
remote provider stops the start and is refused on reload with a message that says remote
keys need libcurl, while a configuration without remote providers is unaffected. RSS figures
are printed for information only.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "oidc"))
import harness as h  # noqa: E402
import remote_keys as rk  # noqa: E402

suite = h.Suite("lazy libcurl", deadline=240)

ISSUER = "https://issuer.test"
AUDIENCE = "https://api.test/rs"
MISSING_LIBCURL = "/nonexistent/jwtgate-test/libcurl-missing.so.4"
NEEDS_LIBCURL = "remote keys need libcurl.so.4"


class Scratch:
    """A temporary directory for key and config files, removed when the case ends."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="jwtgate-lazy-curl-")
        h.track(self)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as out:
            out.write(text)
        return path

    def release(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def mapped_files(pid):
    """The distinct file names in /proc/<pid>/maps."""
    paths = set()
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split(None, 5)
            if len(fields) == 6 and fields[5].startswith("/"):
                paths.add(fields[5].strip())
    return paths


def curl_mappings(pid):
    return sorted(p for p in mapped_files(pid) if os.path.basename(p).startswith("libcurl"))


def mapped_libraries(pid):
    return sorted(p for p in mapped_files(pid) if ".so" in os.path.basename(p))


def local_provider(scratch, key):
    path = scratch.write("local-jwks.json", json.dumps(rk.jwks_of(key)))
    return {"issuer": ISSUER, "audiences": [AUDIENCE], "keys": [{"file": path}]}


def remote_provider(url):
    return {"issuer": ISSUER, "audiences": [AUDIENCE], "jwks_uri": url, "allow_insecure": True}


def config_for(upstream, providers):
    config = rk.jwtgate_config(upstream, providers)
    config["access_log"] = {"output": "off"}
    return config


def env_with(**extra):
    env = rk.clean_env()
    env.pop("JWTGATE_LIBCURL", None)
    env.update(extra)
    return env


def token_of(key):
    return key.sign(rk.claims_for(ISSUER, AUDIENCE))


def print_rss(what, proxy):
    libraries = mapped_libraries(proxy.pid)
    print(f"  info: {what}: VmRSS {proxy.rss_kb()} KiB, {len(libraries)} shared objects mapped",
          flush=True)


@suite.case
def the_binary_does_not_link_libcurl():
    if shutil.which("readelf") is None:
        raise h.Skip("readelf (binutils) is not installed")
    result = subprocess.run(["readelf", "-d", h.BIN], capture_output=True, text=True, timeout=30)
    suite.equal("readelf reads the binary", result.returncode, 0)
    needed = [line for line in result.stdout.splitlines() if "(NEEDED)" in line]
    suite.check("readelf lists NEEDED entries", len(needed) > 0, result.stdout[:500])
    suite.check("no NEEDED entry names libcurl",
                not any("libcurl" in line for line in needed), "\n".join(needed))


@suite.case
def local_keys_only_never_map_libcurl():
    key = rk.SigningKey("ES256")
    scratch = Scratch()
    upstream = h.Upstream()
    proxy = h.Proxy(config_for(upstream, {"idp": local_provider(scratch, key)}), env=env_with())
    response = rk.get(proxy, token_of(key))
    suite.equal("a token signed with the local key passes", response.status, 200)
    suite.equal("an unsigned request is refused", rk.get(proxy, None).status, 401)
    suite.equal("libcurl is not mapped", curl_mappings(proxy.pid), [])
    print_rss("local keys only", proxy)


@suite.case
def a_remote_provider_maps_libcurl_and_fetches():
    key = rk.SigningKey("ES256")
    server = rk.KeyServer(jwks=rk.jwks_of(key))
    upstream = h.Upstream()
    proxy = h.Proxy(config_for(upstream, {"idp": remote_provider(server.url())}), env=env_with(),
                    startup_timeout=20)
    suite.check("keys ready", proxy.wait_stderr(r"keys ready", timeout=15), proxy.stderr_text())
    suite.equal("a token signed with the served key passes", rk.get(proxy, token_of(key)).status,
                200)
    suite.check("the JWKS was fetched", server.fetches() >= 1, server.fetches())
    mapped = curl_mappings(proxy.pid)
    suite.check("libcurl is mapped", any("libcurl.so.4" in path for path in mapped), mapped)
    print_rss("one remote provider", proxy)


@suite.case
def without_libcurl_a_remote_provider_does_not_start():
    key = rk.SigningKey("ES256")
    server = rk.KeyServer(jwks=rk.jwks_of(key))
    scratch = Scratch()
    upstream = h.Upstream()
    config = h.without_default_admin_port(config_for(upstream,
                                                     {"idp": remote_provider(server.url())}))
    path = scratch.write("jwtgate.yaml", h.to_yaml(config) + "\n")
    proc = subprocess.run([h.BIN, "serve", "--config", path], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30,
                          env=env_with(JWTGATE_LIBCURL=MISSING_LIBCURL))
    suite.check("jwtgate exits with an error", proc.returncode not in (0, None), proc.returncode)
    suite.check("the error says remote keys need libcurl", NEEDS_LIBCURL in proc.stderr,
                proc.stderr)
    suite.check("the error names the file that could not be loaded",
                MISSING_LIBCURL in proc.stderr, proc.stderr)
    suite.check("the error names the provider left without keys",
                "provider 'idp': " + NEEDS_LIBCURL in proc.stderr, proc.stderr)
    suite.check("it never listened", "listening on" not in proc.stderr, proc.stderr)
    suite.equal("nothing was fetched", server.fetches(), 0)


@suite.case
def without_libcurl_local_keys_still_work_and_a_remote_reload_is_refused():
    key = rk.SigningKey("ES256")
    server = rk.KeyServer(jwks=rk.jwks_of(key))
    scratch = Scratch()
    upstream = h.Upstream()
    local = local_provider(scratch, key)
    proxy = h.Proxy(config_for(upstream, {"idp": local}),
                    env=env_with(JWTGATE_LIBCURL=MISSING_LIBCURL))
    suite.equal("a token signed with the local key passes", rk.get(proxy, token_of(key)).status,
                200)
    suite.equal("libcurl is not mapped", curl_mappings(proxy.pid), [])

    # The next configuration adds a remote provider (and a route to it): refused as a whole.
    remote_key = rk.SigningKey("ES256")
    server.jwks = rk.jwks_of(remote_key)
    next_config = h.without_default_admin_port(config_for(upstream, {"idp": local}))
    next_config["providers"]["remote"] = dict(remote_provider(server.url()),
                                              issuer="https://remote.test")
    next_config["routes"] = [{"match": {"prefix": "/remote/"}, "require": {"provider": "remote"}}
                             ] + next_config["routes"]
    with open(proxy.config_path, "w") as out:
        out.write(h.to_yaml(next_config) + "\n")
    proxy.send_signal(signal.SIGHUP)
    refused = proxy.wait_stderr(r"reload refused.*" + NEEDS_LIBCURL, timeout=10)
    suite.check("the reload is refused with the libcurl message", refused, proxy.stderr_text())
    suite.check("the refusal names the file that could not be loaded",
                refused is not None and MISSING_LIBCURL in refused, refused)
    suite.check("jwtgate is still running", proxy.alive(), proxy.stderr_text())
    suite.equal("the old configuration stays: the local token still passes",
                rk.get(proxy, token_of(key)).status, 200)
    suite.equal("the old configuration stays: /remote/ is not a remote route",
                rk.get(proxy, token_of(remote_key), path="/remote/x").status, 401)
    suite.equal("nothing was fetched", server.fetches(), 0)
    suite.equal("libcurl is still not mapped", curl_mappings(proxy.pid), [])


suite.run()

"""Configuration errors of the authentication sections end to end: `jwtgate check-config`
and `jwtgate serve` both refuse a broken config.example.yaml with the file, the line and
the problem (exit 1); a valid one passes check-config without binding anything."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import auth_support as a  # noqa: E402
import harness as h  # noqa: E402

from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: E402

suite = h.Suite("auth_config")


def write(keys, name, text):
    path = os.path.join(keys.dir, name)
    with open(path, "w") as out:
        out.write(text)
    return path


def line_of(text, needle):
    """1-based line of the first line containing `needle`."""
    for number, line in enumerate(text.split("\n"), start=1):
        if needle in line:
            return number
    raise AssertionError(f"'{needle}' not in the config")


@suite.case
def check_config_accepts_the_example():
    keys = a.Keys()
    path = write(keys, "ok.yaml", a.example_text(keys, "127.0.0.1:9"))
    code, out, err = h.run_binary(["check-config", path])
    suite.equal("exit 0", code, 0)
    suite.equal("summary", out.strip(), "config OK: 2 providers, 6 routes")
    code, out, err = h.run_binary(["check-config"])
    suite.equal("usage error without a file", code, 2)
    code, out, err = h.run_binary(["check-config", os.path.join(keys.dir, "missing.yaml")])
    suite.equal("missing file: exit 1", code, 1)
    suite.check("missing file: says so", "cannot read" in err, err)


@suite.case
def every_error_names_file_and_line():
    keys = a.Keys()
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak_jwks = write(keys, "weak.json", a.json.dumps({"keys": [
        dict(a.json.loads(a.RSAAlgorithm.to_jwk(weak.public_key())), kid="weak")]}))
    # (what, old text, new text, text on the line the error names, part of the message)
    rows = [
        ("unknown key", "    leeway: 60s", "    leeway: 60s\n    leway: 5s", "leway:",
         "unknown key 'leway'"),
        ("duration without unit", "    leeway: 60s", "    leeway: 60", "leeway: 60",
         "leeway"),
        ("unknown algorithm", "algorithms: [RS256, ES256]", "algorithms: [RS256, ES257]",
         "ES257", "unknown algorithm 'ES257'"),
        ("provider used but not defined", "require: {any: [corp, partner]}",
         "require: {any: [corp, partners]}", "partners", "'partners' is not defined"),
        ("weak key", "/etc/jwtgate/corp-jwks.json", weak_jwks, weak_jwks, "2048"),
        ("unreadable key file", "/etc/jwtgate/partner.pem", "/nonexistent/partner.pem",
         "/nonexistent/partner.pem", "cannot read key file"),
        ("route without match", "  - name: public\n    match: {prefix: /public/}\n",
         "  - name: public\n", "name: public", "'match' is required"),
        ("auth none and require", "    match: {path: /healthz}\n    auth: none",
         "    match: {path: /healthz}\n    auth: none\n    require: {provider: corp}",
         "auth: none", "not both"),
        ("bad regex", "regex: '^/v[0-9]+/orders$'", "regex: '^/v[0-9+/orders$'",
         "regex: '^/v[0-9+", "invalid path regex"),
        ("claim path syntax", "X-Tenant: org.tenant", "X-Tenant: 'org..tenant'",
         "org..tenant", "invalid claim path"),
        ("unknown mode", "  mode: enforce", "  mode: enforcing", "mode: enforcing",
         "enforce or report"),
        ("header the proxy owns", "X-Partner-Id: sub", "Content-Length: sub", "  partner:",
         "managed by the proxy"),
    ]
    for what, old, new, where, message in rows:
        replacements = [] if old.startswith("/etc/") else [(old, new)]
        text = a.example_text(keys, "127.0.0.1:9", replacements)
        if old.startswith("/etc/"):
            for path in (keys.corp_jwks, keys.partner_pem):
                if path.endswith(os.path.basename(old)):
                    text = text.replace(path, new)
        path = write(keys, "broken.yaml", text)
        expected = f"{path}:{line_of(text, where)}: "
        for command in (["check-config", path], ["serve", "--config", path]):
            code, out, err = h.run_binary(command, timeout=15)
            label = f"{what} ({command[0]})"
            suite.equal(f"{label}: exit 1", code, 1)
            suite.check(f"{label}: file and line", expected in err, f"want {expected!r}: {err!r}")
            suite.check(f"{label}: the problem", message in err, err)
            suite.check(f"{label}: not listening", "listening on" not in err, err)


def refused(label, command, needles, timeout=15):
    """Runs `command` (which must end within `timeout`) and checks exit 1 and every needle."""
    code, out, err = h.run_binary(command, timeout=timeout)
    suite.equal(f"{label}: exit 1", code, 1)
    for needle in needles:
        suite.check(f"{label}: says {needle!r}", needle in err, err.strip()[-400:])
    suite.check(f"{label}: not listening", "listening on" not in err, err)


@suite.case
def a_file_without_routes_is_refused_unless_it_says_auth_off():
    keys = a.Keys()
    upstream = h.Upstream()
    plain = f"listen: 127.0.0.1:0\nupstream: {upstream.address}\nworkers: 1\n"
    path = write(keys, "no-routes.yaml", plain)
    for command in (["check-config", path], ["serve", "--config", path]):
        refused(f"no routes ({command[0]})", command,
                [path, "no routes: every request would be forwarded unchecked", "`auth: off`"])

    # `auth: off` beside routes is a contradiction, refused at the routes.
    contradiction = plain + "auth: off\nroutes:\n  - match: {prefix: /}\n    auth: none\n"
    path = write(keys, "contradiction.yaml", contradiction)
    refused("auth off with routes", ["check-config", path],
            [f"{path}:6: ", "`auth: off` forwards every request unchecked"])

    path = write(keys, "auth-off.yaml", plain + "auth: off\n")
    code, out, err = h.run_binary(["check-config", path])
    suite.check("auth: off: check-config exit 0", code == 0, err)
    proxy = h.Proxy(plain + "auth: off\n")
    suite.check("auth: off: says so at start-up",
                "info: auth: off: forwarding without authentication" in proxy.stderr_text(),
                proxy.stderr_text())
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/anything"))
    suite.equal("auth: off: a request without a token is forwarded", response.status, 200)
    suite.equal("auth: off: the upstream saw it", len(upstream.wait_requests(1, 5)), 1)


def key_set_of(count):
    """A JWKS of `count` copies of one P-256 key, each with its own kid."""
    key = a.ec.generate_private_key(a.ec.SECP256R1()).public_key().public_numbers()
    x, y = a.b64url(key.x.to_bytes(32, "big")), a.b64url(key.y.to_bytes(32, "big"))
    return a.json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "kid": f"k{i}", "x": x, "y": y}
                                  for i in range(count)]})


@suite.case
def key_files_must_be_regular_files_of_bounded_size():
    keys = a.Keys()
    fifo = os.path.join(keys.dir, "keys.fifo")
    os.mkfifo(fifo)
    big = write(keys, "big.json", key_set_of(1) + " " * (1024 * 1024))
    directory = os.path.join(keys.dir, "keys.d")
    os.mkdir(directory)
    many = write(keys, "many.json", key_set_of(1001))
    at_cap = write(keys, "at-cap.json", key_set_of(1000))
    # (what, the key file, part of the message); each for the JWKS file and the PEM file.
    rows = [
        ("/dev/zero", "/dev/zero", "not a regular file (a device)"),
        ("/dev/urandom", "/dev/urandom", "not a regular file (a device)"),
        ("a FIFO without writer", fifo, "not a regular file (a FIFO)"),
        ("a directory", directory, "not a regular file (a directory)"),
        ("a file over 1 MiB", big,
         f"{os.path.getsize(big)} bytes, larger than the 1 MiB limit"),
    ]
    for what, key_file, message in rows:
        for original in (keys.corp_jwks, keys.partner_pem):
            text = a.example_text(keys, "127.0.0.1:9").replace(original, key_file)
            path = write(keys, "bad-keys.yaml", text)
            expected = f"{path}:{line_of(text, key_file)}: cannot read key file '{key_file}': "
            refused(f"{what} as {os.path.basename(original)}", ["check-config", path],
                    [expected + message])

    text = a.example_text(keys, "127.0.0.1:9").replace(keys.corp_jwks, many)
    path = write(keys, "many-keys.yaml", text)
    refused("a JWKS of 1001 keys", ["check-config", path],
            [f"{path}:{line_of(text, many)}: ", "more than 1000 keys (1001)"])
    text = a.example_text(keys, "127.0.0.1:9").replace(keys.corp_jwks, at_cap)
    path = write(keys, "at-cap.yaml", text)
    code, out, err = h.run_binary(["check-config", path], timeout=30)
    suite.check("a JWKS of 1000 keys: exit 0", code == 0, err)


@suite.case
def the_configuration_must_be_a_regular_file_of_at_most_4_mib():
    keys = a.Keys()
    fifo = os.path.join(keys.dir, "config.fifo")
    os.mkfifo(fifo)
    text = a.example_text(keys, "127.0.0.1:9")
    at_cap = write(keys, "at-cap.yaml", text + "#" * (4 * 1024 * 1024 - len(text)))
    big = write(keys, "big.yaml", text + "#" * (4 * 1024 * 1024 - len(text) + 1))
    for what, path, message in [
            ("/dev/zero", "/dev/zero", "not a regular file (a device)"),
            ("a FIFO without writer", fifo, "not a regular file (a FIFO)"),
            ("a file over 4 MiB", big, "4194305 bytes, larger than the 4 MiB limit")]:
        for command in (["check-config", path], ["serve", "--config", path]):
            refused(f"config {what} ({command[0]})", command,
                    [f"{path}: cannot read the configuration: {message}"])
    code, out, err = h.run_binary(["check-config", at_cap])
    suite.check("a configuration of exactly 4 MiB: exit 0", code == 0, err)


@suite.case
def verify_reads_its_key_file_with_the_same_bounds():
    keys = a.Keys()
    fifo = os.path.join(keys.dir, "keys.fifo")
    os.mkfifo(fifo)
    many = write(keys, "many.json", key_set_of(1001))
    token = keys.corp()
    rows = [
        ("--jwks", "/dev/zero", "not a regular file (a device)"),
        ("--pem", "/dev/urandom", "not a regular file (a device)"),
        ("--jwks", fifo, "not a regular file (a FIFO)"),
        ("--jwks", many, "more than 1000 keys (1001)"),
    ]
    for flag, key_file, message in rows:
        code, out, err = h.run_binary(["verify", flag, key_file, token], timeout=15)
        suite.equal(f"verify {flag} {key_file}: exit 2", code, 2)
        suite.check(f"verify {flag} {key_file}: names the file and the problem",
                    key_file in err and message in err, err)
    code, out, err = h.run_binary(["verify", "--jwks", keys.corp_jwks, token])
    suite.check("verify with the real key file: exit 0", code == 0, err)


if __name__ == "__main__":
    suite.run()

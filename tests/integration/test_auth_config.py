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


if __name__ == "__main__":
    suite.run()

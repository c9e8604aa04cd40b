"""Authentication end to end: path tricks against prefix rules, the normalised path being
what the upstream gets, claims that cannot become headers, and requests no route covers."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import auth_support as a  # noqa: E402
import harness as h  # noqa: E402

suite = h.Suite("auth_paths")


@suite.case
def path_tricks_cannot_dodge_the_admin_rule():
    keys = a.Keys()
    upstream, proxy = a.start(keys)
    plain = keys.corp()  # a valid user without any admin role or scope
    # Each of these reaches /admin/... at a normalising upstream: the admin rule must apply.
    for target in ("/%61dmin/users", "/public/%2e%2e/admin/users", "/public/%2E%2e/admin/users",
                   "//admin/users", "/public/../admin/users", "/./admin/users",
                   "/admin/./users", "/x/../admin/users"):
        a.check_refused(suite, f"{target} without role", upstream=upstream, proxy=proxy,
                        target=target, headers=[a.bearer(plain)], status=403,
                        error="insufficient_scope")
        a.check_refused(suite, f"{target} without token", upstream=upstream, proxy=proxy,
                        target=target)

    # What was checked is what the upstream serves.
    rows = [("/admin/../public/x", "/public/x"),
            ("/public/./a/../b?q=%2F&r=1", "/public/b?q=%2F&r=1"),
            ("/public/%7Euser", "/public/~user"),
            ("/public//x", "/public/x")]
    for target, expected in rows:
        _, got = a.check_forwarded(suite, target, proxy, upstream, target)
        suite.equal(f"{target}: upstream target", got and got.target, expected)
        suite.check(f"{target}: public route, no identity",
                    got is not None and got.header("x-jwtgate-route") == "public", got and
                    got.headers)

    # Spellings that upstreams disagree about are refused outright.
    for target in ("/public/%2Fadmin", "/public/%5Cadmin", "/public/..;/admin/users",
                   "/admin;x/users", "/public/%00", "/a//../admin/users"):
        a.check_refused(suite, f"{target} refused", upstream=upstream, proxy=proxy,
                        target=target, status=400)


@suite.case
def claims_with_control_characters_never_become_headers():
    keys = a.Keys()
    upstream, proxy = a.start(keys)
    rows = [("CR LF in email", {"email": "a@example.com\r\nX-Injected: 1"}),
            ("NUL in email", {"email": "a\u0000b"}),
            ("ESC in sub", {"sub": "alice\u001b[31m"}),
            ("LF in a nested claim", {"org": {"tenant": "acme\nX: y"}}),
            ("DEL in sub", {"sub": "al\u007fice"}),
            ("surrounding space", {"sub": " alice"})]
    for name, claims in rows:
        token = keys.corp(**claims)
        a.check_refused(suite, name, proxy, upstream, "/orders", [a.bearer(token)],
                        error="invalid_token", description="(?i)header")
        # Once more: the refusal holds for the cached token too.
        a.check_refused(suite, f"{name} (again)", proxy, upstream, "/orders", [a.bearer(token)],
                        error="invalid_token")
    line = proxy.wait_stderr(r"claim_not_forwardable in X-User-Email", timeout=5)
    suite.check("refusal logged with the header name", line is not None, proxy.stderr_text())
    suite.check("log has a fingerprint, not the token",
                line is not None and "credential=sha256:" in line and "eyJ" not in line, line)
    suite.check("no token bytes anywhere in the log", "eyJ" not in proxy.stderr_text(),
                proxy.stderr_text())
    # A valid token still passes afterwards.
    _, got = a.check_forwarded(suite, "clean token", proxy, upstream, "/orders",
                               [a.bearer(keys.corp())])
    suite.equal("clean token: identity", got and got.header("x-user-id"), "alice")


@suite.case
def requests_no_route_covers():
    keys = a.Keys()
    narrow = [("    match: {prefix: /}\n    require: {any: [corp, partner]}",
               "    match: {prefix: /orders/}\n    require: {any: [corp, partner]}")]
    upstream, proxy = a.start(keys, narrow)
    for target in ("/other", "/ordersx", "/"):
        response = a.check_refused(suite, f"404 for {target}", proxy, upstream, target,
                                   [a.bearer(keys.corp())], status=404)
        suite.equal(f"{target}: body", response.json(), {"error": "no_route"})
    a.check_forwarded(suite, "/orders/1 still served", proxy, upstream, "/orders/1",
                      [a.bearer(keys.corp())])
    # The method filter of admin-write does not open POST elsewhere either.
    a.check_refused(suite, "POST /other", proxy, upstream, "/other", method="POST", status=404)

    upstream, proxy = a.start(keys, narrow + [("no_route: 404", "no_route: 403")])
    response = a.check_refused(suite, "403 when configured", proxy, upstream, "/other",
                               status=403)
    suite.equal("403 body", response.json(), {"error": "no_route"})


if __name__ == "__main__":
    suite.run()

#!/usr/bin/python3
"""Verifies JWTs minted by jwtgate's test signer with PyJWT, an independent implementation.

Usage: pyjwt_verify.py CASES.json
CASES.json: {"now": N, "issuer": "...", "audience": "...",
             "cases": [{"label": "...", "alg": "...", "jwk": {...}, "token": "...",
                        "expect_valid": true|false}]}
PyJWT checks the signature, iss and aud; exp, nbf and iat are checked here against "now",
because PyJWT 2.6 reads only the wall clock. Prints
  {"pyjwt_version": "...", "algorithms": [...], "results": [{"label", "ok", "detail"}]}
and exits 1 if any case did not meet its expectation (0 otherwise, 2 on bad usage).
"""

import json
import sys

import jwt
from jwt.algorithms import get_default_algorithms


def check(case, now, issuer, audience, algorithms):
    """Returns (valid, detail) for one case."""
    alg = case["alg"]
    if alg not in algorithms:
        return False, "PyJWT has no algorithm " + alg
    # The algorithm is named explicitly: PyJWK in 2.6 cannot guess it for an Ed448 key.
    key = algorithms[alg].from_jwk(json.dumps(case["jwk"]))
    try:
        claims = jwt.decode(
            case["token"], key, algorithms=[alg], issuer=issuer, audience=audience,
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                     "require": ["exp", "iss", "aud"]})
    except jwt.PyJWTError as error:
        return False, type(error).__name__ + ": " + str(error)
    if not now < claims["exp"]:
        return False, "expired"
    if "nbf" in claims and now < claims["nbf"]:
        return False, "not yet valid"
    if "iat" in claims and claims["iat"] > now:
        return False, "issued in the future"
    return True, "valid, sub=" + str(claims.get("sub"))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as handle:
        spec = json.load(handle)

    algorithms = get_default_algorithms()
    results = []
    failed = 0
    for case in spec["cases"]:
        valid, detail = check(case, spec["now"], spec["issuer"], spec["audience"], algorithms)
        ok = valid == case["expect_valid"]
        failed += 0 if ok else 1
        results.append({"label": case["label"], "ok": ok, "valid": valid, "detail": detail})

    json.dump({"pyjwt_version": jwt.__version__, "algorithms": sorted(algorithms),
               "results": results}, sys.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Mints JWTs with PyJWT (an implementation independent of jwtgate) for every JWS algorithm.

Keys are generated here with python3-cryptography. Prints one JSON object on stdout:
  {"pyjwt_version": "...", "now": N,
   "jwks": {"keys": [public JWK, ...]},        # RFC 7518 conformant (see fixed_length_ec)
   "pyjwt_jwks": {"keys": [...]},              # exactly as PyJWT's to_jwk() wrote them
   "tokens": [{"label": "...", "alg": "...", "kid": "...", "sub": "...", "token": "..."}]}
Each token carries iss, aud, sub, iat/nbf = now - 10, exp = now + 600, a scope string and a
nested claim. Used by tests/verifier/interop_test.cc; standard library plus Debian's
python3-jwt and python3-cryptography only.
"""

import argparse
import base64
import json
import os
import sys

import jwt
from jwt.algorithms import get_default_algorithms
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

# (label, JWS alg, key kind)
CASES = [
    ("RS256", "RS256", "rsa"),
    ("RS384", "RS384", "rsa"),
    ("RS512", "RS512", "rsa"),
    ("PS256", "PS256", "rsa"),
    ("PS384", "PS384", "rsa"),
    ("PS512", "PS512", "rsa"),
    ("ES256", "ES256", "p256"),
    ("ES384", "ES384", "p384"),
    ("ES512", "ES512", "p521"),
    ("EdDSA-Ed25519", "EdDSA", "ed25519"),
    ("EdDSA-Ed448", "EdDSA", "ed448"),
    ("HS256", "HS256", "hs32"),
    ("HS384", "HS384", "hs48"),
    ("HS512", "HS512", "hs64"),
]


def make_key(kind):
    """Returns (private key or secret, public key or secret)."""
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif kind == "p256":
        key = ec.generate_private_key(ec.SECP256R1())
    elif kind == "p384":
        key = ec.generate_private_key(ec.SECP384R1())
    elif kind == "p521":
        key = ec.generate_private_key(ec.SECP521R1())
    elif kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif kind == "ed448":
        key = ed448.Ed448PrivateKey.generate()
    elif kind.startswith("hs"):
        secret = os.urandom(int(kind[2:]))
        return secret, secret
    else:
        raise ValueError(kind)
    return key, key.public_key()


def fixed_length_ec(jwk, public):
    """PyJWT 2.6 writes EC coordinates as minimal big-endian integers, so a P-521 "x" or "y"
    is often 65 bytes (and a P-256 one 31 bytes once in 128 keys). RFC 7518 section 6.2.1.2
    requires the full coordinate size; this rewrites them at that size."""
    if jwk.get("kty") != "EC":
        return jwk
    size = (public.curve.key_size + 7) // 8
    numbers = public.public_numbers()
    fixed = dict(jwk)
    for name, value in (("x", numbers.x), ("y", numbers.y)):
        fixed[name] = base64.urlsafe_b64encode(value.to_bytes(size, "big")).rstrip(b"=").decode()
    return fixed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--now", type=int, required=True, help="the verifier's clock")
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--audience", required=True)
    args = parser.parse_args()

    algorithms = get_default_algorithms()
    keys = []
    pyjwt_keys = []
    tokens = []
    for label, alg, kind in CASES:
        private, public = make_key(kind)
        kid = "py-" + label
        jwk = json.loads(algorithms[alg].to_jwk(public))
        jwk["kid"] = kid
        pyjwt_keys.append(jwk)
        keys.append(fixed_length_ec(jwk, public))
        claims = {
            "iss": args.issuer,
            "aud": args.audience,
            "sub": "py-sub-" + label,
            "iat": args.now - 10,
            "nbf": args.now - 10,
            "exp": args.now + 600,
            "scope": "read write",
            "realm_access": {"roles": ["viewer", label]},
        }
        token = jwt.encode(claims, private, algorithm=alg, headers={"kid": kid})
        tokens.append({"label": label, "alg": alg, "kid": kid, "sub": claims["sub"],
                       "token": token})

    json.dump({"pyjwt_version": jwt.__version__, "now": args.now, "jwks": {"keys": keys},
               "pyjwt_jwks": {"keys": pyjwt_keys}, "tokens": tokens}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`jwtgate verify` and `decode` as a user runs them: the real binary, tokens minted
by Debian's PyJWT, and hostile input that must get a clear error and never a crash."""

import json
import os
import subprocess
import sys
import tempfile
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

BINARY = os.environ["JWTGATE_BIN"]
passed = 0
failed = 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def run(args, stdin=b""):
    result = subprocess.run([BINARY, *args], input=stdin, capture_output=True, timeout=30)
    return result.returncode, result.stdout.decode(errors="replace"), result.stderr.decode(
        errors="replace")


def public_jwk(key, kid, alg):
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(key.public_key()))
    jwk.update({"kid": kid, "use": "sig"})
    return jwk


def main():
    work = tempfile.mkdtemp(prefix="jwtgate-cli-")
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    jwks = {"keys": [public_jwk(rsa_key, "rsa-1", "RS256"), public_jwk(ec_key, "ec-1", "ES256"),
                     public_jwk(ed_key, "ed-1", "EdDSA")]}
    jwks_path = os.path.join(work, "jwks.json")
    with open(jwks_path, "w") as f:
        json.dump(jwks, f)
    pem_path = os.path.join(work, "rsa.pem")
    with open(pem_path, "wb") as f:
        f.write(rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))

    now = int(time.time())
    claims = {"iss": "https://id.test/", "aud": "api", "sub": "alice", "exp": now + 300,
              "iat": now}
    policy = ["--jwks", jwks_path, "--issuer", "https://id.test/", "--audience", "api"]

    # Valid tokens from an independent implementation, one per key type.
    for alg, key, kid in (("RS256", rsa_key, "rsa-1"), ("ES256", ec_key, "ec-1"),
                          ("EdDSA", ed_key, "ed-1")):
        token = jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})
        code, out, _ = run(["verify", *policy, token])
        check(f"verify accepts a PyJWT {alg} token", code == 0 and out.startswith("VALID"), out)
        check(f"verify prints the {alg} claims", '"sub":"alice"' in out, out)
        code, out, _ = run(["verify", *policy, "-"], stdin=(token + "\n").encode())
        check(f"verify reads a {alg} token from standard input", code == 0, out)

    # Each refusal names its reason.
    def refused(name, token, reason, extra=()):
        code, out, err = run(["verify", *policy, *extra, token])
        check(name, code == 1 and f"[{reason}]" in out, f"code={code} out={out} err={err}")

    refused("an expired token is refused as expired",
            jwt.encode({**claims, "exp": now - 3600}, rsa_key, algorithm="RS256",
                       headers={"kid": "rsa-1"}), "expired")
    refused("another audience is refused",
            jwt.encode({**claims, "aud": "other"}, rsa_key, algorithm="RS256",
                       headers={"kid": "rsa-1"}), "aud_mismatch")
    refused("another issuer is refused",
            jwt.encode({**claims, "iss": "https://evil.test/"}, rsa_key, algorithm="RS256",
                       headers={"kid": "rsa-1"}), "iss_mismatch")
    refused("an unknown kid is refused",
            jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "RSA-1"}),
            "key_not_found")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused("a forged signature is refused",
            jwt.encode(claims, other_key, algorithm="RS256", headers={"kid": "rsa-1"}),
            "bad_signature")
    refused("alg none is refused",
            jwt.encode(claims, None, algorithm="none"), "alg_unsupported")
    refused("an algorithm outside --algorithms is refused",
            jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "ec-1"}),
            "alg_not_allowed", extra=("--algorithms", "RS256"))
    code, out, _ = run(["verify", *policy, "--now", str(now - 7200),
                        jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})])
    check("--now moves the clock (token issued in the future)", code == 1 and "[" in out, out)

    # PEM keys with a configured kid and algorithm.
    token = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "pem-1"})
    code, out, _ = run(["verify", "--pem", pem_path, "--kid", "pem-1", "--pem-alg", "RS256",
                        "--issuer", "https://id.test/", "--audience", "api", token])
    check("verify accepts a token against a PEM key", code == 0, out)

    # A PEM key without a kid is named as such when a token asks for one.
    code, out, _ = run(["verify", "--pem", pem_path, "--pem-alg", "RS256",
                        "--issuer", "https://id.test/", "--audience", "api", token])
    check("a kid-less key is listed as '(no kid)'",
          code == 1 and "[key_not_found]" in out and "kids: (no kid)" in out, out)

    # A token that is not three segments gets one clear line with its reason.
    code, out, _ = run(["decode", "a.b"])
    check("decode names a malformed token once",
          code == 1 and out.count("not a compact JWS") == 1 and "[malformed_token]" in out, out)

    # Bad input: clear errors, exit 1 or 2, never a signal.
    hostile = [b"", b"...", b"a.b.c", b"\x00\xff\xfe." * 1000, b"x" * 100_000,
               b"eyJhbGciOiJSUzI1NiJ9." * 50, "é.ü.ß".encode()]
    for i, token in enumerate(hostile):
        code, out, err = run(["verify", *policy, "-"], stdin=token)
        check(f"hostile input {i} gets a clear refusal", code in (1, 2), f"code={code}")
        code, out, err = run(["decode", "-"], stdin=token)
        check(f"decode survives hostile input {i}", code in (0, 1, 2), f"code={code}")
    code, out, err = run(["verify", "--jwks", os.path.join(work, "missing.json"), "x.y.z"])
    check("a missing key file is a usage error", code == 2 and "cannot read" in err, err)
    bad_jwks = os.path.join(work, "bad.json")
    with open(bad_jwks, "w") as f:
        f.write('{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}')
    code, out, err = run(["verify", "--jwks", bad_jwks, "x.y.z"])
    check("a weak key is refused when loaded", code == 2 and err.strip() != "", err)
    code, out, err = run(["verify", "--bogus"])
    check("an unknown flag is a usage error", code == 2, err)
    code, out, err = run(["demo", "--help"])
    check("demo --help prints its usage and exits 0",
          code == 0 and out.startswith("usage: jwtgate demo"), f"code={code} {out} {err}")
    code, out, err = run(["demo", "--bogus"])
    check("demo with an unknown flag is a usage error", code == 2 and "usage" in err, err)

    # decode marks its output as unverified and escapes control characters.
    token = jwt.encode({**claims, "sub": "a\x1b[31mb"}, other_key, algorithm="RS256")
    code, out, _ = run(["decode", token])
    check("decode says it did not verify", code == 0 and out.startswith("UNVERIFIED"), out)
    check("decode never prints raw control characters", "\x1b" not in out, repr(out))

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

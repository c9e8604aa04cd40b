"""The quick start's demo, as a new user meets it: `jwtgate demo` on loopback, driven with
curl from the commands it prints, and `jwtgate demo --check`."""

import os
import re
import signal
import subprocess
import sys
import time

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


def curl(command):
    """Runs one printed curl line (with -s -i added) and returns (status, headers+body)."""
    args = ["curl", "-s", "-i", "--max-time", "10"] + re.findall(r"'[^']*'|\S+", command)[2:]
    args = [a.strip("'") for a in args]
    out = subprocess.run(args, capture_output=True, timeout=20).stdout.decode(errors="replace")
    match = re.match(r"HTTP/1\.1 (\d{3})", out)
    return (int(match.group(1)) if match else 0), out


def main():
    result = subprocess.run([BINARY, "demo", "--check", "--port", "0"], capture_output=True,
                            timeout=60)
    out = result.stdout.decode()
    check("demo --check exits 0", result.returncode == 0, out + result.stderr.decode())
    check("demo --check reports 200, 401, 401",
          "valid token -> 200, no token -> 401, forged token -> 401" in out, out)

    demo = subprocess.Popen([BINARY, "demo", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.time() + 30
        while time.time() < deadline:
            line = demo.stdout.readline()
            if not line or line.startswith("Press Ctrl-C"):
                break
            lines.append(line)
        commands = [l.strip() for l in lines if l.strip().startswith("curl ")]
        check("the demo prints three curl commands", len(commands) == 3, "".join(lines))
        if len(commands) == 3:
            status, body = curl(commands[0])
            check("the valid token gets 200", status == 200, body)
            check("the echo shows the identity jwtgate added", '"X-User-Id":"alice"' in body,
                  body)
            status, body = curl(commands[1])
            check("no token gets 401", status == 401, body)
            check("no token gets a Bearer challenge",
                  'WWW-Authenticate: Bearer realm="jwtgate"' in body, body)
            status, body = curl(commands[2])
            check("the forged token gets 401", status == 401, body)
            check("the forged token is named invalid_token", 'error="invalid_token"' in body,
                  body)
            # A second instance must not share the port through SO_REUSEPORT.
            port = re.search(r"127\.0\.0\.1:(\d+)/", commands[0]).group(1)
            second = subprocess.run([BINARY, "demo", "--check", "--port", port],
                                    capture_output=True, timeout=30)
            check("a second instance on the same port is refused",
                  second.returncode == 1 and b"already in use" in second.stderr,
                  second.stderr.decode(errors="replace"))
            status, body = curl(commands[0])
            check("the first instance still answers every request", status == 200, body)
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            code = demo.wait(timeout=20)
        except subprocess.TimeoutExpired:
            demo.kill()
            code = -1
    check("the demo drains and exits 0 on SIGTERM", code == 0, str(code))

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

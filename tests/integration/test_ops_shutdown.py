"""timeouts.shutdown_grace: after SIGTERM the proxy keeps accepting and serving for the
grace period (so that load balancers can stop sending first), then drains as before and
exits 0; a second SIGTERM during the grace stops at once."""

import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402

suite = h.Suite("ops_shutdown")


def refuses(port):
    """True when a fresh connection to `port` is refused (the listeners are closed)."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        probe.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        probe.close()


@suite.case
def grace_keeps_serving_then_drains_and_exits_0():
    upstream = h.Upstream()
    proxy = h.Proxy(h.proxy_config(upstream, workers=2, access_log={"output": "off"},
                                   timeouts={"shutdown_grace": "3s", "drain": "5s"}))
    kept = proxy.client()
    suite.equal("served before", kept.request(h.http_request("GET", "/before")).status, 200)

    proxy.send_signal(signal.SIGTERM)
    line = proxy.wait_stderr(r"SIGTERM: shutting down: serving for 3000 ms more", timeout=5)
    suite.check("the grace is announced", line is not None, proxy.stderr_text())

    # Within the grace: new connections and the kept one are served normally.
    served = []
    for index in range(5):
        response, _ = h.one_request(proxy.port, h.http_request("GET", f"/grace{index}"))
        served.append(response.status)
    suite.equal("new connections served during the grace", served, [200] * 5)
    response = kept.request(h.http_request("GET", "/kept"))
    suite.equal("the open connection is served during the grace", response.status, 200)
    suite.check("no Connection: close during the grace",
                "close" not in response.tokens("connection"), response.headers)
    suite.check("still running during the grace", proxy.alive())

    # Then the drain: listeners close, the idle connection is closed, exit 0.
    line = proxy.wait_stderr(r"shutdown grace over: draining", timeout=10)
    suite.check("the drain follows the grace", line is not None, proxy.stderr_text())
    suite.check("the idle kept connection is closed by the drain", kept.closed(5))
    code = proxy.wait_exit(15)
    suite.equal("exits 0", code, 0)
    suite.check("nothing listens any more", refuses(proxy.port))


@suite.case
def a_request_in_flight_at_the_end_of_the_grace_completes():
    upstream = h.Upstream(h.serve(h.slow(3)))
    proxy = h.Proxy(h.proxy_config(upstream, access_log={"output": "off"},
                                   timeouts={"shutdown_grace": "1s", "drain": "15s"}))
    client = proxy.client()
    client.send(h.http_request("GET", "/slow"))
    suite.check("the upstream has the request", len(upstream.wait_requests(1)) == 1)
    proxy.send_signal(signal.SIGTERM)
    suite.check("grace announced", proxy.wait_stderr(r"shutting down", timeout=5) is not None)
    suite.check("the drain begins while the request is in flight",
                proxy.wait_stderr(r"shutdown grace over", timeout=10) is not None)
    response = client.response(timeout=15)
    suite.equal("the slow request is answered", response.status, 200)
    suite.check("with Connection: close (draining)", "close" in response.tokens("connection"),
                response.headers)
    suite.equal("exits 0", proxy.wait_exit(15), 0)


@suite.case
def a_second_signal_during_the_grace_stops_at_once():
    upstream = h.Upstream()
    proxy = h.Proxy(h.proxy_config(upstream, access_log={"output": "off"},
                                   timeouts={"shutdown_grace": "60s", "drain": "60s"}))
    kept = proxy.client()
    suite.equal("served", kept.request(h.http_request("GET", "/x")).status, 200)
    proxy.send_signal(signal.SIGTERM)
    suite.check("grace announced", proxy.wait_stderr(r"shutting down", timeout=5) is not None)
    proxy.send_signal(signal.SIGTERM)
    suite.check("second signal logged",
                proxy.wait_stderr(r"second signal: stopping now", timeout=5) is not None,
                proxy.stderr_text())
    code = proxy.wait_exit(10)
    suite.check("exits long before the 60 s grace", code is not None, "still running")
    suite.equal("exit code 0", code, 0)
    suite.check("the open connection is closed", kept.closed(5))


@suite.case
def sigint_also_starts_the_grace():
    upstream = h.Upstream()
    proxy = h.Proxy(h.proxy_config(upstream, access_log={"output": "off"},
                                   timeouts={"shutdown_grace": "1s"}))
    proxy.send_signal(signal.SIGINT)
    suite.check("grace announced for SIGINT",
                proxy.wait_stderr(r"SIGINT: shutting down: serving for 1000 ms", timeout=5)
                is not None, proxy.stderr_text())
    response, _ = h.one_request(proxy.port, h.http_request("GET", "/int"))
    suite.equal("served during the grace", response.status, 200)
    suite.equal("exits 0 after grace and drain", proxy.wait_exit(15), 0)


suite.run()

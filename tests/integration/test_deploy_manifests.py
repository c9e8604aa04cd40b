"""The container image and the Kubernetes manifests agree with each other and with jwtgate:
every manifest in deploy/kubernetes/ parses (Debian's python3-yaml) and has its required
fields; the Service, the container ports, the probes and the Dockerfile's EXPOSE use the
ports of the ConfigMap's `listen` and `admin.listen`; the config is mounted where the
Dockerfile's CMD reads it; every container is locked down; the termination grace period
covers shutdown_grace + drain; and the real binary's check-config accepts the ConfigMap's
configuration without touching the network."""

import json
import os
import re
import shlex
import socket
import sys
import tempfile
import threading

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness as h  # noqa: E402

SOURCE = os.environ.get("JWTGATE_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
KUBE_DIR = os.path.join(SOURCE, "deploy", "kubernetes")
DOCKERFILE = os.path.join(SOURCE, "Dockerfile")
EXAMPLE = os.path.join(SOURCE, "config.example.yaml")

DEFAULT_DRAIN_MS = 15_000
DEFAULT_SHUTDOWN_GRACE_MS = 0

suite = h.Suite("deploy_manifests", deadline=120)


# --------------------------------------------------------------------------------------------
# Readers


def load_manifests():
    """{file name: [documents]} for every .yaml file of deploy/kubernetes/."""
    found = {}
    for name in sorted(os.listdir(KUBE_DIR)):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(KUBE_DIR, name)) as text:
                found[name] = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    return found


def objects_by_kind():
    by_kind = {}
    for name, docs in load_manifests().items():
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") != "Kustomization":
                by_kind.setdefault(doc.get("kind"), []).append(doc)
    return by_kind


def only(by_kind, kind):
    items = by_kind.get(kind, [])
    if len(items) != 1:
        raise AssertionError(f"expected exactly one {kind}, found {len(items)}")
    return items[0]


def dockerfile_final_stage():
    """The instructions of the Dockerfile's last stage: [(INSTRUCTION, argument text)]."""
    with open(DOCKERFILE) as text:
        lines = text.read().splitlines()
    instructions = []
    pending = ""
    for line in lines:
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        word, _, rest = full.partition(" ")
        instructions.append((word.upper(), rest.strip()))
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def exec_form(text):
    """A JSON-array (exec form) argument, or the shell form split like a shell would."""
    if text.startswith("["):
        return json.loads(text)
    return shlex.split(text)


def dockerfile_settings():
    stage = dockerfile_final_stage()
    settings = {"expose": set(), "user": None, "entrypoint": None, "cmd": None, "env": {}}
    for word, rest in stage:
        if word == "EXPOSE":
            for item in rest.split():
                settings["expose"].add(int(item.split("/")[0]))
        elif word == "USER":
            settings["user"] = rest
        elif word == "ENTRYPOINT":
            settings["entrypoint"] = exec_form(rest)
        elif word == "CMD":
            settings["cmd"] = exec_form(rest)
        elif word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                settings["env"][key] = value
    return settings


def dockerfile_config_path():
    """The path that the image's CMD passes to --config (ENV references resolved)."""
    settings = dockerfile_settings()
    args = settings["cmd"] or []
    path = None
    for i, arg in enumerate(args):
        if arg == "--config" and i + 1 < len(args):
            path = args[i + 1]
        elif arg.startswith("--config="):
            path = arg[len("--config="):]
    if path is None:
        return None
    return re.sub(r"\$\{?(\w+)\}?", lambda m: settings["env"].get(m.group(1), m.group(0)), path)


def config_map_config(by_kind):
    config_map = only(by_kind, "ConfigMap")
    text = (config_map.get("data") or {}).get("config.yaml")
    if text is None:
        raise AssertionError("the ConfigMap has no data key config.yaml")
    return config_map, text, yaml.safe_load(text)


def port_of(address):
    """The port of "host:port" or "[v6]:port"."""
    return int(str(address).rsplit(":", 1)[1])


def host_of(address):
    return str(address).rsplit(":", 1)[0].strip("[]")


def listen_ports(config):
    listen = config.get("listen")
    items = listen if isinstance(listen, list) else [listen]
    return {port_of(item) for item in items}


def admin_listen(config):
    """`admin.listen`, or None when there is no admin listener (no section, or off)."""
    listen = (config.get("admin") or {}).get("listen")
    return None if listen in (None, "off") else str(listen)


def duration_ms(text, default):
    """A jwtgate duration ("500ms", "5s", "2m", "1h", "0") in milliseconds."""
    if text is None:
        return default
    text = str(text)
    if text == "0":
        return 0
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", text)
    if not match:
        raise AssertionError(f"not a jwtgate duration: '{text}'")
    scale = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}[match.group(2)]
    return int(match.group(1)) * scale


def pod_spec(by_kind):
    return only(by_kind, "Deployment")["spec"]["template"]["spec"]


def container(spec, name):
    for item in spec.get("containers", []):
        if item.get("name") == name:
            return item
    raise AssertionError(f"no container named '{name}'")


def jwtgate_container(spec):
    """The container that runs the jwtgate image (by image name)."""
    matches = [c for c in spec.get("containers", []) if "jwtgate" in str(c.get("image", ""))]
    if len(matches) != 1:
        raise AssertionError(f"expected one jwtgate container, found {len(matches)}")
    return matches[0]


def container_port(item, port):
    """Resolves a Service targetPort or probe port (number or name) against a container."""
    for declared in item.get("ports", []):
        if port in (declared.get("containerPort"), declared.get("name")):
            return declared.get("containerPort")
    return port if isinstance(port, int) else None


# --------------------------------------------------------------------------------------------
# Cases


@suite.case
def every_manifest_parses_and_is_listed():
    manifests = load_manifests()
    suite.check("the four manifests exist",
                {"configmap.yaml", "deployment.yaml", "service.yaml",
                 "kustomization.yaml"} <= set(manifests), sorted(manifests))
    kustomization = manifests.get("kustomization.yaml", [{}])[0]
    suite.equal("kustomization kind", kustomization.get("kind"), "Kustomization")
    listed = set(kustomization.get("resources", []))
    suite.equal("kustomization lists every other manifest", listed,
                set(manifests) - {"kustomization.yaml"})
    for name in listed:
        suite.check(f"resource {name} exists", os.path.isfile(os.path.join(KUBE_DIR, name)))
    for name, docs in manifests.items():
        for doc in docs:
            suite.check(f"{name}: apiVersion, kind and metadata.name",
                        isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind")
                        and (doc.get("kind") == "Kustomization"
                             or (doc.get("metadata") or {}).get("name")), doc)


@suite.case
def kinds_and_required_fields():
    by_kind = objects_by_kind()
    suite.equal("kinds", sorted(by_kind), ["ConfigMap", "Deployment", "Service"])
    deployment = only(by_kind, "Deployment")
    suite.equal("Deployment apiVersion", deployment["apiVersion"], "apps/v1")
    selector = deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    suite.check("the Deployment selector matches its pod labels",
                selector and all(labels.get(k) == v for k, v in selector.items()),
                f"{selector} vs {labels}")
    service = only(by_kind, "Service")
    suite.equal("Service apiVersion", service["apiVersion"], "v1")
    service_selector = service["spec"]["selector"]
    suite.check("the Service selects the Deployment's pods",
                service_selector and all(labels.get(k) == v
                                         for k, v in service_selector.items()),
                f"{service_selector} vs {labels}")
    spec = pod_spec(by_kind)
    names = [c.get("name") for c in spec["containers"]]
    suite.equal("container names are unique", len(names), len(set(names)))
    for item in spec["containers"]:
        suite.check(f"{item.get('name')}: has an image", bool(item.get("image")))
        resources = item.get("resources") or {}
        for part in ("requests", "limits"):
            suite.check(f"{item.get('name')}: resources.{part} cpu and memory",
                        {"cpu", "memory"} <= set(resources.get(part) or {}), resources)
    config_map = only(by_kind, "ConfigMap")
    suite.equal("ConfigMap apiVersion", config_map["apiVersion"], "v1")
    suite.equal("the ConfigMap holds only config.yaml", sorted(config_map.get("data", {})),
                ["config.yaml"])


@suite.case
def service_and_ports_follow_the_config():
    by_kind = objects_by_kind()
    _, _, config = config_map_config(by_kind)
    spec = pod_spec(by_kind)
    gate = jwtgate_container(spec)
    ports = listen_ports(config)
    suite.equal("the config listens on one port", len(ports), 1)
    listen_port = next(iter(ports))
    suite.equal("the config's listen port is 8080", listen_port, 8080)
    suite.check("the config listens on every address (the Service reaches the pod IP)",
                host_of(config["listen"]) in ("0.0.0.0", "::"), config["listen"])

    service = only(by_kind, "Service")
    service_ports = service["spec"]["ports"]
    suite.equal("the Service has one port", len(service_ports), 1)
    target = container_port(gate, service_ports[0].get("targetPort"))
    suite.equal("the Service targets jwtgate's listen port", target, listen_port)
    declared = {p["containerPort"] for p in gate.get("ports", [])}
    suite.check("jwtgate declares its listen port", listen_port in declared, declared)

    admin = admin_listen(config)
    admin_port = port_of(admin)
    suite.check("the Service does not expose the admin port",
                all(container_port(gate, p.get("targetPort")) != admin_port
                    for p in service_ports), service_ports)

    # The application must be reachable only through jwtgate: loopback, and no port of it
    # declared for the pod.
    upstream = str(config["upstream"])
    suite.check("the upstream is on the pod's loopback", host_of(upstream) == "127.0.0.1",
                upstream)
    for item in spec["containers"]:
        if item is gate:
            continue
        suite.check(f"{item['name']}: declares no port (reached through jwtgate only)",
                    not item.get("ports"), item.get("ports"))
        suite.check(f"{item['name']}: listens on 127.0.0.1:{port_of(upstream)}",
                    any(f"127.0.0.1:{port_of(upstream)}" in str(arg)
                        for arg in item.get("args", []) + item.get("command", [])),
                    item.get("args"))


@suite.case
def probes_hit_the_admin_listener():
    by_kind = objects_by_kind()
    _, _, config = config_map_config(by_kind)
    gate = jwtgate_container(pod_spec(by_kind))
    admin = admin_listen(config)
    if not suite.check("admin.listen is set in the ConfigMap", admin, config.get("admin")):
        return
    suite.check("admin.listen is not loopback (the kubelet probes from the node)",
                host_of(admin) in ("0.0.0.0", "::"), admin)
    admin_port = port_of(admin)
    suite.check("admin and traffic ports differ", admin_port not in listen_ports(config))
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = (gate.get(probe) or {}).get("httpGet") or {}
        suite.equal(f"{probe} path", get.get("path"), path)
        suite.equal(f"{probe} port is admin.listen's", container_port(gate, get.get("port")),
                    admin_port)
        suite.check(f"{probe} uses plain HTTP", get.get("scheme", "HTTP") == "HTTP", get)
    declared = {p["containerPort"] for p in gate.get("ports", [])}
    suite.check("jwtgate declares its admin port", admin_port in declared, declared)


@suite.case
def dockerfile_matches_the_manifests():
    settings = dockerfile_settings()
    by_kind = objects_by_kind()
    config_map, _, config = config_map_config(by_kind)
    spec = pod_spec(by_kind)
    gate = jwtgate_container(spec)

    suite.equal("EXPOSE: the listen and admin ports", settings["expose"],
                listen_ports(config) | {port_of(admin_listen(config))})
    suite.equal("ENTRYPOINT", settings["entrypoint"], ["/usr/local/bin/jwtgate"])
    suite.equal("CMD", (settings["cmd"] or [None])[0], "serve")
    config_path = dockerfile_config_path()
    suite.equal("the image reads /etc/jwtgate/config.yaml", config_path,
                "/etc/jwtgate/config.yaml")
    suite.equal("USER", settings["user"], "65532:65532")
    suite.check("the Deployment keeps the image's command",
                "command" not in gate and "args" not in gate, gate)

    # The ConfigMap is mounted as a directory (updates propagate; hot reload) whose file
    # config.yaml is the path CMD names.
    config_dir, config_file = os.path.split(config_path or "")
    mounts = [m for m in gate.get("volumeMounts", []) if m.get("mountPath") == config_dir]
    suite.equal("one mount at the config directory", len(mounts), 1)
    mount = mounts[0] if mounts else {}
    suite.check("the mount has no subPath (ConfigMap updates reach the pod)",
                "subPath" not in mount and "subPathExpr" not in mount, mount)
    suite.equal("the mount is read-only", mount.get("readOnly"), True)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    volume = volumes.get(mount.get("name"), {})
    suite.equal("the mounted volume is the ConfigMap",
                (volume.get("configMap") or {}).get("name"), config_map["metadata"]["name"])
    items = (volume.get("configMap") or {}).get("items")
    suite.check("the volume maps config.yaml to the file CMD reads",
                config_file == "config.yaml" and (
                    items is None or any(i.get("key") == "config.yaml"
                                         and i.get("path") == config_file for i in items)),
                volume)


@suite.case
def every_container_is_locked_down():
    by_kind = objects_by_kind()
    spec = pod_spec(by_kind)
    pod_context = spec.get("securityContext") or {}
    user = dockerfile_settings()["user"] or ""
    image_uid = int(user.split(":")[0]) if user.split(":")[0].isdigit() else None
    suite.equal("the image runs as 65532", image_uid, 65532)
    suite.equal("no service account token in the pod", spec.get("automountServiceAccountToken"),
                False)
    for item in spec["containers"]:
        own = item.get("securityContext") or {}

        def effective(key):
            return own.get(key, pod_context.get(key))

        name = item["name"]
        suite.equal(f"{name}: runAsNonRoot", effective("runAsNonRoot"), True)
        suite.equal(f"{name}: runAsUser", effective("runAsUser"), 65532)
        suite.equal(f"{name}: allowPrivilegeEscalation", own.get("allowPrivilegeEscalation"),
                    False)
        suite.equal(f"{name}: readOnlyRootFilesystem", own.get("readOnlyRootFilesystem"), True)
        suite.equal(f"{name}: capabilities dropped",
                    (own.get("capabilities") or {}).get("drop"), ["ALL"])
        suite.check(f"{name}: no capability added",
                    not (own.get("capabilities") or {}).get("add"), own)
        suite.equal(f"{name}: seccomp profile",
                    (effective("seccompProfile") or {}).get("type"), "RuntimeDefault")
        suite.check(f"{name}: not privileged", not own.get("privileged"), own)


@suite.case
def termination_grace_covers_shutdown():
    by_kind = objects_by_kind()
    _, _, config = config_map_config(by_kind)
    spec = pod_spec(by_kind)
    timeouts = config.get("timeouts") or {}
    grace_ms = duration_ms(timeouts.get("shutdown_grace"), DEFAULT_SHUTDOWN_GRACE_MS)
    drain_ms = duration_ms(timeouts.get("drain"), DEFAULT_DRAIN_MS)
    suite.equal("shutdown_grace is 5s", grace_ms, 5000)
    period = spec.get("terminationGracePeriodSeconds")
    suite.check("terminationGracePeriodSeconds is above shutdown_grace + drain",
                isinstance(period, int) and period * 1000 > grace_ms + drain_ms,
                f"{period}s vs {grace_ms} + {drain_ms} ms")
    # The application must still answer while jwtgate serves its grace and drains.
    for item in spec["containers"]:
        if item is jwtgate_container(spec):
            continue
        sleep = (((item.get("lifecycle") or {}).get("preStop") or {}).get("sleep") or {})
        seconds = sleep.get("seconds", 0)
        suite.check(f"{item['name']}: preStop outlasts jwtgate's grace + drain",
                    seconds * 1000 >= grace_ms + drain_ms and seconds < (period or 0),
                    f"{seconds}s vs {grace_ms} + {drain_ms} ms, period {period}s")


@suite.case
def example_config_agrees_on_the_admin_port():
    _, _, config = config_map_config(objects_by_kind())
    with open(EXAMPLE) as text:
        example = yaml.safe_load(text)
    suite.equal("listen port of config.example.yaml and the ConfigMap",
                listen_ports(example), listen_ports(config))
    suite.equal("admin port of config.example.yaml and the ConfigMap",
                port_of(admin_listen(example)), port_of(admin_listen(config)))


class Tripwire:
    """A loopback listener that counts connections: set as the HTTPS proxy, it catches any
    fetch the binary would make, so the placeholder key URL is never contacted."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()
        h.track(self)

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def release(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@suite.case
def check_config_accepts_the_config_map():
    _, text, config = config_map_config(objects_by_kind())
    remote = [name for name, p in (config.get("providers") or {}).items()
              if p.get("jwks_uri") or p.get("discovery")]
    suite.check("the example provider uses remote keys", remote, config.get("providers"))
    work = tempfile.mkdtemp(prefix="jwtgate-deploy-")
    path = os.path.join(work, "config.yaml")
    with open(path, "w") as out:
        out.write(text)

    # check-config reads the file only (app/check_config_command.cc); should that ever
    # change, every HTTPS request goes to the tripwire on loopback, never to example.com.
    tripwire = Tripwire()
    proxy = f"http://127.0.0.1:{tripwire.port}"
    env = {"HTTPS_PROXY": proxy, "https_proxy": proxy, "ALL_PROXY": proxy, "all_proxy": proxy,
           "NO_PROXY": "", "no_proxy": ""}
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        code, out, err = h.run_binary(["check-config", path], timeout=20)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    suite.equal("check-config exit status", code, 0)
    suite.equal("check-config summary", out.strip(), "config OK: 1 provider, 1 route")
    suite.equal("check-config is quiet on stderr", err, "")
    suite.equal("check-config made no network request", tripwire.connections, 0)


if __name__ == "__main__":
    suite.run()

# jwtgate container image: built on Debian 12 with the project's own install script, run on
# Debian 12 slim with only the shared libraries the binary links, as a non-root user.
#
#   docker build -t jwtgate .
#   docker run --read-only -p 8080:8080 -p 9901:9901 \
#     -v "$PWD/my-config:/etc/jwtgate:ro" jwtgate
#
# The image ships no configuration: mount a directory holding config.yaml (and any key files
# it names) at /etc/jwtgate. Kubernetes manifests: deploy/kubernetes/.

FROM debian:12 AS build
WORKDIR /src
# The package list first, so that a source change does not reinstall the toolchain.
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . .
# Release build of the program only: the tests and benchmarks run in CI, not in the image.
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DJWTGATE_TESTS=OFF -DJWTGATE_BENCH=OFF \
 && cmake --build /build --target jwtgate \
 && strip /build/jwtgate \
 && /build/jwtgate version

FROM debian:12-slim
# The libraries `ldd jwtgate` lists, by their Debian 12 package: libssl3 (libcrypto),
# libsimdjson14, libuv1, libyaml-cpp0.7; libstdc++6, libgcc-s1 and libc6 are already in the
# base image. Plus libcurl4, which ldd does not list: jwtgate loads libcurl.so.4 at run time
# when a remote key provider is configured (it brings nghttp2, libssh2, krb5, ldap, ...).
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      libcurl4 libssl3 libsimdjson14 libuv1 libyaml-cpp0.7 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && groupadd --system --gid 65532 jwtgate \
 && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin jwtgate \
 && mkdir -p /etc/jwtgate
# The CA bundle for remote keys (jwks_uri, discovery): libcurl's default path on Debian.
# Copied from the build stage instead of installing ca-certificates, which would also install
# the openssl command; rebuild the image to pick up CA updates (or set a provider's ca_file).
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /build/jwtgate /usr/local/bin/jwtgate

# Nothing is written at run time except to stdout (access log) and stderr (diagnostics), so
# the container runs with a read-only root filesystem and needs no writable volume.
USER 65532:65532
# 8080: traffic (`listen`). 9901: the admin listener (`admin.listen`: /metrics, /healthz,
# /readyz). Probes come from outside the container, so a config meant for a container sets
# `admin.listen: 0.0.0.0:9901`, not a loopback address.
EXPOSE 8080 9901
# No HEALTHCHECK: it would need an HTTP client (curl, wget) inside the image, which the image
# deliberately does not have. Kubernetes probes /healthz and /readyz from the kubelet
# (deploy/kubernetes/deployment.yaml); with plain Docker, probe port 9901 from the host.
# SIGTERM (docker stop, Kubernetes) starts the graceful shutdown: timeouts.shutdown_grace,
# then timeouts.drain; give the container more than their sum before it is killed.
ENTRYPOINT ["/usr/local/bin/jwtgate"]
CMD ["serve", "--config", "/etc/jwtgate/config.yaml"]

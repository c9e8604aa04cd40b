# jwtgate container image: built on Debian 12 with the project's own install script, run on
# Debian 12 slim with only the runtime libraries, as a non-root user.

FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN ./scripts/install-deps.sh build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DJWTGATE_TESTS=OFF -DJWTGATE_BENCH=OFF \
 && cmake --build /build --target jwtgate \
 && strip /build/jwtgate

FROM debian:12-slim
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      libuv1 libssl3 libsimdjson14 libyaml-cpp0.7 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin jwtgate
COPY --from=build /build/jwtgate /usr/local/bin/jwtgate
COPY config.example.yaml /etc/jwtgate/config.yaml
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/jwtgate"]
CMD ["--config", "/etc/jwtgate/config.yaml"]

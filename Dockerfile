# propertyd image: `docker build -t propertyd .` (or `docker-compose build`).
# Stage 1 builds with Debian's -dev packages; stage 2 carries only the runtime libraries.
# One image, three programs in /usr/local/bin: propertyd (the entrypoint), propgate (the
# gateway; docker-compose.yml runs it from this image with its own entrypoint) and propctl
# (the client the health checks use).

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libnng-dev libprotobuf-c-dev protobuf-c-compiler \
      protobuf-compiler libpq-dev libhiredis-dev libevent-dev libjansson-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Only the folders the shipped programs are made of (PD_SUBDIRS), and only those programs:
# tests and benchmarks are CI's business, not the image's.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      "-DPD_SUBDIRS=src/base;src/obs;src/rpc;src/property;src/store;src/cache;src/events;src/app;src/gate;clients/common;clients/sub;clients/propctl" \
 && cmake --build build --target propertyd propgate propctl -j"$(nproc)" \
 && strip --strip-debug build/bin/propertyd build/bin/propgate build/bin/propctl

FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libnng1 libprotobuf-c1 libpq5 libhiredis0.14 libevent-core-2.1-7 libjansson4 libssl3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin propertyd
COPY --from=build /src/build/bin/propertyd /src/build/bin/propgate /src/build/bin/propctl \
     /usr/local/bin/
USER propertyd
# Listen on every interface inside the container; override any of them with -e.
ENV RPC_URL=tcp://0.0.0.0:7700 \
    EVENTS_URL=tcp://0.0.0.0:7701 \
    HTTP_ADDR=0.0.0.0:7702
EXPOSE 7700 7701 7702
# propertyd's own check; the gateway's service in docker-compose.yml sets its own.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["propctl", "health", "--url", "tcp://127.0.0.1:7700"]
# propertyd drains on SIGTERM (at most 10 s); give `docker stop -t 15` or compose's
# stop_grace_period room for it.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/propertyd"]

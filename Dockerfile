# precis: the GitHub App server (and the CLI) in a container.
#   docker build -t precis .                          # CPU image
#   docker build -t precis --build-arg DEVICE=cuda .  # NVIDIA GPU image
#   docker build -t precis --build-arg FETCH_MODEL=true .  # runtime and model baked in
# Without FETCH_MODEL, the first start provisions ONNX Runtime and the model
# (through pip) into the cache volume, and later starts reuse it.
ARG DEVICE=cpu

FROM rust:1.95-slim-bookworm AS build
# Debian's stable packages; pinning their exact versions would break with every security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY models ./models
RUN cargo build --release --locked --bin precis \
    && install -m 0755 target/release/precis /usr/local/bin/precis

FROM debian:bookworm-slim AS base-cpu

# The GPU build of ONNX Runtime brings its CUDA libraries as wheels; the base
# only needs the driver's user-space side, which the NVIDIA runtime mounts.
FROM nvidia/cuda:13.0.0-base-ubuntu24.04 AS base-cuda

# hadolint ignore=DL3006
FROM base-${DEVICE}
ARG DEVICE
ARG FETCH_MODEL=false
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl python3 python3-pip libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 precis \
    && mkdir -p /data /home/precis/.cache/precis \
    && chown -R precis:precis /data /home/precis/.cache
COPY --from=build /usr/local/bin/precis /usr/local/bin/precis
USER 10001
# pip installs only into precis's own cache folders (--target), never the system.
ENV XDG_CACHE_HOME=/home/precis/.cache \
    PIP_BREAK_SYSTEM_PACKAGES=1 \
    PRECIS_DATA_DIR=/data \
    PRECIS_LISTEN=0.0.0.0:8080 \
    PRECIS_DEVICE=${DEVICE}
RUN if [ "$FETCH_MODEL" = "true" ]; then precis setup --device "$DEVICE"; fi
VOLUME ["/data", "/home/precis/.cache/precis"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s CMD ["curl", "-fsS", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["precis"]
CMD ["serve"]

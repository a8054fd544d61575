# syntax=docker/dockerfile:1.7
# natsguard container image: a static release binary on distroless "static" (CA roots, /etc/passwd
# with the nonroot user 65532, tzdata; no shell, no package manager, no libc).
#
#   docker build -t natsguard:dev .
#
# The build stage runs hack/build-static.sh, the same script CI runs without a container engine, so
# the image and CI build the binary the same way (musl target, --locked) and both verify that it is
# statically linked and that `natsguard version` runs.

ARG RUST_VERSION=1.95.0

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS build
# musl-tools: the musl C compiler that ring's C and assembly need for the musl target.
# file: used by hack/build-static.sh to verify that the binary is static.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools file \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
# The whole tree (minus .dockerignore): Cargo.toml may declare tests, benches and examples whose
# files must exist for the manifest to load.
COPY . .
# The cache mounts keep the registry and target dir between builds; the binary is copied out of the
# cached target dir in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    NATSGUARD_STATIC=musl hack/build-static.sh \
 && install -D -m 0555 target/x86_64-unknown-linux-musl/release/natsguard /out/natsguard

# Pin by digest in production (docker buildx imagetools inspect gcr.io/distroless/static-debian12:nonroot).
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="natsguard" \
      org.opencontainers.image.description="Kubernetes operator and CI gate that keeps NATS client transport security from drifting" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/natsguard /usr/local/bin/natsguard
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/natsguard"]
CMD ["run", "--http-addr", "0.0.0.0:8080", "--log-format", "json"]

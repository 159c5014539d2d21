# syntax=docker/dockerfile:1
# podsec's image: the perf-profile binary on a distroless base (glibc and CA certificates,
# no shell, no package manager), running as the non-root user the Deployment in deploy/base
# names (65532). Build: `docker build -t ghcr.io/podsec/podsec:0.1.0 .`.

FROM docker.io/library/rust:1.89-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --profile perf --locked -p podsec \
 && install -D -m 0755 target/perf/podsec /out/podsec

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="podsec" \
      org.opencontainers.image.description="Kubernetes pod security: Pod Security Standards admission, PodSecurityPolicy revived, Gatekeeper policies, exceptions, NetworkPolicy analysis" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/podsec/podsec"
COPY --from=build /out/podsec /usr/local/bin/podsec
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/podsec"]
CMD ["serve", "--help"]

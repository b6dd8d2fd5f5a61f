# The Stagecoach image: Debian bookworm slim with git, CA certificates and OpenSSL 3, running
# a prebuilt `stagecoach` binary as a non-root user.
#
# The binary is built outside the image (no Rust toolchain in it), as goreleaser-style
# Dockerfiles do: `cargo build --release --locked`, then
#   docker build -t stagecoach .                      # copies target/release/stagecoach
#   docker build --build-arg STAGECOACH_BIN=target/debug/stagecoach -t stagecoach .
# Build it on Debian bookworm (or older glibc) so the binary runs on the image's glibc 2.36.
# CI builds this file with buildah from a debootstrapped base: scripts/check-image.sh.
FROM debian:bookworm-slim

# git2 links the system OpenSSL (libssl3) for HTTPS; git and sh serve health and smoke
# gate commands; CA certificates let both verify github.com.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates git libssl3 \
 && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid, so Kubernetes' runAsNonRoot can check it and fsGroup can match it.
RUN groupadd --gid 10001 stagecoach \
 && useradd --no-log-init --uid 10001 --gid 10001 --home-dir /home/stagecoach --create-home \
      --shell /usr/sbin/nologin stagecoach \
 && install -d -o 10001 -g 10001 -m 0750 /var/cache/stagecoach \
 && install -d -m 0755 /etc/stagecoach

# Must be inside the build context and not excluded by .dockerignore.
ARG STAGECOACH_BIN=target/release/stagecoach
COPY ${STAGECOACH_BIN} /usr/local/bin/stagecoach

LABEL org.opencontainers.image.title="stagecoach" \
      org.opencontainers.image.description="GitOps promotion bot: component PR → product → CI → staging → canary → prod"

USER 10001:10001
WORKDIR /home/stagecoach
# git.cache_dir: clones and the ETag cache; safe to lose.
VOLUME ["/var/cache/stagecoach"]
# server.listen must be 0.0.0.0:8080 in the mounted stagecoach.yaml (webhooks, probes, metrics).
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/stagecoach"]
CMD ["serve", "--config", "/etc/stagecoach/stagecoach.yaml"]

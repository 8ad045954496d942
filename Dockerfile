# Gatehouse container image (README "Run it in a container").
#   podman build --format docker -t registry.example.com/you/gatehouse:0.1.0 .
#   docker build -t registry.example.com/you/gatehouse:0.1.0 .
# (podman: --format docker keeps HEALTHCHECK, which the OCI image format has no field for.)
#
# BASE: any Debian bookworm image with node and npm of a supported line in PATH (README
# "Supported runtimes"); the default is the current LTS. The test (test/image.test.ts) swaps in
# a base it builds locally, since no container registry is reachable there.
ARG BASE=node:24-bookworm-slim

# --- build: every dependency, compile, then drop the dev dependencies ---
FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# The npm cache survives between builds (BuildKit and buildah both keep cache mounts).
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json ./
# The importer's --compare makes its throwaway CA with scripts/certs.mjs (dist imports it).
COPY scripts/certs.mjs scripts/certs.d.mts ./scripts/
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# --- runtime: production dependencies and dist only ---
FROM ${BASE}
# jemalloc hands back what a storm of reconnects allocated; glibc's malloc keeps it (README
# "Memory after connection storms").
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjemalloc2 \
 && rm -rf /var/lib/apt/lists/*
# A fixed non-root uid/gid (the Kubernetes Deployment's runAsUser) so volume ownership is predictable.
RUN groupadd --system --gid 10001 gatehouse \
 && useradd --system --uid 10001 --gid gatehouse --home-dir /var/lib/gatehouse --no-create-home --shell /usr/sbin/nologin gatehouse \
 && mkdir -p /etc/gatehouse/config /etc/gatehouse/tls /var/lib/gatehouse \
 && chown gatehouse:gatehouse /var/lib/gatehouse
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY scripts/healthcheck.mjs ./scripts/
COPY scripts/certs.mjs ./scripts/
# `gatehouse schema` takes each key's description from README's reference tables.
COPY README.md ./
ENV NODE_ENV=production \
    LD_PRELOAD=libjemalloc.so.2 \
    GATEHOUSE_CONFIG=/etc/gatehouse/config/gatehouse.yaml
# Config (read-only), certificates (read-only; mount the directory, so renewals are seen), and
# tls.acme storage (writable by uid 10001).
VOLUME ["/etc/gatehouse/config", "/etc/gatehouse/tls", "/var/lib/gatehouse"]
USER gatehouse:gatehouse
# Ports as non-root: the config listens on 443 and 80 itself and the runtime lowers the
# container's net.ipv4.ip_unprivileged_port_start (compose `sysctls`, `run --sysctl`, Kubernetes
# securityContext.sysctls; Docker sets 0 already). Publish them 1:1: plain-HTTP redirects name
# the first listen.https port, so 443 published onto 8443 would send clients to :8443. Not
# setcap on node: it would grant every script node runs, and no_new_privs (Kubernetes
# allowPrivilegeEscalation: false, compose no-new-privileges) ignores file capabilities.
EXPOSE 443 80
# GET /healthz on the admin listener the config names (listen.admin; set it, e.g. 127.0.0.1:9901:
# the check runs inside the container), or on $GATEHOUSE_HEALTHZ. 503 while starting or draining.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 CMD ["node", "/app/scripts/healthcheck.mjs"]
# SIGTERM drains (in-flight requests finish, WebSockets get timeouts.drain, exit 0). The stop
# timeout is the runtime's, not the image's: give it more than timeouts.drain (default 30s),
# e.g. docker/podman run --stop-timeout 45, compose stop_grace_period: 45s, Kubernetes
# terminationGracePeriodSeconds: 45 — the runtimes' default of 10 s SIGKILLs a drain half-way.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/dist/cli.js"]

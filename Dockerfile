# The gateway's container image. Build stage: npm ci, compile gateway/ to JavaScript, install production
# dependencies only (deploy/docker/build-app.sh, which CI runs too: .ci/build-image.sh). Runtime: slim Node 24,
# the compiled output and production node_modules, a non-root user, nothing written to the root filesystem.
#   docker build -t mcp-edge/gateway .
#   docker run --read-only --tmpfs /tmp -v ./gateway.yaml:/etc/mcp-gateway/gateway.yaml:ro -p 8080:8080 mcp-edge/gateway

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY . .
RUN bash deploy/docker/build-app.sh /app

FROM node:24-bookworm-slim
ENV NODE_ENV=production
# Two glibc malloc arenas instead of one per thread: ≈ 10 MB less RSS under load (docs/design/memory.md).
ENV MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build --chown=root:root /app /app
# The image's `node` user, by number (Kubernetes runAsNonRoot checks a numeric uid); the app stays root-owned.
USER 1000:1000
# MCP port and admin port (healthz, readyz, metrics, config); set admin.host 0.0.0.0 and admin.port 9090 in the config.
EXPOSE 8080 9090
# Liveness from inside the container: the admin listener on loopback.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.MCP_GATEWAY_ADMIN_PORT||9090)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# SIGTERM drains: stop accepting, finish requests in flight (admin.drainTimeoutMs), close streams, exit 0.
STOPSIGNAL SIGTERM
# `run` re-executes itself once with its V8 heap defaults (gateway/src/heap-defaults.ts) unless NODE_OPTIONS or
# the command line size the heap; MCP_GATEWAY_HEAP_DEFAULTS=off turns that off.
ENTRYPOINT ["node", "/app/gateway/dist/cli.js"]
CMD ["--config", "/etc/mcp-gateway/gateway.yaml"]

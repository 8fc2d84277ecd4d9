# syntax=docker/dockerfile:1
# The k8s-auto-updater image: a builder stage bundles the CLI with esbuild (scripts/build.ts); the runtime stage
# holds only Node, bin/, dist/ and package.json (no node_modules), runs as numeric non-root 65532 and works with a
# read-only root filesystem (the chart mounts an emptyDir at /tmp).
#
# Base: the official Node image, Debian 12 slim, pinned to an exact Node release (Dependabot's docker ecosystem
# proposes bumps). Chosen over gcr.io/distroless/nodejs24-debian12 because the entrypoint is `node` on PATH (distroless
# puts it at /nodejs/bin/node) and a shell in the image helps `kubectl debug`; npm, npx and yarn are removed from the
# runtime stage so the scanner sees only what runs. Swapping to distroless needs only the ENTRYPOINT path changed.
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Install scripts are not needed: esbuild ships its binary as an optional dependency.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY bin ./bin
COPY lib ./lib
COPY scripts/build.ts ./scripts/build.ts
RUN node scripts/build.ts \
 && rm -rf node_modules \
 && node bin/k8s-auto-updater.js --version

FROM ${NODE_IMAGE}
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="k8s-auto-updater" \
      org.opencontainers.image.description="Kubernetes CronJob that restarts pods whose image tag now points to a new digest, safely (Eviction API, PDBs honoured)." \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/k8s-auto-updater/k8s-auto-updater" \
      org.opencontainers.image.documentation="https://github.com/k8s-auto-updater/k8s-auto-updater/tree/main/docs" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}"
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
           /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg
# HOME: user 65532 has no passwd entry, and os.homedir() (for ~/.kube/config) must not fail; /tmp is writable.
# NODE_COMPILE_CACHE: V8 code cache of the bundle, warmed below at build time, read-only at run time: each CronJob
# run is a fresh process, and compiling the bundle is most of its start-up. No --enable-source-maps: it would parse
# the source map (12 MiB) at every start.
# MALLOC_ARENA_MAX and --max-semi-space-size: see scripts/runtime-flags.ts (the benchmark runs with the same).
ENV NODE_ENV=production \
    HOME=/tmp \
    NODE_COMPILE_CACHE=/app/.compile-cache \
    MALLOC_ARENA_MAX=2
WORKDIR /app
# Root-owned and not writable by the runtime user.
COPY --from=build /src/package.json /app/package.json
COPY --from=build /src/bin /app/bin
COPY --from=build /src/dist /app/dist
RUN node /app/bin/k8s-auto-updater.js --version && node /app/bin/k8s-auto-updater.js status --schedule '@hourly' >/dev/null \
 && chmod -R a+rX /app/.compile-cache
USER 65532:65532
ENTRYPOINT ["node", "--max-semi-space-size=1", "/app/bin/k8s-auto-updater.js"]
CMD ["run"]

# The Gatehouse gateway image: dependencies installed and the runtime bundle built in one stage, run from a slim one as
# an unprivileged user. The entrypoint is `gatehouse serve`, the command the tests run (test/deploy.test.ts checks it).
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Native modules (better-sqlite3, libpg-query) compile when no prebuilt binary matches the platform.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY scripts ./scripts
COPY src ./src
# `prepare` builds the console bundle and the CLI's runtime bundle (dist/), so nothing is compiled at start-up.
RUN npm ci --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
USER node
# admin.listen must be 0.0.0.0:7070 in the container's config for the health check and for probes from outside.
EXPOSE 7070
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:7070/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/gatehouse.js", "serve"]
CMD ["--config", "/etc/gatehouse/gatehouse.yaml"]

# One image for the api, the agents and the simulated boards (the command
# picks which). Three stages: build (all dependencies, compile to dist/),
# then prune the development dependencies, then a runtime stage holding only
# dist/, bin/, the migrations and production node_modules, run as the
# unprivileged `node` user. test/e2e/container-build.test.ts performs these
# same steps as shell commands (Docker does not run on CI), so keep the
# stages to WORKDIR, ENV, COPY, RUN, USER, EXPOSE, HEALTHCHECK and CMD.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Dependencies first, so a source change reuses the cached install layer.
# npm ci's `prepare` generates the Prisma client (prisma.config.ts and
# scripts/db keep the Prisma CLI from downloading an engine).
COPY package.json package-lock.json .npmrc prisma.config.ts ./
COPY scripts ./scripts
COPY prisma ./prisma
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
COPY --from=build /app/prisma ./prisma
# Firmware, the embedded database (when DATABASE_URL is unset) and the
# agent's firmware cache live in /data; mount a volume there.
ENV FLASHFARM_DATA_DIR=/data
RUN mkdir -p /data && chown node:node /data
USER node
# The api listens on every interface of the container; 8080 unless FLASHFARM_PORT says otherwise.
ENV FLASHFARM_HOST=0.0.0.0
EXPOSE 8080
# The api's own readiness (database and Redis answer). Agents have no HTTP
# port: docker-compose.yml turns this check off for them.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.FLASHFARM_PORT || 8080}/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/apps/api/src/main.js"]

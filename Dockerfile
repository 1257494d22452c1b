# keyturn: multi-stage build on the current Node LTS; runs as the non-root `node` user.
ARG NODE_IMAGE=node:lts-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 compiles from source where no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild better-sqlite3
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
RUN npx tsc -p tsconfig.json
RUN npm prune --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    KEYTURN_HOST=0.0.0.0 \
    KEYTURN_PORT=3000 \
    KEYTURN_KEYS_DIR=/var/lib/keyturn/keys \
    KEYTURN_DATA_DIR=/var/lib/keyturn/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
RUN mkdir -p /var/lib/keyturn/keys /var/lib/keyturn/data && chown -R node:node /var/lib/keyturn && chmod 700 /var/lib/keyturn/keys
USER node
VOLUME ["/var/lib/keyturn/keys", "/var/lib/keyturn/data"]
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.KEYTURN_PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The same start command as `npm start` and the end-to-end tests.
CMD ["node", "dist/src/server.js"]

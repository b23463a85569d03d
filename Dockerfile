# One image for every certctl service; the command picks the app:
#   docker run certctl api | orchestrator | notifier | scanner | responder | migrate
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY apps apps
COPY libs libs
COPY scripts scripts
COPY bench bench
RUN npm run build
RUN npm run build:agent

FROM node:20-bookworm-slim AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# The agent alone, one bundled file and no node_modules: `docker build --target agent -t certctl-agent .`
# It deploys to files and runs reload commands, so it runs beside the server it serves (same volumes, same PID
# namespace for a signal-based reload); keys and the journal live in the /var/lib/certctl volume.
FROM node:20-bookworm-slim AS agent
ENV NODE_ENV=production \
    CERTCTL_KEY_DIR=/var/lib/certctl/keys \
    CERTCTL_AGENT_STATE_DIR=/var/lib/certctl/agent
COPY --from=build /src/dist/agent/certctl-agent.js /usr/local/lib/certctl/certctl-agent.js
RUN mkdir -p /var/lib/certctl && chown node:node /var/lib/certctl && chmod 0700 /var/lib/certctl
USER node
VOLUME /var/lib/certctl
ENTRYPOINT ["node", "/usr/local/lib/certctl/certctl-agent.js"]

# The default target (last stage): the platform image.
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    CERTCTL_SERVER_HOST=0.0.0.0 \
    CERTCTL_LOG_FORMAT=json
WORKDIR /app
COPY --from=prod-deps /src/node_modules node_modules
COPY --from=build /src/dist dist
COPY package.json docker-entrypoint.sh ./
# The node user (uid 1000) owns nothing it could change; the root filesystem can be mounted read-only.
USER node
EXPOSE 8080 8081 8082 8083 8084
ENTRYPOINT ["./docker-entrypoint.sh"]
CMD ["api"]

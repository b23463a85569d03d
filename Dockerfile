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

FROM node:20-bookworm-slim AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

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

# The gateway as a container: compiled at build (npm ci runs the build, codegen and the embedded
# database's prepared image), run as plain Node.js. Build: docker build -t confighub .
# Run (embedded database in a volume): docker run -p 4000:4000 -v confighub-data:/data confighub
# Run (PostgreSQL and NATS): see deploy/compose.yaml and deploy/kubernetes/confighub.yaml.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production PORT=4000 HOST=0.0.0.0 CONFIGHUB_DATA_DIR=/data LOG_LEVEL=info
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma ./prisma
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/health`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--no-warnings", "dist/main.js"]

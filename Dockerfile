# One image for every Herald process; docker-compose.yml picks the process with `command`.
# Stage 1 installs everything and compiles; stage 2 keeps production dependencies and the
# compiled output only, and runs as the unprivileged `node` user.

FROM node:20-bookworm-slim AS build
RUN npm install -g pnpm@12.21.0
WORKDIR /app
COPY . .
RUN pnpm install --frozen-lockfile
RUN pnpm build
# Drop the dev dependencies (compiler, test runner) before the runtime stage copies the tree.
RUN rm -rf node_modules apps/*/node_modules packages/*/node_modules \
 && pnpm install --frozen-lockfile --prod

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app /app
USER node
EXPOSE 3000 3001 3002
CMD ["node", "apps/ingress/dist/main.js"]

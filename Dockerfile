# One image for every Herald process; docker-compose.yml picks the process with `command`.
# Stage 1 installs everything and compiles; stage 2 keeps production dependencies and the
# compiled output only, and runs as the unprivileged `node` user.
# Node 24 is an LTS line (maintained to April 2028); Herald also runs on 20, 22 and 26.

FROM node:24-bookworm-slim AS build
RUN npm install -g pnpm@12.21.0
WORKDIR /app
# The dependencies come from the lockfile alone (`pnpm fetch` reads no package.json), so this
# layer is rebuilt only when pnpm-lock.yaml changes, not on every source edit.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch
COPY . .
RUN pnpm install --frozen-lockfile --offline
RUN pnpm build
# Drop the dev dependencies (compiler, test runner) before the runtime stage copies the tree.
RUN rm -rf node_modules apps/*/node_modules packages/*/node_modules \
 && pnpm install --frozen-lockfile --offline --prod

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app /app
USER node
EXPOSE 3000 3001 3002
CMD ["node", "apps/ingress/dist/main.js"]

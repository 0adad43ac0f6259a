# One image for the api and the agent (the command picks which).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY prisma.config.ts ./
RUN npm install --no-audit --no-fund
COPY . .
RUN npx prisma generate
EXPOSE 8080
CMD ["node", "--import", "./scripts/register-ts.mjs", "apps/api/src/main.ts"]

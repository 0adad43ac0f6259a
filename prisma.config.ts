import path from 'node:path';
import { defineConfig } from 'prisma/config';

// Prisma's CLI looks for its native schema engine before every command and
// tries to download it when missing, which cannot work offline. Our stand-in
// (backed by Prisma's own WebAssembly engine) answers instead.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.join(
  import.meta.dirname,
  'scripts/db/schema-engine-shim.mjs',
);

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost/flashfarm' },
});

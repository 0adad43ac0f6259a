#!/usr/bin/env node
// Stands where Prisma's CLI expects its native schema engine, so that the CLI
// does not try to download one (impossible offline). `prisma generate` only
// checks that this file exists. Migrations go through our WebAssembly-backed
// migrator instead of `prisma migrate`.
process.stderr.write(
  'flashfarm runs migrations without the native schema engine: use `npm run db:migrate`, `npm run db:migrate:dev -- --name X` or `npm run db:status`.\n',
);
process.exit(1);

// npm's `prepare`, after every `npm install` / `npm ci` in a checkout (never
// where the packed package is installed): generates the Prisma client, then
// builds dist/ when the sources are there (the Dockerfile's dependency layer
// has none yet and builds later), so `npm run demo`, `npm run start:*` and
// bin/flashfarm.js start compiled code on a fresh clone. A build that fails
// here only warns: from a checkout everything also runs from source. Shipped
// in the package so that an install which does run it finds a no-op.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const node = (script) => spawnSync(process.execPath, [script], { stdio: 'inherit' }).status ?? 1;

const generated = node('scripts/prisma-generate.mjs');
if (generated !== 0) process.exit(generated);
if (existsSync('apps/api/src/main.ts') && node('scripts/build.mjs') !== 0)
  process.stderr.write('prepare: npm run build failed; the programs run from source until it succeeds\n');

// Generates the Prisma client (npm's `prepare` runs this after every
// `npm install` / `npm ci` in a checkout; the generated code is not
// committed; npm run build compiles it into dist/). prisma.config.ts points the CLI at our
// WebAssembly-backed schema engine stand-in, so nothing is downloaded.
// npm never runs `prepare` where the package is installed from its tarball
// (npm install -g flashfarm-*.tgz): dist/ there already holds the client.
// Without prisma.config.ts or the prisma CLI there is nothing to do.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const cli = 'node_modules/prisma/build/index.js';
const checkout = ['prisma/schema.prisma', 'prisma.config.ts'].every((f) => existsSync(f));
if (!checkout || !existsSync(cli)) process.exit(0);
const result = spawnSync(process.execPath, [cli, 'generate'], { stdio: 'inherit' });
process.exit(result.status ?? 1);

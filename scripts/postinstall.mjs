// Generates the Prisma client after every install in a checkout (the
// generated code is not committed). prisma.config.ts points the CLI at our
// WebAssembly-backed schema engine stand-in, so nothing is downloaded.
// An installed package (npm install -g flashfarm-*.tgz) or a production
// install (--omit=dev) has neither the schema's generator nor the prisma CLI:
// its dist/ already holds the compiled client, so there is nothing to do.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const cli = 'node_modules/prisma/build/index.js';
if (!existsSync('prisma/schema.prisma') || !existsSync(cli)) process.exit(0);
const result = spawnSync(process.execPath, [cli, 'generate'], { stdio: 'inherit' });
process.exit(result.status ?? 1);

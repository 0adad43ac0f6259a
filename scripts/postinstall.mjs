// Generates the Prisma client after every install (the generated code is not
// committed). prisma.config.ts points the CLI at our WebAssembly-backed schema
// engine stand-in, so nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

if (!existsSync('prisma/schema.prisma')) process.exit(0);
const result = spawnSync(process.execPath, ['node_modules/prisma/build/index.js', 'generate'], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);

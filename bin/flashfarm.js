#!/usr/bin/env node
// The `flashfarm` command. It runs the TypeScript sources through the swc
// module hooks (no build step), then hands over to apps/cli/src/main.ts.
import { register } from 'node:module';

register('../scripts/ts-hooks.mjs', import.meta.url);
const { main } = await import('../apps/cli/src/main.ts');
const code = await main(process.argv.slice(2));
process.exit(code);

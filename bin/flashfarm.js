#!/usr/bin/env node
// The `flashfarm` command. It runs the TypeScript sources through the swc
// module hooks (no build step), then hands over to apps/cli/src/main.ts.
import { register } from 'node:module';

register('../scripts/ts-hooks.mjs', import.meta.url);
const { main } = await import('../apps/cli/src/main.ts');
const code = await main(process.argv.slice(2), {
  // `flashfarm token …` on the database is the api's code (its configuration and database layer).
  // Apps never import each other, so it is wired in here, and loaded only when used.
  databaseTokenCli: async (argv, io) =>
    (await import('../apps/api/src/cli/token-cli.ts')).runTokenCli(argv, io),
});
process.exit(code);

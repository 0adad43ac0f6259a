#!/usr/bin/env node
// The `flashfarm` command: apps/cli, compiled (dist/) or, in a repository
// checkout without a current build, from the TypeScript sources (bin/launch.js).
import { launch } from './launch.js';

const { main } = await launch('cli');
const code = await main(process.argv.slice(2), {
  // `flashfarm token …` on the database is the api's code (its configuration and database layer).
  // Apps never import each other, so it is wired in here, and loaded only when used.
  databaseTokenCli: async (argv, io) => (await launch('token-cli')).runTokenCli(argv, io),
  // `flashfarm agent doctor` checks a host with the agent's own configuration code, wired in the same way.
  agentDoctor: async (argv, io) => (await launch('agent-doctor')).runAgentDoctor(argv, io),
});
process.exit(code);

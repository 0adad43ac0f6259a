#!/usr/bin/env node
// The `flashfarm` command: apps/cli, compiled (dist/) or, in a repository
// checkout without a current build, from the TypeScript sources (bin/launch.js).
import { launch } from './launch.js';

const { main } = await launch('cli');
const code = await main(process.argv.slice(2));
process.exit(code);

/**
 * Jest global set-up and teardown (loaded by global-setup.mjs): starts a real redis-server and a real PostgreSQL
 * server once per run (only when a tier that needs them is selected) and
 * migrates the template database suites clone; creates and removes the run's
 * scratch directory (scratch.ts).
 */
import { Migrator } from '../../apps/api/src/db/migrator.js';
import { createScratchRoot, removeScratchRoot } from './scratch.js';
import { SERVICES_ENV, startServices, type RunningServices } from './services.js';

const TIERS_WITH_SERVICES = ['integration', 'e2e', 'browser'];

declare global {
  var __flashfarmServices: RunningServices | undefined;
}

/** The projects named after --selectProjects on Jest's command line (empty: all). */
function selectedProjects(argv: string[]): string[] {
  const at = argv.indexOf('--selectProjects');
  if (at < 0) return [];
  const names: string[] = [];
  for (const arg of argv.slice(at + 1)) {
    if (arg.startsWith('-')) break;
    names.push(arg);
  }
  return names;
}

/** Starts the services when a tier that needs them is selected. */
export async function setup(): Promise<void> {
  createScratchRoot();
  const selected = selectedProjects(process.argv);
  if (selected.length > 0 && !selected.some((p) => TIERS_WITH_SERVICES.includes(p))) return;
  const services = await startServices(async (url) => {
    const migrator = await Migrator.forPostgres(url);
    try {
      await migrator.deploy();
    } finally {
      await migrator.close();
    }
  });
  globalThis.__flashfarmServices = services;
  process.env[SERVICES_ENV] = JSON.stringify({
    redisUrl: services.redisUrl,
    postgresAdminUrl: services.postgresAdminUrl,
    templateDatabase: services.templateDatabase,
  });
}

/** Stops the services setup() started. */
export async function teardown(): Promise<void> {
  try {
    await globalThis.__flashfarmServices?.stop();
  } finally {
    removeScratchRoot();
  }
}

// npm run db:migrate | db:migrate:dev -- --name X | db:status
// Uses DATABASE_URL when set, otherwise the embedded PGlite database in
// FLASHFARM_DATA_DIR (default ./.flashfarm), like the api.
import { parseArgs } from 'node:util';
import path from 'node:path';
import fs from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { Migrator } from '../apps/api/src/db/migrator.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { name: { type: 'string' }, force: { type: 'boolean' } },
});
const command = positionals[0];
const url = process.env.DATABASE_URL;
let pglite: PGlite | undefined;

async function open(): Promise<Migrator> {
  if (url) return Migrator.forPostgres(url);
  const dir = path.resolve(process.env.FLASHFARM_DATA_DIR ?? '.flashfarm', 'pglite');
  fs.mkdirSync(dir, { recursive: true });
  console.error(`DATABASE_URL is not set: using the embedded database in ${dir}`);
  pglite = await PGlite.create({ dataDir: dir });
  return Migrator.forPglite(pglite);
}

async function main(): Promise<number> {
  if (!['deploy', 'dev', 'status', 'reset'].includes(command ?? '')) {
    console.error('usage: migrate deploy | dev --name NAME | status | reset --force');
    return 2;
  }
  const migrator = await open();
  try {
    switch (command) {
      case 'deploy': {
        const applied = await migrator.deploy();
        console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'No pending migrations.');
        return 0;
      }
      case 'dev': {
        if (!values.name) {
          console.error('db:migrate:dev needs a name: npm run db:migrate:dev -- --name add_something');
          return 2;
        }
        await migrator.deploy();
        const folder = await migrator.create(values.name);
        if (!folder) {
          console.log('schema.prisma and prisma/migrations agree: nothing to create.');
          return 0;
        }
        console.log(`Created prisma/migrations/${folder}/migration.sql`);
        await migrator.deploy();
        return 0;
      }
      case 'status': {
        const status = await migrator.status();
        const drift = await migrator.drift();
        console.log(JSON.stringify({ ...status, schemaDrift: drift !== '' }, null, 2));
        if (drift)
          console.error(
            'schema.prisma has changes without a migration: npm run db:migrate:dev -- --name <what>',
          );
        return status.upToDate && !drift ? 0 : 1;
      }
      case 'reset': {
        if (!values.force) {
          console.error('reset drops every table and row: pass --force');
          return 2;
        }
        await migrator.reset();
        console.log('Database reset and migrated.');
        return 0;
      }
      default:
        return 2;
    }
  } finally {
    await migrator.close();
    await pglite?.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);

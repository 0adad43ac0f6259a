/**
 * What makes an api start on a database cheap: the check that every
 * migration is already applied (so the schema engine is not loaded), against
 * a real PostgreSQL server, and the migrated PGlite template that a new
 * embedded data directory starts from.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { defaultMigrationPaths, migrationsUpToDate, type RowQuery } from '../../apps/api/src/db/migrator.js';
import {
  loadPgliteTemplate,
  migrationsKey,
  writePgliteTemplate,
} from '../../apps/api/src/db/pglite-template.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { scratchDir } from '../support/scratch.js';

describe('migrationsUpToDate on PostgreSQL', () => {
  let database: TestDatabase;
  let client: pg.Client;
  const rows: RowQuery = async (sql) => (await client.query<Record<string, unknown>>(sql)).rows;

  beforeAll(async () => {
    database = await createTestDatabase();
    client = new pg.Client({ connectionString: database.url });
    await client.connect();
  });

  afterAll(async () => {
    await client.end();
    await database.drop();
  });

  it('is true on a database with every migration applied, false once one is edited, pending or failed', async () => {
    expect(await migrationsUpToDate(rows)).toBe(true);
    const [first] = (await rows(
      'SELECT migration_name, checksum FROM _prisma_migrations ORDER BY 1',
    )) as Array<{
      migration_name: string;
      checksum: string;
    }>;
    await client.query('UPDATE _prisma_migrations SET checksum = $1 WHERE migration_name = $2', [
      'edited',
      first.migration_name,
    ]);
    expect(await migrationsUpToDate(rows)).toBe(false);
    await client.query(
      'UPDATE _prisma_migrations SET checksum = $1, finished_at = NULL WHERE migration_name = $2',
      [first.checksum, first.migration_name],
    );
    expect(await migrationsUpToDate(rows)).toBe(false);
    await client.query('DELETE FROM _prisma_migrations WHERE migration_name = $1', [first.migration_name]);
    expect(await migrationsUpToDate(rows)).toBe(false);
    await client.query('DROP TABLE _prisma_migrations');
    expect(await migrationsUpToDate(rows)).toBe(false);
  });
});

describe('the PGlite template', () => {
  it('is made from the migrations, starts a new data directory migrated, and is refused for other migrations', async () => {
    const dir = scratchDir('pglite-template');
    const bytes = await writePgliteTemplate(dir);
    expect(bytes).toBeGreaterThan(0);
    const key = JSON.parse(fs.readFileSync(path.join(dir, 'pglite-template.json'), 'utf8')) as {
      migrations: string;
    };
    expect(key.migrations).toBe(migrationsKey());

    const template = loadPgliteTemplate(defaultMigrationPaths(), [dir]);
    expect(template).toBeDefined();
    const dataDir = path.join(scratchDir('pglite-from-template'), 'pglite');
    const db = await PGlite.create({ dataDir, loadDataDir: template });
    try {
      const rows: RowQuery = async (sql) => (await db.query<Record<string, unknown>>(sql)).rows;
      expect(await migrationsUpToDate(rows)).toBe(true);
      expect(await rows('SELECT count(*)::int AS n FROM "Device"')).toEqual([{ n: 0 }]);
    } finally {
      await db.close();
    }
    expect(fs.existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(true);

    // Another migrations folder (one more migration) does not match this template.
    const other = scratchDir('other-migrations');
    fs.cpSync(defaultMigrationPaths().migrationsDir, path.join(other, 'migrations'), { recursive: true });
    fs.mkdirSync(path.join(other, 'migrations', '29990101000000_later'));
    fs.writeFileSync(path.join(other, 'migrations', '29990101000000_later', 'migration.sql'), 'SELECT 1;\n');
    const otherPaths = { ...defaultMigrationPaths(), migrationsDir: path.join(other, 'migrations') };
    expect(migrationsKey(otherPaths)).not.toBe(key.migrations);
    expect(loadPgliteTemplate(otherPaths, [dir])).toBeUndefined();
    expect(loadPgliteTemplate(defaultMigrationPaths(), [scratchDir('no-template')])).toBeUndefined();
  }, 240_000);
});

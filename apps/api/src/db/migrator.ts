/**
 * Applies, checks and creates migrations in prisma/migrations, for a
 * PostgreSQL server or an embedded PGlite database, without Prisma's native
 * engine. Used by the api at start-up, by `npm run db:*` and by the tests.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import {
  createSchemaEngine,
  listMigrations,
  MIGRATION_LOCKFILE,
  pgliteAdapterFactory,
  postgresAdapterFactory,
  type EngineAdapter,
  type SchemaEngine,
} from './schema-engine.js';

const FILTERS = { externalTables: [], externalEnums: [] };
const EMPTY_MIGRATION = /^-- This is an empty migration\.?\s*$/;

/** Where the schema and migrations live (the repository root by default). */
export interface MigrationPaths {
  schemaPath: string;
  migrationsDir: string;
}

/** Paths relative to the repository this file is part of. */
export function defaultMigrationPaths(): MigrationPaths {
  const root = path.resolve(import.meta.dirname, '../../../..');
  const base = fs.existsSync(path.join(root, 'prisma'))
    ? root
    : path.resolve(import.meta.dirname, '../../../../..');
  return {
    schemaPath: path.join(base, 'prisma/schema.prisma'),
    migrationsDir: path.join(base, 'prisma/migrations'),
  };
}

/** The state of a database's migration history against prisma/migrations. */
export interface MigrationStatus {
  /** Migrations in the folder not yet applied to the database. */
  pending: string[];
  failed: string[];
  edited: string[];
  /** Applied to the database but missing from the folder. */
  unknown: string[];
  upToDate: boolean;
}

/** Runs one SQL query and returns its rows (a pg client's or a PGlite database's query). */
export type RowQuery = (sql: string) => Promise<Record<string, unknown>[]>;

/**
 * True when the database's `_prisma_migrations` lists exactly the folder's
 * migrations, each finished and with the checksum Prisma records (SHA-256 of
 * its SQL): then there is nothing to apply and the schema engine (0.4 s of
 * CPU and its memory at every api start) need not be loaded. Any doubt (no
 * table, a failed, unknown or edited migration) answers false, and the
 * caller runs the engine, which decides and explains.
 */
export async function migrationsUpToDate(query: RowQuery, paths = defaultMigrationPaths()): Promise<boolean> {
  const folder = new Map(
    listMigrations(paths.migrationsDir).migrationDirectories.map((d) => [
      d.path,
      d.migrationFile.content.tag === 'ok'
        ? createHash('sha256').update(d.migrationFile.content.value).digest('hex')
        : undefined,
    ]),
  );
  let rows: Record<string, unknown>[];
  try {
    rows = await query(
      'SELECT migration_name, checksum, finished_at FROM _prisma_migrations WHERE rolled_back_at IS NULL',
    );
  } catch {
    return false;
  }
  if (rows.length !== folder.size) return false;
  return rows.every(
    (r) =>
      r.finished_at !== null &&
      typeof r.migration_name === 'string' &&
      folder.get(r.migration_name) !== undefined &&
      folder.get(r.migration_name) === r.checksum,
  );
}

/** One engine session over one database; close() when done. */
export class Migrator {
  private constructor(
    private readonly engine: SchemaEngine,
    private readonly adapter: EngineAdapter,
    private readonly paths: MigrationPaths,
  ) {}

  private static async open(adapter: EngineAdapter, paths: MigrationPaths): Promise<Migrator> {
    return new Migrator(await createSchemaEngine(paths.schemaPath, adapter.factory), adapter, paths);
  }

  /** A migrator for a PostgreSQL server at `url`. */
  static forPostgres(url: string, paths = defaultMigrationPaths()): Promise<Migrator> {
    return Migrator.open(postgresAdapterFactory(url), paths);
  }

  /** A migrator for an open PGlite database. */
  static forPglite(db: PGlite, paths = defaultMigrationPaths()): Promise<Migrator> {
    return Migrator.open(pgliteAdapterFactory(db), paths);
  }

  /** Applies every pending migration; returns the names applied. */
  async deploy(): Promise<string[]> {
    const { appliedMigrationNames } = await this.engine.applyMigrations({
      migrationsList: listMigrations(this.paths.migrationsDir),
      filters: FILTERS,
    });
    return appliedMigrationNames;
  }

  /** Compares the database's history with the migrations folder. */
  async status(): Promise<MigrationStatus> {
    const d = await this.engine.diagnoseMigrationHistory({
      migrationsList: listMigrations(this.paths.migrationsDir),
      optInToShadowDatabase: false,
      filters: FILTERS,
    });
    const history = d.history;
    const pending =
      history?.diagnostic === 'databaseIsBehind' || history?.diagnostic === 'historiesDiverge'
        ? history.unappliedMigrationNames
        : [];
    const unknown =
      history?.diagnostic === 'migrationsDirectoryIsBehind' || history?.diagnostic === 'historiesDiverge'
        ? history.unpersistedMigrationNames
        : [];
    return {
      pending,
      failed: d.failedMigrationNames,
      edited: d.editedMigrationNames,
      unknown,
      upToDate: !history && d.failedMigrationNames.length === 0 && d.editedMigrationNames.length === 0,
    };
  }

  /**
   * The SQL that would bring the migrations folder in line with
   * schema.prisma; empty when they agree. A non-empty answer means the
   * schema changed without a migration.
   */
  async drift(): Promise<string> {
    const { stdout } = await this.engine.diff({
      from: { tag: 'migrations', ...listMigrations(this.paths.migrationsDir) },
      to: {
        tag: 'schemaDatamodel',
        files: [{ path: this.paths.schemaPath, content: fs.readFileSync(this.paths.schemaPath, 'utf8') }],
      },
      script: true,
      exitCode: null,
      filters: FILTERS,
    });
    const script = (stdout ?? '').trim();
    return EMPTY_MIGRATION.test(script) ? '' : script;
  }

  /** Writes a new migration for the schema changes, if any; returns its folder name. */
  async create(name: string, now = new Date()): Promise<string | undefined> {
    const slug = name
      .toLowerCase()
      .replace(/[^a-z0-9_]+/g, '_')
      .replace(/^_+|_+$/g, '');
    if (!slug)
      throw new Error(`Migration name "${name}" has no letters or digits; use e.g. --name add_campaigns`);
    const script = await this.drift();
    if (!script) return undefined;
    const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
    const folder = `${stamp}_${slug}`;
    fs.mkdirSync(path.join(this.paths.migrationsDir, folder), { recursive: true });
    fs.writeFileSync(path.join(this.paths.migrationsDir, folder, 'migration.sql'), `${script}\n`);
    fs.writeFileSync(path.join(this.paths.migrationsDir, 'migration_lock.toml'), MIGRATION_LOCKFILE);
    return folder;
  }

  /** Drops everything in the database and applies all migrations again. */
  async reset(): Promise<string[]> {
    await this.engine.reset({ filter: FILTERS });
    return this.deploy();
  }

  /** Releases the engine and its database connections. */
  async close(): Promise<void> {
    this.engine.free();
    await this.adapter.dispose();
  }
}

/**
 * Opens the system of record: a PostgreSQL server when DATABASE_URL is set,
 * otherwise an embedded PGlite database in the data directory. Fails fast
 * with a message naming the variable when the server cannot be reached.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import { PrismaClient } from '../db/generated/prisma/client.js';
import { Migrator, migrationsUpToDate, type RowQuery } from '../db/migrator.js';
import { loadPgliteTemplate } from '../db/pglite-template.js';
import { listenOnPostgres, type NotificationHandlers } from './pg-listener.js';
import type { ApiConfig } from '../config/api-config.js';

const CONNECT_TIMEOUT_MS = 5_000;

/** Why the database could not be opened; the message says what to do. */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';
}

/** An open database: the Prisma client and how to close it. */
export interface Database {
  prisma: PrismaClient;
  kind: 'postgres' | 'embedded';
  /** Runs a trivial query; used by /health. */
  ping(): Promise<void>;
  /** LISTENs on a notification channel until the returned function is called. */
  listen(channel: string, handlers: NotificationHandlers): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Opens (and by default migrates) the configured database. */
export async function openDatabase(
  config: Pick<ApiConfig, 'database' | 'migrateOnStart'>,
  log: (message: string) => void = () => {},
): Promise<Database> {
  if (config.database.kind === 'postgres') {
    const url = config.database.url;
    const where = describeUrl(url);
    const probe = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    let upToDate = false;
    try {
      await probe.connect();
      await probe.query('select 1');
      if (config.migrateOnStart)
        upToDate = await migrationsUpToDate(
          async (sql) => (await probe.query<Record<string, unknown>>(sql)).rows,
        );
    } catch (error) {
      throw new DatabaseUnavailableError(
        `Cannot connect to PostgreSQL at DATABASE_URL (${where}): ${errorText(error)}. Check the server, the credentials and the database name, or unset DATABASE_URL to use the embedded database.`,
      );
    } finally {
      await probe.end().catch(() => undefined);
    }
    if (config.migrateOnStart && !upToDate) await migrate(() => Migrator.forPostgres(url), log);
    const prisma = new PrismaClient({
      adapter: new PrismaPg({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS }),
    });
    return {
      prisma,
      kind: 'postgres',
      ping: async () => {
        await prisma.$queryRaw`select 1`;
      },
      listen: (channel, handlers) => listenOnPostgres(url, channel, handlers),
      close: () => prisma.$disconnect(),
    };
  }

  const dir = config.database.dir;
  fs.mkdirSync(dir, { recursive: true });
  // A new data directory starts as a copy of the migrated template `npm run build` made, when it matches.
  const template = fs.existsSync(path.join(dir, 'PG_VERSION')) ? undefined : loadPgliteTemplate();
  let db: PGlite;
  try {
    db = await PGlite.create({ dataDir: dir, ...(template ? { loadDataDir: template } : {}) });
  } catch (error) {
    throw new DatabaseUnavailableError(
      `Cannot open the embedded database in ${dir}: ${errorText(error)}. Is another flashfarm api using this FLASHFARM_DATA_DIR?`,
    );
  }
  log(`Embedded database (PGlite) in ${dir}${template ? ', created from the migrated template' : ''}`);
  // The embedded database always follows the code's schema: nobody else migrates it.
  const rows: RowQuery = async (sql) => (await db.query<Record<string, unknown>>(sql)).rows;
  if (!(await migrationsUpToDate(rows))) await migrate(() => Migrator.forPglite(db), log);
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db) });
  return {
    prisma,
    kind: 'embedded',
    ping: async () => {
      await prisma.$queryRaw`select 1`;
    },
    // In-process: notifications cannot be lost, so there is never a gap to report.
    listen: async (channel, handlers) => {
      const stop = await db.listen(channel, (payload) => handlers.onMessage(payload));
      return () => stop();
    },
    close: async () => {
      await prisma.$disconnect();
      await db.close();
    },
  };
}

async function migrate(open: () => Promise<Migrator>, log: (message: string) => void): Promise<void> {
  const migrator = await open();
  try {
    const applied = await migrator.deploy();
    if (applied.length) log(`Applied migrations: ${applied.join(', ')}`);
  } finally {
    await migrator.close();
  }
}

function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    return 'unparseable URL';
  }
}

function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code && !error.message.includes(code) ? `${code} ${error.message}` : error.message;
  }
  return String(error);
}

/**
 * Prisma's schema engine as WebAssembly, bound to our driver adapters. The
 * CLI's native engine cannot be downloaded offline; the wasm build of the
 * same engine applies and diffs migrations and keeps Prisma's own
 * `_prisma_migrations` bookkeeping, so databases stay compatible with
 * `prisma migrate deploy` run elsewhere.
 */
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import pg from 'pg';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaPGlite } from 'pglite-prisma-adapter';
import type { PGlite } from '@electric-sql/pglite';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type ErrorCapturingSqlMigrationAwareDriverAdapterFactory as EngineAdapterFactory,
  type SqlQueryable,
} from '@prisma/driver-adapter-utils';
import type * as Wasm from '@prisma/schema-engine-wasm/schema_engine_bg';

const require = createRequire(import.meta.url);

type WasmModule = typeof Wasm;
export type SchemaEngine = Wasm.SchemaEngine;
export type MigrationList = Wasm.MigrationList;

let runtime: Promise<WasmModule> | undefined;

/** Instantiates the wasm engine once per process (Node 20 cannot import .wasm modules directly). */
function loadRuntime(): Promise<WasmModule> {
  const registry = globalThis as {
    PRISMA_WASM_PANIC_REGISTRY?: { message: string; set_message(m: string): void };
  };
  // wasm-bindgen reports panics through this global; without it a panic is an opaque "unreachable".
  registry.PRISMA_WASM_PANIC_REGISTRY ??= {
    message: '',
    set_message(m: string) {
      this.message = `RuntimeError: ${m}`;
    },
  };
  runtime ??= (async () => {
    const mod = await import('@prisma/schema-engine-wasm/schema_engine_bg');
    const wasmPath = path.join(
      path.dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg')),
      'schema_engine_bg.wasm',
    );
    // The engine arms 10 s timers it never clears (connection housekeeping);
    // unref them so a finished migration does not hold the process open.
    const imports: Record<string, unknown> = { ...(mod as unknown as Record<string, unknown>) };
    for (const [name, fn] of Object.entries(imports)) {
      if (name.startsWith('__wbg_setTimeout_') && typeof fn === 'function') {
        imports[name] = (...args: unknown[]) => {
          const timer = (fn as (...a: unknown[]) => unknown)(...args);
          if (timer && typeof (timer as NodeJS.Timeout).unref === 'function')
            (timer as NodeJS.Timeout).unref();
          return timer;
        };
      }
    }
    const instance = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(wasmPath)), {
      './schema_engine_bg.js': imports as WebAssembly.ModuleImports,
    });
    const exports = instance.exports as unknown as { __wbindgen_start(): void };
    (mod as unknown as { __wbg_set_wasm(e: unknown): void }).__wbg_set_wasm(instance.exports);
    exports.__wbindgen_start();
    return mod;
  })();
  return runtime;
}

const PG_CHAR_OID = 18;
const PG_TEXT_OID = 25;

interface PerformIoResult {
  fields?: Array<{ dataTypeID: number }>;
}

/**
 * adapter-pg 7.10 cannot describe PostgreSQL's internal "char" type, which the
 * engine's catalog queries return; report it as text.
 */
function patchCharColumns<T extends SqlQueryable>(queryable: T): T {
  const target = queryable as unknown as { performIO?: (q: unknown) => Promise<PerformIoResult> };
  if (typeof target.performIO === 'function') {
    const original = target.performIO.bind(queryable);
    target.performIO = async (query: unknown) => {
      const result = await original(query);
      for (const field of result?.fields ?? [])
        if (field.dataTypeID === PG_CHAR_OID) field.dataTypeID = PG_TEXT_OID;
      return result;
    };
  }
  return queryable;
}

/**
 * adapter-pg splits scripts on ';' (breaking dollar-quoted bodies) and spreads
 * them over pool connections; PostgreSQL takes a multi-statement string as one
 * simple query, which is what the native engine does.
 */
function patchPgAdapter(adapter: SqlDriverAdapter): SqlDriverAdapter {
  patchCharColumns(adapter);
  const withDriver = adapter as SqlDriverAdapter & {
    underlyingDriver?: () => pg.Pool;
    onError?: (e: unknown) => never;
  };
  if (typeof withDriver.underlyingDriver === 'function') {
    const pool = withDriver.underlyingDriver();
    adapter.executeScript = async (script: string) => {
      try {
        await pool.query(script);
      } catch (error) {
        if (withDriver.onError) withDriver.onError(error);
        throw error;
      }
    };
  }
  const startTransaction = adapter.startTransaction.bind(adapter);
  adapter.startTransaction = async (...args) => patchCharColumns(await startTransaction(...args));
  return adapter;
}

/** pglite-prisma-adapter 0.7.2 does not await script execution, so a failed migration would look applied. */
function patchPgliteAdapter(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const withClient = adapter as SqlDriverAdapter & { client: PGlite; onError?: (e: unknown) => never };
  adapter.executeScript = async (script: string) => {
    try {
      await withClient.client.exec(script);
    } catch (error) {
      if (withClient.onError) withClient.onError(error);
      throw error;
    }
  };
  return adapter;
}

/**
 * adapter-pg's own shadow database connects to the main database (its
 * connection string wins over the database name), so the shadow database is
 * a temporary one we create and drop ourselves.
 */
function temporaryShadowDatabase(url: string, opened: SqlDriverAdapter[]): () => Promise<SqlDriverAdapter> {
  return async () => {
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    const name = `flashfarm_shadow_${crypto.randomUUID().replace(/-/g, '')}`;
    await admin.query(`CREATE DATABASE "${name}"`);
    const shadowUrl = new URL(url);
    shadowUrl.pathname = `/${name}`;
    const adapter = patchPgAdapter(await new PrismaPg({ connectionString: shadowUrl.toString() }).connect());
    const dispose = adapter.dispose.bind(adapter);
    let disposed: Promise<void> | undefined;
    adapter.dispose = () =>
      (disposed ??= (async () => {
        await dispose();
        await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        await admin.end();
      })());
    opened.push(adapter);
    return adapter;
  };
}

/** An adapter factory for the engine, and how to release the connections it opened. */
export interface EngineAdapter {
  factory: EngineAdapterFactory;
  dispose(): Promise<void>;
}

/** A migration-aware adapter factory for a PostgreSQL server. */
export function postgresAdapterFactory(url: string): EngineAdapter {
  const main = new PrismaPg({ connectionString: url });
  const opened: SqlDriverAdapter[] = [];
  return {
    factory: bindMigrationAwareSqlAdapterFactory({
      provider: main.provider,
      adapterName: main.adapterName,
      connect: async () => {
        const adapter = patchPgAdapter(await main.connect());
        opened.push(adapter);
        return adapter;
      },
      connectToShadowDb: temporaryShadowDatabase(url, opened),
    }),
    // The engine does not end the pools it was given; a lingering pool keeps the database busy (no DROP, no TEMPLATE).
    dispose: async () => {
      await Promise.all(opened.splice(0).map((a) => a.dispose().catch(() => undefined)));
    },
  };
}

/** A migration-aware adapter factory for an embedded PGlite database (the shadow is a fresh in-memory PGlite). */
export function pgliteAdapterFactory(db: PGlite): EngineAdapter {
  const main = new PrismaPGlite(db);
  return {
    factory: bindMigrationAwareSqlAdapterFactory({
      provider: main.provider,
      adapterName: main.adapterName,
      connect: async () => patchPgliteAdapter(await main.connect()),
      connectToShadowDb: async () => patchPgliteAdapter(await main.connectToShadowDb()),
    }),
    // The PGlite instance belongs to the caller, who closes it.
    dispose: async () => {},
  };
}

/** Starts an engine over the given schema file and adapter factory. */
export async function createSchemaEngine(
  schemaPath: string,
  factory: EngineAdapterFactory,
  log: (message: string) => void = () => {},
): Promise<SchemaEngine> {
  const { SchemaEngine } = await loadRuntime();
  const datamodels: [string, string][] = [[schemaPath, fs.readFileSync(schemaPath, 'utf8')]];
  return SchemaEngine.new({ datamodels }, log, factory);
}

const LOCKFILE =
  '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n';

/** Reads prisma/migrations the way the Prisma CLI does. */
export function listMigrations(baseDir: string): MigrationList {
  const lockPath = path.join(baseDir, 'migration_lock.toml');
  const dirs = fs.existsSync(baseDir)
    ? fs
        .readdirSync(baseDir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name)
        .sort((a, b) => a.localeCompare(b))
    : [];
  return {
    baseDir,
    lockfile: {
      path: 'migration_lock.toml',
      content: fs.existsSync(lockPath) ? fs.readFileSync(lockPath, 'utf8') : LOCKFILE,
    },
    shadowDbInitScript: '',
    migrationDirectories: dirs.map((name) => {
      const file = path.join(baseDir, name, 'migration.sql');
      const content = fs.existsSync(file)
        ? ({ tag: 'ok', value: fs.readFileSync(file, 'utf8') } as const)
        : ({ tag: 'error', value: `missing ${file}` } as const);
      return { path: name, migrationFile: { path: 'migration.sql', content } };
    }),
  };
}

/** The migration_lock.toml content Prisma expects for PostgreSQL. */
export const MIGRATION_LOCKFILE = LOCKFILE;

/**
 * A migrated, empty embedded database as a tarball, made by `npm run build`
 * into dist/db. Creating a PGlite data directory (initdb, in WebAssembly) and
 * applying the migrations (the schema engine, also WebAssembly) is most of
 * the first start of an api on the embedded database: 5–7 s on an idle
 * machine, three to four times that on a busy one. Unpacking the template
 * into a new data directory does the same in a fraction of it. It is used
 * only for a new data directory and only when it was made from exactly the
 * migrations in prisma/migrations (by a hash of their names and SQL);
 * otherwise the database is created and migrated as before.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { listMigrations } from './schema-engine.js';
import { defaultMigrationPaths, Migrator, type MigrationPaths } from './migrator.js';

const TEMPLATE_FILE = 'pglite-template.tar.gz';
const KEY_FILE = 'pglite-template.json';

/** Identity of a migrations folder: a hash of every migration's name and SQL. */
export function migrationsKey(paths: MigrationPaths = defaultMigrationPaths()): string {
  const hash = createHash('sha256');
  for (const d of listMigrations(paths.migrationsDir).migrationDirectories)
    hash.update(`${d.path}\0${d.migrationFile.content.value}\0`);
  return hash.digest('hex');
}

/** Where `npm run build` puts the template (dist/db), seen from the compiled tree and from the sources. */
export function pgliteTemplateDirs(): string[] {
  const root = path.resolve(import.meta.dirname, '../../../..');
  return [path.join(root, 'db'), path.join(root, 'dist', 'db')];
}

/** The template made from these migrations, or undefined when there is none (or only one made from others). */
export function loadPgliteTemplate(
  paths: MigrationPaths = defaultMigrationPaths(),
  dirs: string[] = pgliteTemplateDirs(),
): Blob | undefined {
  const key = migrationsKey(paths);
  for (const dir of dirs) {
    let meta: { migrations?: string };
    try {
      meta = JSON.parse(fs.readFileSync(path.join(dir, KEY_FILE), 'utf8')) as { migrations?: string };
    } catch {
      continue; // no template here
    }
    if (meta.migrations === key) return new Blob([fs.readFileSync(path.join(dir, TEMPLATE_FILE))]);
  }
  return undefined;
}

/** Makes the template in outDir (an in-memory database, migrated, then dumped); returns its size in bytes. */
export async function writePgliteTemplate(
  outDir: string,
  paths: MigrationPaths = defaultMigrationPaths(),
): Promise<number> {
  const db = await PGlite.create();
  try {
    const migrator = await Migrator.forPglite(db, paths);
    try {
      await migrator.deploy();
    } finally {
      await migrator.close();
    }
    const tar = Buffer.from(await (await db.dumpDataDir('gzip')).arrayBuffer());
    fs.mkdirSync(outDir, { recursive: true });
    fs.writeFileSync(path.join(outDir, TEMPLATE_FILE), tar);
    fs.writeFileSync(
      path.join(outDir, KEY_FILE),
      `${JSON.stringify({ migrations: migrationsKey(paths) }, null, 2)}\n`,
    );
    return tar.length;
  } finally {
    await db.close();
  }
}

/**
 * The dashboard's files, in one of two layouts:
 * - built (`npm run build`, dist/apps/dashboard): index.html naming
 *   content-hashed bundles in assets/, listed by manifest.json. They are read
 *   once at start-up and served from memory; a hashed file never changes, so
 *   browsers may keep it for a year, while index.html is never cached.
 * - sources (a repository checkout run from source): TypeScript modules in
 *   src/ compiled on request with swc (a development dependency, loaded only
 *   here), kept until the file's mtime changes, so an edit shows on reload.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** apps/dashboard beside this app: dist/apps/dashboard when compiled, apps/dashboard from source. */
export const DASHBOARD_DIR = path.resolve(import.meta.dirname, '../../../dashboard');

/** A servable file. */
export interface DashboardAsset {
  body: string | Buffer;
  contentType: string;
  etag: string;
  /** The Cache-Control header it is served with. */
  cacheControl: string;
}

/** Asset names are flat: nothing can climb out of the dashboard directory. */
const SOURCE_ASSET_NAME = /^[a-z0-9][a-z0-9-]*\.(js|css|svg)$/;
const BUILT_ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*\.(js|css|svg|map)$/;

/** Hashed names change with their content: a year, and never revalidated. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** The page shell names the current hashes, so it must never be served stale. */
const NEVER_STORE = 'no-store';
/** Sources change under a developer's hands: revalidate on every load. */
const REVALIDATE = 'no-cache';

const CONTENT_TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  html: 'text/html; charset=utf-8',
  map: 'application/json; charset=utf-8',
};

/** Where the dashboard's files come from. */
export type DashboardLayout = 'built' | 'sources';

/** Serves the dashboard's files from a built tree or from the sources. */
export class DashboardAssets {
  private readonly cache = new Map<string, { mtimeMs: number; asset: DashboardAsset }>();
  private built: { index: DashboardAsset; assets: Map<string, DashboardAsset> } | undefined;
  /** Which layout `root` holds: a manifest.json marks a build. */
  readonly layout: DashboardLayout;

  constructor(private readonly root: string = DASHBOARD_DIR) {
    this.layout = fs.existsSync(path.join(root, 'manifest.json')) ? 'built' : 'sources';
    if (this.layout === 'built') this.built = loadBuilt(root);
  }

  /** The page shell. */
  async index(): Promise<DashboardAsset | undefined> {
    if (this.built) return this.built.index;
    return this.load(path.join(this.root, 'index.html'), 'html', false);
  }

  /** /app/<name>: a bundle, stylesheet or image; undefined when there is none. */
  async asset(name: string): Promise<DashboardAsset | undefined> {
    if (this.built) return BUILT_ASSET_NAME.test(name) ? this.built.assets.get(name) : undefined;
    if (!SOURCE_ASSET_NAME.test(name)) return undefined;
    const ext = name.slice(name.lastIndexOf('.') + 1);
    if (ext === 'js') return this.load(path.join(this.root, 'src', `${name.slice(0, -3)}.ts`), 'js', true);
    return this.load(path.join(this.root, 'src', name), ext, false);
  }

  private async load(file: string, ext: string, compile: boolean): Promise<DashboardAsset | undefined> {
    let mtimeMs: number;
    try {
      mtimeMs = (await fs.promises.stat(file)).mtimeMs;
    } catch {
      return undefined;
    }
    const cached = this.cache.get(file);
    if (cached && cached.mtimeMs === mtimeMs) return cached.asset;
    const text = await fs.promises.readFile(file, 'utf8');
    const body = compile ? await compileModule(text, file) : text;
    const asset = {
      body,
      contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream',
      etag: `"${Math.floor(mtimeMs).toString(36)}-${body.length.toString(36)}"`,
      cacheControl: REVALIDATE,
    };
    this.cache.set(file, { mtimeMs, asset });
    return asset;
  }
}

/** Reads a built dashboard into memory (a few hundred KiB); a build without its page is refused. */
function loadBuilt(root: string): { index: DashboardAsset; assets: Map<string, DashboardAsset> } {
  const read = (file: string, cacheControl: string): DashboardAsset => {
    const body = fs.readFileSync(file);
    const ext = file.slice(file.lastIndexOf('.') + 1);
    return {
      body,
      contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"`,
      cacheControl,
    };
  };
  const assets = new Map<string, DashboardAsset>();
  const dir = path.join(root, 'assets');
  for (const name of fs.readdirSync(dir)) {
    if (BUILT_ASSET_NAME.test(name)) assets.set(name, read(path.join(dir, name), IMMUTABLE));
  }
  return { index: read(path.join(root, 'index.html'), NEVER_STORE), assets };
}

async function compileModule(source: string, file: string): Promise<string> {
  // A development dependency: imported only when the api runs from a source checkout.
  const { transform } = await import('@swc/core');
  const output = await transform(source, {
    filename: path.basename(file),
    sourceMaps: 'inline',
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'es6' },
    swcrc: false,
    configFile: false,
  });
  return output.code;
}

/**
 * The dashboard's files: TypeScript sources in apps/dashboard/src compiled to
 * ES modules on request with swc (no build step, no bundler), kept in memory
 * until the source file's mtime changes; HTML and CSS served as they are.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { transform } from '@swc/core';

/** apps/dashboard, found from this file (src and dist layouts alike). */
export const DASHBOARD_DIR = path.resolve(import.meta.dirname, '../../../dashboard');

/** A servable file. */
export interface DashboardAsset {
  body: string;
  contentType: string;
  etag: string;
}

/** Asset names are flat and simple: nothing can climb out of the dashboard directory. */
const ASSET_NAME = /^[a-z0-9][a-z0-9-]*\.(js|css|svg)$/;

const CONTENT_TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  html: 'text/html; charset=utf-8',
};

/** Compiles and caches the dashboard's files. */
export class DashboardAssets {
  private readonly cache = new Map<string, { mtimeMs: number; asset: DashboardAsset }>();

  constructor(private readonly root: string = DASHBOARD_DIR) {}

  /** The page shell. */
  index(): Promise<DashboardAsset | undefined> {
    return this.load(path.join(this.root, 'index.html'), 'html', false);
  }

  /** /app/<name>: a compiled module (from src/<name>.ts) or a stylesheet/image; undefined when there is none. */
  async asset(name: string): Promise<DashboardAsset | undefined> {
    if (!ASSET_NAME.test(name)) return undefined;
    const ext = name.slice(name.lastIndexOf('.') + 1);
    if (ext === 'js') {
      const source = path.join(this.root, 'src', `${name.slice(0, -3)}.ts`);
      // A built image (npm run build) holds the compiled .js instead of the sources.
      return (
        (await this.load(source, 'js', true)) ?? this.load(path.join(this.root, 'src', name), 'js', false)
      );
    }
    return this.load(path.join(this.root, 'src', name), ext, false);
  }

  private async load(file: string, ext: string, compile: boolean): Promise<DashboardAsset | undefined> {
    let mtimeMs: number;
    try {
      mtimeMs = (await fs.stat(file)).mtimeMs;
    } catch {
      return undefined;
    }
    const cached = this.cache.get(file);
    if (cached && cached.mtimeMs === mtimeMs) return cached.asset;
    const text = await fs.readFile(file, 'utf8');
    const body = compile ? await compileModule(text, file) : text;
    const asset = {
      body,
      contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream',
      etag: `"${Math.floor(mtimeMs).toString(36)}-${body.length.toString(36)}"`,
    };
    this.cache.set(file, { mtimeMs, asset });
    return asset;
  }
}

async function compileModule(source: string, file: string): Promise<string> {
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

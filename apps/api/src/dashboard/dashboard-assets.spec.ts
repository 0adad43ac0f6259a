import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DASHBOARD_DIR, DashboardAssets } from './dashboard-assets.js';

describe('DashboardAssets', () => {
  it('compiles TypeScript to an ES module, caches it until the mtime changes, and refuses odd names', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ff-dash-'));
    fs.mkdirSync(path.join(root, 'src'));
    const file = path.join(root, 'src', 'main.ts');
    fs.writeFileSync(file, "import { x } from './x.js';\nconst n: number = x;\nexport default n;\n");
    const assets = new DashboardAssets(root);
    expect(assets.layout).toBe('sources');
    const first = await assets.asset('main.js');
    expect(first?.contentType).toBe('text/javascript; charset=utf-8');
    expect(first?.cacheControl).toBe('no-cache');
    expect(first?.body).toContain("import { x } from './x.js'");
    expect(first?.body).not.toContain(': number');
    expect(await assets.asset('main.js')).toBe(first);
    fs.writeFileSync(file, 'export const changed: string = "yes";\n');
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5_000));
    const second = await assets.asset('main.js');
    expect(second?.body).toContain('changed');
    expect(second?.etag).not.toBe(first?.etag);
    for (const bad of ['../main.js', 'Main.js', 'main.ts', '.env', 'a/b.js'])
      expect(await assets.asset(bad)).toBeUndefined();
    expect(await assets.asset('missing.js')).toBeUndefined();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('serves a built tree from memory: hashed files cached for a year, the page never', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ff-dash-built-'));
    fs.mkdirSync(path.join(root, 'assets'));
    fs.writeFileSync(path.join(root, 'index.html'), '<script src="/app/main-ABC123.js"></script>');
    fs.writeFileSync(path.join(root, 'assets', 'main-ABC123.js'), 'export {};');
    fs.writeFileSync(path.join(root, 'assets', 'style-0a1b2c.css'), 'body{}');
    fs.writeFileSync(path.join(root, 'manifest.json'), '{"main.js":"main-ABC123.js"}');
    const assets = new DashboardAssets(root);
    expect(assets.layout).toBe('built');
    // Read at start-up: removing the files afterwards changes nothing that is served.
    fs.rmSync(path.join(root, 'assets'), { recursive: true });
    const main = await assets.asset('main-ABC123.js');
    expect(main?.body.toString()).toBe('export {};');
    expect(main?.contentType).toBe('text/javascript; charset=utf-8');
    expect(main?.cacheControl).toBe('public, max-age=31536000, immutable');
    expect((await assets.asset('style-0a1b2c.css'))?.contentType).toBe('text/css; charset=utf-8');
    const index = await assets.index();
    expect(index?.cacheControl).toBe('no-store');
    expect(index?.body.toString()).toContain('/app/main-ABC123.js');
    // The sources' names mean nothing in a build, and nothing outside assets/ is served.
    for (const name of ['main.js', '../index.html', 'manifest.json', 'index.html'])
      expect(await assets.asset(name)).toBeUndefined();
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('serves the real dashboard with only relative imports: contract types are erased, nothing needs a bundler', async () => {
    const assets = new DashboardAssets();
    const modules = fs.readdirSync(path.join(DASHBOARD_DIR, 'src')).filter((f) => f.endsWith('.ts'));
    expect(modules.length).toBeGreaterThan(5);
    for (const module of modules) {
      const body = String((await assets.asset(module.replace(/\.ts$/, '.js')))?.body ?? '');
      const specifiers = [...body.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
      expect({ module, bare: specifiers.filter((s) => !s.startsWith('./')) }).toEqual({ module, bare: [] });
    }
  });
});

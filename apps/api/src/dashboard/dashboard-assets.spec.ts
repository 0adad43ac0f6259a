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
    const first = await assets.asset('main.js');
    expect(first?.contentType).toBe('text/javascript; charset=utf-8');
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
  });

  it('serves the real dashboard with only relative imports: contract types are erased, nothing needs a bundler', async () => {
    const assets = new DashboardAssets();
    const modules = fs.readdirSync(path.join(DASHBOARD_DIR, 'src')).filter((f) => f.endsWith('.ts'));
    expect(modules.length).toBeGreaterThan(5);
    for (const module of modules) {
      const body = (await assets.asset(module.replace(/\.ts$/, '.js')))?.body ?? '';
      const specifiers = [...body.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]);
      expect({ module, bare: specifiers.filter((s) => !s.startsWith('./')) }).toEqual({ module, bare: [] });
    }
  });
});

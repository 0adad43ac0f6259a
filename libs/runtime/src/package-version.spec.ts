import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageVersion } from './package-version.js';

describe('packageVersion', () => {
  it('reads the repository package.json from the sources', () => {
    const pkg = JSON.parse(
      fs.readFileSync(path.resolve(import.meta.dirname, '../../../package.json'), 'utf8'),
    ) as { version: string };
    expect(packageVersion()).toBe(pkg.version);
  });

  it('finds flashfarm above a built tree, skipping other packages on the way', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ff-version-'));
    fs.writeFileSync(path.join(root, 'package.json'), '{"name":"flashfarm","version":"9.8.7"}');
    const deep = path.join(root, 'dist', 'libs', 'runtime', 'src');
    fs.mkdirSync(deep, { recursive: true });
    fs.writeFileSync(path.join(root, 'dist', 'package.json'), '{"name":"other","version":"1.0.0"}');
    expect(packageVersion(deep)).toBe('9.8.7');
    fs.rmSync(path.join(root, 'package.json'));
    expect(packageVersion(deep)).toBe('unknown');
    fs.rmSync(root, { recursive: true, force: true });
  });
});

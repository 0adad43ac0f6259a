import fs from 'node:fs';
import path from 'node:path';

/**
 * The version in flashfarm's package.json, found by walking up from this file:
 * the same answer from the sources (libs/runtime/src), a build
 * (dist/libs/runtime/src) and an installed package (node_modules/flashfarm/dist/...).
 */
export function packageVersion(from: string = import.meta.dirname): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'flashfarm' && pkg.version) return pkg.version;
    } catch {
      // no package.json here (or not ours): keep climbing
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}

// Node module hooks that run the TypeScript sources directly (CLI, demo,
// benchmarks, dev servers) without a build step: relative `.js` imports are
// served from the `.ts` beside them, `#lib` imports from libs/<lib>/src, and
// TypeScript is stripped by swc with decorator metadata (Nest needs it).
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import swc from '@swc/core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LIBS = new Set(['contracts', 'esp', 'serial', 'sim', 'runtime']);

export async function resolve(specifier, context, nextResolve) {
  if (specifier.startsWith('#') && LIBS.has(specifier.slice(1))) {
    return {
      url: pathToFileURL(path.join(root, 'libs', specifier.slice(1), 'src/index.ts')).href,
      shortCircuit: true,
    };
  }
  if (
    (specifier.startsWith('.') || specifier.startsWith('/')) &&
    specifier.endsWith('.js') &&
    context.parentURL?.startsWith('file:')
  ) {
    const candidate = new URL(specifier.replace(/\.js$/, '.ts'), context.parentURL);
    if (existsSync(fileURLToPath(candidate))) return { url: candidate.href, shortCircuit: true };
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const filename = fileURLToPath(url);
  const source = await readFile(filename, 'utf8');
  const { code } = await swc.transform(source, {
    filename,
    sourceMaps: 'inline',
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'es6' },
  });
  return { format: 'module', source: code, shortCircuit: true };
}

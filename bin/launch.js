// Starts one of flashfarm's programs: the compiled one in dist/ (npm run
// build; what a package or an image holds), or, in a repository checkout
// without a current build, the TypeScript sources through the swc module
// hooks (development only: swc is a development dependency).
//   node bin/launch.js api|agent|demo     (npm run start:api / start:agent / demo)
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = path.resolve(import.meta.dirname, '..');
const ENTRIES = {
  api: 'apps/api/src/main',
  agent: 'apps/agent/src/main',
  cli: 'apps/cli/src/main',
  'token-cli': 'apps/api/src/cli/token-cli',
  'agent-doctor': 'apps/agent/src/doctor/agent-doctor',
  demo: 'scripts/demo',
};
const SOURCE_ROOTS = ['apps', 'libs', 'scripts'];

/** Newest mtime of the TypeScript sources, or 0 when there are none (an installed package). */
function newestSource() {
  let newest = 0;
  const walk = (dir) => {
    let entries;
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts'))
        newest = Math.max(newest, fs.statSync(full).mtimeMs);
    }
  };
  for (const r of SOURCE_ROOTS) walk(path.join(ROOT, r));
  return newest;
}

/** Which tree to run: the build when it exists and is not older than the sources (same code, loads faster). */
function pick(app) {
  const compiled = path.join(ROOT, 'dist', `${ENTRIES[app]}.js`);
  const source = path.join(ROOT, `${ENTRIES[app]}.ts`);
  if (!fs.existsSync(source)) {
    if (fs.existsSync(compiled)) return compiled;
    throw new Error(`flashfarm: ${path.relative(ROOT, compiled)} is missing; run npm run build`);
  }
  if (!fs.existsSync(compiled)) return source;
  const builtAt = fs.statSync(path.join(ROOT, 'dist', 'build-info.json'), { throwIfNoEntry: false });
  if (builtAt && builtAt.mtimeMs >= newestSource()) return compiled;
  process.stderr.write(
    'flashfarm: dist/ is older than the sources; running from source (npm run build to refresh)\n',
  );
  return source;
}

/** The swc module hooks are registered once per process, however many programs are launched. */
let hooksRegistered = false;

/** Imports a program's entry module (the api and the agent start on import; the CLI and the demo export theirs). */
export async function launch(app) {
  if (!(app in ENTRIES))
    throw new Error(`flashfarm: unknown program "${app}" (api, agent, cli, token-cli, agent-doctor or demo)`);
  const file = pick(app);
  if (file.endsWith('.ts') && !hooksRegistered) {
    const { register } = await import('node:module');
    register('../scripts/ts-hooks.mjs', import.meta.url);
    hooksRegistered = true;
  }
  return import(pathToFileURL(file).href);
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  try {
    const program = await launch(process.argv[2]);
    if (process.argv[2] === 'demo') await program.runDemo();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}

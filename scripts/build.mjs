// `npm run build`: the production tree in dist/.
// - apps/{api,agent,cli} and libs/*: every TypeScript file compiled on its own
//   with swc (decorator metadata kept: Nest's injection reads it; esbuild
//   cannot emit it), same layout as the sources, so `#lib` imports resolve
//   through package.json "imports" to dist/libs/<lib>/src.
// - The Prisma client generated into apps/api/src/db/generated is part of
//   apps/api and compiled with it (generated first when missing).
// - The programs (api, agent, CLI, token CLI, demo) are then bundled by
//   esbuild from that output into dist/bundle/ (one file per program plus
//   shared chunks; see bundlePrograms), and each program's entry file in the
//   per-file tree is replaced by a one-line module that loads its bundle, so
//   every documented path (dist/apps/api/src/main.js …) runs the bundle.
// - dist/db/pglite-template.tar.gz: an embedded database with every migration
//   applied, which a new FLASHFARM_DATA_DIR starts from (apps/api/src/db/pglite-template.ts).
// - apps/dashboard: bundled by esbuild into content-hashed files under
//   dist/apps/dashboard/assets, with an index.html that names them and a
//   manifest the api reads to serve them with long cache lifetimes.
// Specs stay out; dist/build-info.json records the build.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import swc from '@swc/core';
import esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
const SERVER_ROOTS = ['apps/api/src', 'apps/agent/src', 'apps/cli/src', 'libs'];
/** Scripts compiled too: the demo starts compiled on a fresh clone (its sources import only apps and libs). */
const SCRIPTS = ['scripts/demo.ts'];
const GENERATED_CLIENT = 'apps/api/src/db/generated/prisma/client.ts';

/** swc options for server code: the same transform the dev module hooks apply. */
const SWC_OPTIONS = {
  sourceMaps: true,
  jsc: {
    parser: { syntax: 'typescript', decorators: true },
    transform: { legacyDecorator: true, decoratorMetadata: true },
    target: 'es2022',
    keepClassNames: true,
  },
  module: { type: 'es6' },
  swcrc: false,
  configFile: false,
};

function walk(dir, out = []) {
  if (!fs.existsSync(dir)) return out;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) walk(full, out);
    else out.push(full);
  }
  return out;
}

/** Server sources that belong in the production tree (no specs). */
function serverSources() {
  const scripts = SCRIPTS.map((f) => path.join(root, f)).filter((f) => fs.existsSync(f));
  return [...scripts, ...SERVER_ROOTS.flatMap((r) => walk(path.join(root, r)))].filter(
    (f) =>
      f.endsWith('.ts') &&
      !f.endsWith('.d.ts') &&
      !f.endsWith('.spec.ts') &&
      // libs/<lib>/src only: a lib's README or test fixtures are not code.
      (!f.startsWith(path.join(root, 'libs')) || f.includes(`${path.sep}src${path.sep}`)),
  );
}

function ensurePrismaClient() {
  if (fs.existsSync(path.join(root, GENERATED_CLIENT))) return;
  console.log('build: generating the Prisma client');
  const result = spawnSync(process.execPath, [path.join(root, 'scripts/prisma-generate.mjs')], {
    cwd: root,
    stdio: 'inherit',
  });
  if (result.status !== 0 || !fs.existsSync(path.join(root, GENERATED_CLIENT)))
    throw new Error('build: the Prisma client could not be generated (run: npx prisma generate)');
}

async function compileServer() {
  const files = serverSources();
  await Promise.all(
    files.map(async (file) => {
      const rel = path.relative(root, file);
      const out = path.join(dist, rel.replace(/\.ts$/, '.js'));
      const source = await fs.promises.readFile(file, 'utf8');
      const { code, map } = await swc.transform(source, {
        ...SWC_OPTIONS,
        filename: file,
        sourceFileName: path.relative(path.dirname(out), file),
      });
      await fs.promises.mkdir(path.dirname(out), { recursive: true });
      await fs.promises.writeFile(out, `${code}\n//# sourceMappingURL=${path.basename(out)}.map\n`);
      if (map) await fs.promises.writeFile(`${out}.map`, map);
    }),
  );
  return files.length;
}

/**
 * The programs, bundled. Importing ~1 600 small modules (Nest, rxjs, bullmq,
 * ioredis, zod, class-validator, our own) costs more CPU in resolving, reading
 * and linking than in running them; one bundle per program with shared chunks
 * loads the same code in a few files. esbuild bundles swc's output (it cannot
 * emit decorator metadata itself), with:
 * - every output in one directory, so a chunk's own location is dist/bundle/
 *   and `import.meta.url`/`dirname`/`filename` in our modules are rewritten to
 *   where the module sits in the per-file tree (paths such as the dashboard,
 *   the migrations and package.json are found relative to it, as before);
 * - external: packages that find files beside their own code (PGlite's wasm
 *   and data, Prisma's schema engine and query compiler wasm, native serial
 *   and msgpack bindings, swagger-ui's assets through its own require), the
 *   optional Nest packages we do not install, swc (a development dependency
 *   the dashboard loads only from sources) and reflect-metadata (it must
 *   patch Reflect before any decorator runs: an external import is evaluated
 *   before the chunk that imports it);
 * - `require`, `__filename` and `__dirname` defined in each output file for
 *   the CommonJS packages inside (ioredis, bullmq, msgpackr use them).
 */
const PROGRAMS = {
  api: 'apps/api/src/main.js',
  agent: 'apps/agent/src/main.js',
  cli: 'apps/cli/src/main.js',
  'token-cli': 'apps/api/src/cli/token-cli.js',
  'agent-doctor': 'apps/agent/src/doctor/agent-doctor.js',
  demo: 'scripts/demo.js',
};
const EXTERNAL = [
  '@electric-sql/pglite',
  '@electric-sql/pglite/*',
  '@prisma/schema-engine-wasm',
  '@prisma/schema-engine-wasm/*',
  '@prisma/client/runtime/query_compiler_*',
  '@serialport/bindings-cpp',
  'msgpackr-extract',
  'swagger-ui-dist',
  'swagger-ui-dist/*',
  '@nestjs/microservices',
  '@nestjs/microservices/*',
  '@nestjs/websockets',
  '@nestjs/websockets/*',
  '@fastify/static',
  '@swc/core',
  'reflect-metadata',
];
const BUNDLE_PRELUDE = [
  "import { createRequire as __ffCreateRequire } from 'node:module';",
  "import { dirname as __ffDirname, join as __ffJoin } from 'node:path';",
  "import { fileURLToPath as __ffFileURLToPath, pathToFileURL as __ffPathToFileURL } from 'node:url';",
  'const require = __ffCreateRequire(import.meta.url);',
  'const __filename = __ffFileURLToPath(import.meta.url);',
  'const __dirname = __ffDirname(__filename);',
  "const __ffDist = __ffJoin(__dirname, '..');",
].join('\n');

/** esbuild plugin: `import.meta` in our modules means the module's place in the per-file tree. */
const perFileImportMeta = {
  name: 'per-file-import-meta',
  setup(build) {
    const ours = new RegExp(`^${dist.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}/(apps|libs|scripts)/.*\\.js$`);
    build.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!ours.test(args.path)) return undefined;
      let contents = await fs.promises.readFile(args.path, 'utf8');
      if (!contents.includes('import.meta')) return { contents, loader: 'js' };
      const rel = path.relative(dist, args.path).split(path.sep).join('/');
      const file = `__ffJoin(__ffDist, ${JSON.stringify(rel)})`;
      contents = contents
        .replaceAll('import.meta.dirname', `__ffDirname(${file})`)
        .replaceAll('import.meta.filename', file)
        .replaceAll('import.meta.url', `__ffPathToFileURL(${file}).href`);
      return { contents, loader: 'js' };
    });
  },
};

async function bundlePrograms() {
  const out = path.join(dist, 'bundle');
  const result = await esbuild.build({
    entryPoints: Object.fromEntries(
      Object.entries(PROGRAMS).map(([name, file]) => [name, path.join(dist, file)]),
    ),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    outdir: out,
    chunkNames: 'chunk-[hash]',
    external: EXTERNAL,
    // Nest and our logs name classes; injection tokens are the classes themselves.
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    banner: { js: BUNDLE_PRELUDE },
    plugins: [perFileImportMeta],
    logLevel: 'warning',
    metafile: true,
  });
  for (const [name, file] of Object.entries(PROGRAMS)) {
    const entry = path.join(dist, file);
    const target = path
      .relative(path.dirname(entry), path.join(out, `${name}.js`))
      .split(path.sep)
      .join('/');
    fs.writeFileSync(
      entry,
      `// ${name}: the bundle (scripts/build.mjs).\nexport * from '${target.startsWith('.') ? target : `./${target}`}';\n`,
    );
    fs.rmSync(`${entry}.map`, { force: true });
  }
  return Object.keys(result.metafile.outputs).filter((f) => f.endsWith('.js')).length;
}

function hashed(name, body) {
  const ext = path.extname(name);
  const digest = createHash('sha256').update(body).digest('hex').slice(0, 10);
  return `${path.basename(name, ext)}-${digest}${ext}`;
}

/** Bundles the dashboard; returns the manifest (logical name → hashed file name). */
async function buildDashboard() {
  const src = path.join(root, 'apps/dashboard');
  const out = path.join(dist, 'apps/dashboard');
  const assets = path.join(out, 'assets');
  fs.mkdirSync(assets, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [path.join(src, 'src/main.ts')],
    bundle: true,
    splitting: true,
    format: 'esm',
    target: 'es2022',
    platform: 'browser',
    minify: true,
    sourcemap: 'linked',
    outdir: assets,
    entryNames: '[name]-[hash]',
    chunkNames: '[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
    alias: { '#contracts': path.join(root, 'libs/contracts/src/index.ts') },
  });
  const manifest = {};
  for (const [file, meta] of Object.entries(result.metafile.outputs)) {
    if (meta.entryPoint)
      manifest[path.basename(meta.entryPoint).replace(/\.ts$/, '.js')] = path.basename(file);
  }
  for (const name of ['style.css', 'favicon.svg']) {
    const body = fs.readFileSync(path.join(src, 'src', name));
    const file = hashed(name, body);
    fs.writeFileSync(path.join(assets, file), body);
    manifest[name] = file;
  }
  let html = fs.readFileSync(path.join(src, 'index.html'), 'utf8');
  // The page names its entry module, stylesheet and icon; chunks are found by the bundle itself.
  for (const name of ['main.js', 'style.css', 'favicon.svg']) {
    const file = manifest[name];
    const ref = `/app/${name}`;
    if (!html.includes(`"${ref}"`)) throw new Error(`build: index.html does not reference ${ref}`);
    html = html.replaceAll(`"${ref}"`, `"/app/${file}"`);
  }
  fs.writeFileSync(path.join(out, 'index.html'), html);
  fs.writeFileSync(path.join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

const started = Date.now();
fs.rmSync(dist, { recursive: true, force: true });
ensurePrismaClient();
const count = await compileServer();
// --no-bundle: the per-file tree only (to measure what the bundle saves: npm run bench:startup -- --no-bundle).
const bundleFiles = process.argv.includes('--no-bundle') ? 0 : await bundlePrograms();
const manifest = await buildDashboard();
const { writePgliteTemplate } = await import(
  pathToFileURL(path.join(dist, 'apps/api/src/db/pglite-template.js')).href
);
const templateBytes = await writePgliteTemplate(path.join(dist, 'db'));
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
fs.writeFileSync(
  path.join(dist, 'build-info.json'),
  `${JSON.stringify({ version: pkg.version, builtAt: new Date().toISOString() }, null, 2)}\n`,
);
console.log(
  `build: ${count} modules, ${Object.keys(PROGRAMS).length} programs bundled (${bundleFiles} files), the dashboard (${Object.keys(manifest).length} assets) and the migrated database template (${Math.round(templateBytes / 1024)} KiB) in dist/ (${Date.now() - started} ms)`,
);

import path from 'node:path';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Dependency direction (DESIGN): apps -> libs; no app imports another app;
// libs/esp -> libs/contracts only; libs/sim -> nothing but Node; apps/api never
// imports libs/serial or libs/sim; only libs/serial imports serialport.
//
// One local rule checks every way a file can reach another: import and export
// declarations and dynamic import() alike (no-restricted-imports sees only the
// declarations). Relative specifiers are resolved against the importing file,
// and the #aliases of package.json to their lib, so a forbidden folder is
// caught however it is spelled.
const ROOT = import.meta.dirname;
const ALIASES = {
  '#contracts': 'libs/contracts/src/index',
  '#esp': 'libs/esp/src/index',
  '#serial': 'libs/serial/src/index',
  '#sim': 'libs/sim/src/index',
  '#runtime': 'libs/runtime/src/index',
};

/** The repository path (for files) or package name (for packages) an import specifier names. */
function importTarget(specifier, filename) {
  if (specifier.startsWith('.'))
    return {
      path: path
        .relative(ROOT, path.resolve(path.dirname(filename), specifier))
        .split(path.sep)
        .join('/'),
    };
  if (ALIASES[specifier]) return { path: ALIASES[specifier] };
  return { pkg: specifier };
}

/** The app a repository path belongs to (apps/<name>/...), if any. */
const appOf = (repoPath) => /^apps\/([^/]+)\//.exec(repoPath)?.[1];

const roomsRule = {
  meta: {
    type: 'problem',
    docs: { description: 'one-way dependencies between apps and libs, for static and dynamic imports' },
    schema: [
      {
        type: 'object',
        properties: { forbid: { type: 'array', items: { type: 'string' } } },
        additionalProperties: false,
      },
    ],
  },
  create(context) {
    const forbid = context.options[0]?.forbid ?? [];
    const filename = context.filename;
    const own = path.relative(ROOT, filename).split(path.sep).join('/');
    const ownApp = appOf(own);
    const check = (node, specifier) => {
      if (typeof specifier !== 'string') return;
      const target = importTarget(specifier, filename);
      let reason;
      if (target.path !== undefined) {
        const targetApp = appOf(target.path);
        if (ownApp && targetApp && targetApp !== ownApp)
          reason = `apps/${targetApp} is another app: apps talk over HTTP and Redis, and share code through libs`;
        else {
          const folder = forbid.find((f) => f.endsWith('/') && target.path.startsWith(f));
          if (folder) reason = `${folder} may not be imported here`;
        }
      } else {
        const pkg = forbid.find(
          (f) =>
            !f.endsWith('/') &&
            (f === target.pkg || (f.endsWith('/*') && target.pkg.startsWith(f.slice(0, -1)))),
        );
        if (pkg) reason = `${target.pkg} may not be imported here`;
      }
      if (reason)
        context.report({ node, message: `${reason} (see DESIGN: one-way dependencies; "${specifier}").` });
    };
    const literal = (source) =>
      source?.type === 'Literal'
        ? source.value
        : source?.type === 'TemplateLiteral' && source.expressions.length === 0
          ? source.quasis[0].value.cooked
          : undefined;
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ImportExpression: (node) => check(node, literal(node.source)),
    };
  },
};

const rooms = (...forbid) => ({ 'flashfarm/rooms': ['error', { forbid }] });

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'coverage/**',
      'apps/api/src/db/generated/**',
      'test-output/**',
      '.flashfarm/**',
      'apps/dashboard/public/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { flashfarm: { rules: { rooms: roomsRule } } },
    rules: {
      'flashfarm/rooms': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false },
      ],
      '@typescript-eslint/no-extraneous-class': 'off',
    },
  },
  {
    // Nest's DI reads constructor parameter types at runtime; type-only imports would erase them.
    files: ['apps/api/**/*.ts', 'apps/agent/**/*.ts'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      parserOptions: { projectService: false, project: false },
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        fetch: 'readonly',
      },
    },
  },
  {
    files: ['libs/sim/**/*.ts'],
    rules: rooms(
      'apps/',
      'test/',
      'libs/esp/',
      'libs/serial/',
      'libs/contracts/',
      'serialport',
      '@serialport/*',
      '@nestjs/*',
    ),
  },
  {
    files: ['libs/esp/**/*.ts'],
    rules: rooms('apps/', 'libs/serial/', 'libs/sim/', 'serialport', '@serialport/*', '@nestjs/*'),
  },
  {
    files: ['libs/contracts/**/*.ts'],
    rules: rooms(
      'apps/',
      'libs/esp/',
      'libs/serial/',
      'libs/sim/',
      'serialport',
      '@serialport/*',
      '@nestjs/*',
    ),
  },
  { files: ['libs/serial/**/*.ts'], rules: rooms('apps/', '@nestjs/*') },
  { files: ['libs/runtime/**/*.ts'], rules: rooms('apps/') },
  {
    files: ['apps/api/**/*.ts'],
    rules: rooms('libs/serial/', 'libs/sim/', 'serialport', '@serialport/*'),
  },
  { files: ['apps/agent/**/*.ts', 'apps/cli/**/*.ts'], rules: rooms('serialport', '@serialport/*') },
  {
    // Functions of the apps read as named steps: one longer than this says why in its disable comment.
    files: ['apps/*/src/**/*.ts'],
    ignores: ['**/*.spec.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true, IIFEs: true }],
    },
  },
  {
    // Tests wait on facts (pollUntil, within, events, metrics, pass counters), never on time passing:
    // a sleep followed by "nothing happened" proves nothing. Timing primitives live in test support.
    files: ['test/**/*.ts', '**/*.spec.ts'],
    ignores: [
      'test/**/support/**',
      // libs/sim's own test support (it may not import test/): holdFor and pollUntil for its specs.
      'libs/sim/src/testing/**',
    ],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "NewExpression[callee.name='Promise'] CallExpression[callee.name='setTimeout'][arguments.0.type='Identifier']",
          message:
            'A sleep in a test: wait on a fact instead (pollUntil/within from test/support, an event, a metric).',
        },
        {
          selector:
            'CallExpression[callee.name=/^(sleep|delay)$/], CallExpression[callee.property.name=/^(sleep|delay)$/]',
          message:
            'A sleep in a test: wait on a fact instead (pollUntil/within from test/support, an event, a metric).',
        },
      ],
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'node:timers/promises', message: 'A sleep in a test: wait on a fact instead.' }] },
      ],
    },
  },
);

import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// Dependency direction (DESIGN): apps -> libs; libs/esp -> libs/contracts only;
// libs/sim -> nothing but Node; apps/api never imports libs/serial or libs/sim;
// only libs/serial imports serialport.
const restrict = (...patterns) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: patterns.map((group) => ({
        group: [group],
        message: `${group} may not be imported here (see DESIGN: one-way dependencies).`,
      })),
    },
  ],
});

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
    rules: {
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
    rules: restrict(
      '#contracts',
      '#esp',
      '#serial',
      'serialport',
      '@serialport/*',
      '@nestjs/*',
      '**/apps/**',
      '**/libs/esp/**',
      '**/libs/serial/**',
      '**/libs/contracts/**',
    ),
  },
  {
    files: ['libs/esp/**/*.ts'],
    rules: restrict(
      '#serial',
      '#sim',
      'serialport',
      '@serialport/*',
      '@nestjs/*',
      '**/apps/**',
      '**/libs/serial/**',
      '**/libs/sim/**',
    ),
  },
  {
    files: ['libs/contracts/**/*.ts'],
    rules: restrict('#esp', '#serial', '#sim', 'serialport', '@serialport/*', '@nestjs/*', '**/apps/**'),
  },
  { files: ['libs/serial/**/*.ts'], rules: restrict('@nestjs/*', '**/apps/**') },
  {
    files: ['apps/api/**/*.ts'],
    rules: restrict('#serial', '#sim', 'serialport', '@serialport/*', '**/libs/serial/**', '**/libs/sim/**'),
  },
  { files: ['apps/agent/**/*.ts', 'apps/cli/**/*.ts'], rules: restrict('serialport', '@serialport/*') },
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
      // The simulator's own tests pace its real-time inputs (reset pulse widths, UART gaps) with local
      // sleeps, and a few wait out a quiet line; they belong to libs/sim and move to test support there.
      'libs/sim/src/board.spec.ts',
      'libs/sim/src/uart.spec.ts',
      'test/protocol/sim-fuzz.test.ts',
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

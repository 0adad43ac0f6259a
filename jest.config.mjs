// One Jest run, several tiers. Unit and protocol tests need nothing but Node;
// integration, e2e and browser tests get a real redis-server and a real
// PostgreSQL server from test/support/global-setup.mjs.
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'es6' },
  },
];

const base = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    '^#contracts$': '<rootDir>/libs/contracts/src/index.ts',
    '^#esp$': '<rootDir>/libs/esp/src/index.ts',
    '^#serial$': '<rootDir>/libs/serial/src/index.ts',
    '^#sim$': '<rootDir>/libs/sim/src/index.ts',
    '^#runtime$': '<rootDir>/libs/runtime/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  rootDir: import.meta.dirname,
};

/** @type {import('jest').Config} */
export default {
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
  rootDir: import.meta.dirname,
  testTimeout: 30_000,
  // With two cores Jest runs the suites in band, one after another in its own process: a suite that fails
  // half-way can leave a client reconnecting to the Redis the global teardown stopped, and Jest would
  // then wait for it forever instead of reporting. It reports and exits; `npx jest
  // --detectOpenHandles <suite>` finds such a leak.
  forceExit: true,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'] },
    { ...base, displayName: 'protocol', testMatch: ['<rootDir>/test/protocol/**/*.test.ts'] },
    {
      ...base,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
    },
    {
      ...base,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.test.ts'],
    },
    {
      ...base,
      displayName: 'browser',
      testMatch: ['<rootDir>/test/browser/**/*.test.ts'],
    },
  ],
};

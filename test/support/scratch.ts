/**
 * Scratch directories for tests (agent data directories, fleet files, fake
 * sysfs trees). They live under one directory per test run, which the global
 * teardown removes, so suites need no clean-up of their own and a run leaves
 * nothing behind in /tmp.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Environment variable carrying the run's scratch root from the global set-up to the test workers. */
export const SCRATCH_ENV = 'FLASHFARM_TEST_SCRATCH';

/** Creates the run's scratch root (global set-up). */
export function createScratchRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flashfarm-test-scratch-'));
  process.env[SCRATCH_ENV] = root;
  return root;
}

/** Removes the run's scratch root and everything in it (global teardown). */
export function removeScratchRoot(): void {
  const root = process.env[SCRATCH_ENV];
  if (root) fs.rmSync(root, { recursive: true, force: true });
}

/** A new empty directory `<prefix>-XXXXXX` under the run's scratch root (the system temp directory outside a Jest run). */
export function scratchDir(prefix: string): string {
  const root = process.env[SCRATCH_ENV];
  const parent = root && fs.existsSync(root) ? root : os.tmpdir();
  return fs.mkdtempSync(path.join(parent, `${prefix}-`));
}

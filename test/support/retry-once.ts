// Integration, e2e and browser tests run real servers and processes on a
// 2-core machine; a handful of them have shown timing flakes under full-suite
// load (listed in docs/ARCHITECTURE.md, "Known test flakes"). A failed test is
// run once more, and its first failure is printed, so a flake stays visible in
// the log while a real regression (failing twice) still fails the run.
import { jest } from '@jest/globals';

jest.retryTimes(1, { logErrorsBeforeRetry: true });

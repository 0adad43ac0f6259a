import { describe, expect, it } from '@jest/globals';
import { FlashErrorCode, RunErrorCode, SchedulerErrorCode } from './error-codes.js';

describe('run error codes', () => {
  it('holds every flash code and every scheduler code, each under its own name', () => {
    for (const code of [...Object.values(FlashErrorCode), ...Object.values(SchedulerErrorCode)])
      expect(RunErrorCode[code]).toBe(code);
  });
  it('keeps scheduler codes out of the flash codes an agent may report', () => {
    for (const code of Object.values(SchedulerErrorCode))
      expect(Object.values(FlashErrorCode)).not.toContain(code);
  });
});

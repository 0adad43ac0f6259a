import { describe, expect, it } from '@jest/globals';
import {
  FLASH_ERROR_REMEDY,
  FlashErrorCode,
  RunErrorCode,
  SchedulerErrorCode,
  isRetryableFlashError,
} from './error-codes.js';

describe('flash error codes', () => {
  it('gives every code a remedy', () => {
    for (const code of Object.values(FlashErrorCode)) expect(FLASH_ERROR_REMEDY[code]).toBeDefined();
  });
  it('never retries what cannot succeed', () => {
    expect(isRetryableFlashError('CHIP_MISMATCH')).toBe(false);
    expect(isRetryableFlashError('BAD_IMAGE')).toBe(false);
    expect(isRetryableFlashError('FRAMING')).toBe(true);
    expect(isRetryableFlashError('DEVICE_GONE')).toBe(true);
  });
  it('gives a run whose port now holds another board back for rebinding', () => {
    expect(FLASH_ERROR_REMEDY.DEVICE_CHANGED).toBe('rebind');
  });
});

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

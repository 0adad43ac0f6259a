import { describe, expect, it } from '@jest/globals';
import { FLASH_ERROR_REMEDY, FlashErrorCode, isRetryableFlashError } from './error-codes.js';

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
});

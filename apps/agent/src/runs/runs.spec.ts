import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EspError } from '#esp';
import { decideAfterFailure, errorCodeOf } from './fault-policy.js';
import { LearnedSettings } from './learned-settings.js';

describe('fault policy', () => {
  const state = { retries: 0, retriesOfCode: 0, maxRetries: 2, resetStrategy: 'classic-50' };

  it('reads the code of typed errors and calls anything else INTERNAL', () => {
    expect(errorCodeOf(new EspError('x', { code: 'FRAMING' }))).toBe('FRAMING');
    expect(errorCodeOf(Object.assign(new Error('gone'), { code: 'DEVICE_GONE' }))).toBe('DEVICE_GONE');
    expect(errorCodeOf(Object.assign(new Error('fs'), { code: 'ENOENT' }))).toBe('INTERNAL');
    expect(errorCodeOf('text')).toBe('INTERNAL');
  });

  it('never retries what cannot succeed, and hands back a run whose board vanished', () => {
    for (const code of [
      'CHIP_MISMATCH',
      'BAD_IMAGE',
      'IMAGE_TOO_BIG',
      'BOOT_CHECK_FAILED',
      'INTERNAL',
    ] as const)
      expect(decideAfterFailure(code, state)).toEqual({ kind: 'fail' });
    expect(decideAfterFailure('DEVICE_GONE', state)).toEqual({ kind: 'requeue' });
    expect(decideAfterFailure('PORT_NOT_FOUND', { ...state, retries: 5 })).toEqual({ kind: 'requeue' });
  });

  it('leaves the ladders the flasher walked to the flasher: no retry after FRAMING, TIMEOUT or DIGEST_MISMATCH', () => {
    for (const code of ['FRAMING', 'TIMEOUT', 'DIGEST_MISMATCH'] as const)
      expect(decideAfterFailure(code, state)).toEqual({ kind: 'fail' });
  });

  it('retries a flash write error once on the same board, then fails it', () => {
    expect(decideAfterFailure('FLASH_ERROR', state)).toMatchObject({
      kind: 'retry',
      resetStrategy: 'classic-50',
    });
    expect(decideAfterFailure('FLASH_ERROR', { ...state, retries: 1, retriesOfCode: 1 })).toEqual({
      kind: 'fail',
    });
    expect(decideAfterFailure('FLASH_ERROR', { ...state, maxRetries: 0 })).toEqual({ kind: 'fail' });
  });

  it('widens a single reset strategy to all of them once, and never re-walks the full list', () => {
    expect(decideAfterFailure('NO_SYNC', state)).toMatchObject({ kind: 'retry', resetStrategy: undefined });
    expect(decideAfterFailure('WRONG_BOOT_MODE', { ...state, resetStrategy: undefined })).toEqual({
      kind: 'fail',
    });
    expect(decideAfterFailure('NO_SYNC', { ...state, retries: 1, retriesOfCode: 1 })).toEqual({
      kind: 'fail',
    });
  });

  it('retries a confused loader up to the configured budget', () => {
    expect(decideAfterFailure('STUB_ERROR', state)).toMatchObject({
      kind: 'retry',
      resetStrategy: 'classic-50',
    });
    expect(decideAfterFailure('ROM_ERROR', { ...state, retries: 1, retriesOfCode: 1 })).toMatchObject({
      kind: 'retry',
    });
    expect(decideAfterFailure('ROM_ERROR', { ...state, retries: 2, retriesOfCode: 2 })).toEqual({
      kind: 'fail',
    });
  });
});

describe('learned settings', () => {
  it('remembers the best baud per port and bridge across restarts', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashfarm-learned-'));
    const a = LearnedSettings.inDataDir(dir);
    expect(a.bestBaud('/dev/ttyUSB0', 'cp210x')).toBeUndefined();
    a.recordSuccess('/dev/ttyUSB0', 'cp210x', { baud: 460_800, resetStrategy: 'classic-50' });
    a.recordSuccess('/dev/ttyUSB1', 'cp210x', { baud: 921_600 });
    const b = LearnedSettings.inDataDir(dir);
    expect(b.bestBaud('/dev/ttyUSB0', 'cp210x')).toBe(460_800);
    expect(b.port('/dev/ttyUSB0')?.resetStrategy).toBe('classic-50');
    // A new port behind the same bridge type starts at the best that bridge type reached.
    expect(b.bestBaud('/dev/ttyUSB7', 'cp210x')).toBe(921_600);
    expect(b.bestBaud('/dev/ttyUSB7', 'ch340')).toBeUndefined();
    fs.writeFileSync(path.join(dir, 'learned.json'), '{not json');
    expect(LearnedSettings.inDataDir(dir).bestBaud('/dev/ttyUSB0')).toBeUndefined();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

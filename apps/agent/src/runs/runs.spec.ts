import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EspError } from '#esp';
import { decideAfterFailure, errorCodeOf, lowerBaud } from './fault-policy.js';
import { LearnedSettings } from './learned-settings.js';

describe('fault policy', () => {
  const state = { attempt: 0, maxRetries: 2, baud: 921_600, resetStrategy: 'classic-50' };

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
      'FLASH_ERROR',
    ] as const)
      expect(decideAfterFailure(code, state)).toEqual({ kind: 'fail' });
    expect(decideAfterFailure('DEVICE_GONE', state)).toEqual({ kind: 'requeue' });
    expect(decideAfterFailure('PORT_NOT_FOUND', { ...state, attempt: 5 })).toEqual({ kind: 'requeue' });
  });

  it('retries transient failures a bounded number of times, lowering the baud or changing the reset as the remedy says', () => {
    expect(decideAfterFailure('TIMEOUT', state)).toMatchObject({
      kind: 'retry',
      baud: 921_600,
      resetStrategy: 'classic-50',
    });
    expect(decideAfterFailure('FRAMING', state)).toMatchObject({ kind: 'retry', baud: 460_800 });
    expect(decideAfterFailure('NO_SYNC', state)).toMatchObject({ kind: 'retry', resetStrategy: undefined });
    expect(decideAfterFailure('TIMEOUT', { ...state, attempt: 2 })).toEqual({ kind: 'fail' });
    expect(lowerBaud(115_200)).toBeUndefined();
    expect(lowerBaud(1_500_000)).toBe(921_600);
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

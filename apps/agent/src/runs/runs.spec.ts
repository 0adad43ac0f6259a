import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EspError } from '#esp';
import { decideAfterFailure, errorCodeOf } from './fault-policy.js';
import { BAUD_CLIMB_AFTER_CLEAN_RUNS, LearnedSettings } from './learned-settings.js';

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

  it('climbs back one rung after clean runs at the learned baud, and falls back again on a failed climb', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashfarm-learned-'));
    const port = '/dev/ttyUSB0';
    const learned = LearnedSettings.inDataDir(dir);
    const ask = { requested: 921_600 };
    // A burst of noise: the run fell back from 921 600 to 460 800.
    learned.recordSuccess(port, 'cp210x', { baud: 460_800, fellBack: true });
    for (let run = 1; run <= BAUD_CLIMB_AFTER_CLEAN_RUNS; run++) {
      expect(learned.startBaud(port, 'cp210x', ask)).toEqual({ baud: 460_800 });
      learned.recordSuccess(port, 'cp210x', { baud: 460_800 });
    }
    // Enough clean runs: the next one tries the next rung up (and survives a restart of the agent).
    expect(LearnedSettings.inDataDir(dir).startBaud(port, 'cp210x', ask)).toEqual({
      baud: 921_600,
      climbedFrom: 460_800,
    });
    // Choosing the climb restarts the count: a run that then fails outright is not retried high at once.
    expect(learned.startBaud(port, 'cp210x', ask)).toEqual({ baud: 921_600, climbedFrom: 460_800 });
    const again = LearnedSettings.inDataDir(dir);
    expect(again.startBaud(port, 'cp210x', ask)).toEqual({ baud: 460_800 });
    // The climb fell back: the best stays 460 800 and it takes another full count to try again.
    again.recordSuccess(port, 'cp210x', { baud: 460_800, fellBack: true });
    for (let run = 1; run <= BAUD_CLIMB_AFTER_CLEAN_RUNS; run++) {
      expect(again.startBaud(port, 'cp210x', ask)).toEqual({ baud: 460_800 });
      again.recordSuccess(port, 'cp210x', { baud: 460_800 });
    }
    const climb = again.startBaud(port, 'cp210x', ask);
    expect(climb).toEqual({ baud: 921_600, climbedFrom: 460_800 });
    // The climb worked: 921 600 is the port's best again.
    again.recordSuccess(port, 'cp210x', { baud: climb.baud });
    expect(again.bestBaud(port)).toBe(921_600);
    expect(again.startBaud(port, 'cp210x', ask)).toEqual({ baud: 921_600 });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('climbs no higher than the job asks and from the lower of the device and port bests', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashfarm-learned-'));
    const port = '/dev/ttyACM3';
    const learned = LearnedSettings.inDataDir(dir);
    learned.recordSuccess(port, undefined, { baud: 230_400, fellBack: true });
    for (let run = 0; run < BAUD_CLIMB_AFTER_CLEAN_RUNS; run++)
      learned.recordSuccess(port, undefined, { baud: 230_400 });
    // The job (or the bridge, folded into `requested`) caps the rung: 460 800 is next, 300 000 is asked.
    expect(learned.startBaud(port, undefined, { requested: 300_000 })).toEqual({
      baud: 300_000,
      climbedFrom: 230_400,
    });
    // A clean run at a lower baud the job asked for neither lowers the best nor counts towards a climb.
    learned.recordSuccess(port, undefined, { baud: 115_200 });
    expect(learned.bestBaud(port)).toBe(230_400);
    expect(learned.startBaud(port, undefined, { requested: 921_600 })).toEqual({ baud: 230_400 });
    // The device learned less elsewhere: start there, whatever this port knows.
    expect(learned.startBaud(port, undefined, { requested: 921_600, deviceBest: 115_200 })).toEqual({
      baud: 115_200,
    });
    // Nothing learned: the job's baud.
    expect(learned.startBaud('/dev/ttyUSB9', undefined, { requested: 460_800 })).toEqual({ baud: 460_800 });
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

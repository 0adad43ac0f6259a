import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_NOISE_BIT_ERROR_RATE,
  describeFaults,
  FAULT_OPTIONS,
  NO_FAULTS,
  parseFaultFlags,
  parseFaultPatch,
  toSimFaults,
} from './faults.js';

describe('fault settings of flashfarm sim', () => {
  it('maps every setting onto SimBoard faults, noise only while its rate is above 0', () => {
    expect(toSimFaults(NO_FAULTS)).toEqual({
      bitErrors: null,
      dropRate: 0,
      io0NotWired: false,
      latencyMs: 0,
      flashWriteFailAt: null,
      bootLoop: false,
      missedSyncs: 0,
      rxDead: false,
      flashDead: false,
    });
    const all = {
      ...NO_FAULTS,
      ...parseFaultPatch({ noiseAboveBaud: 460800, io0Unwired: true, missedSyncs: 2 }, 'x'),
    };
    expect(toSimFaults(all)).toMatchObject({
      bitErrors: { aboveBaud: 460800, bitErrorRate: DEFAULT_NOISE_BIT_ERROR_RATE },
      io0NotWired: true,
      missedSyncs: 2,
    });
    // A rate without a threshold: noise at every baud.
    expect(toSimFaults({ ...NO_FAULTS, bitErrorRate: 0.01 }).bitErrors).toEqual({
      aboveBaud: 0,
      bitErrorRate: 0.01,
    });
  });

  it('reads flags and objects in one vocabulary; null switches the noise or the write failure off', () => {
    expect(
      parseFaultFlags({ 'flash-write-fail-at': '0x10000', 'rx-dead': true, 'latency-ms': '12.5' }),
    ).toEqual({
      flashWriteFailAt: 0x10000,
      rxDead: true,
      latencyMs: 12.5,
    });
    expect(parseFaultPatch({ noiseAboveBaud: null, flashWriteFailAt: null }, 'body')).toEqual({
      noiseAboveBaud: null,
      bitErrorRate: 0,
      flashWriteFailAt: null,
    });
    expect(parseFaultPatch({ noiseAboveBaud: 115200, bitErrorRate: 0.5 }, 'body')).toEqual({
      noiseAboveBaud: 115200,
      bitErrorRate: 0.5,
    });
    expect(() => parseFaultPatch([], 'body')).toThrow('body must be an object of fault switches');
    expect(() => parseFaultPatch({ missedSyncs: null }, 'body')).toThrow(
      /body\.missedSyncs must be a whole number/,
    );
  });

  it('lists the switches that are on, in flag form', () => {
    expect(describeFaults(NO_FAULTS)).toBe('');
    expect(describeFaults({ ...NO_FAULTS, dropRate: 0.01, flashWriteFailAt: 0x8000, bootLoop: true })).toBe(
      'drop-rate=0.01 flash-write-fail-at=0x8000 boot-loop',
    );
    // Every option has a flag and a key of its own.
    expect(new Set(FAULT_OPTIONS.map((o) => o.flag)).size).toBe(FAULT_OPTIONS.length);
    expect(new Set(FAULT_OPTIONS.map((o) => o.key))).toEqual(new Set(Object.keys(NO_FAULTS)));
  });
});

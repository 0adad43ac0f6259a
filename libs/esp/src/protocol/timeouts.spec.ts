import { describe, expect, it } from '@jest/globals';
import {
  DEFAULT_TIMEOUT_MS,
  MAX_TIMEOUT_MS,
  MD5_TIMEOUT_PER_MB_MS,
  timeoutForSize,
  withLatency,
} from './timeouts.js';

describe('timeouts', () => {
  it('timeoutForSize scales per MB with a 3 s floor and a 240 s cap', () => {
    expect(timeoutForSize(1000)).toBe(DEFAULT_TIMEOUT_MS);
    expect(timeoutForSize(1_000_000)).toBe(40_000);
    expect(timeoutForSize(2_000_000, MD5_TIMEOUT_PER_MB_MS)).toBe(16_000);
    expect(timeoutForSize(100_000_000)).toBe(MAX_TIMEOUT_MS);
  });

  it('adds twice the link latency and the line time of the bytes', () => {
    expect(withLatency(100, { latencyMs: 0, baudRate: 115200 })).toBe(100);
    expect(withLatency(100, { latencyMs: 30, baudRate: 115200 })).toBe(160);
    // 11520 bytes at 115200 baud = 1 s on the wire
    expect(withLatency(100, { latencyMs: 0, baudRate: 115200 }, 11520)).toBe(1100);
  });
});

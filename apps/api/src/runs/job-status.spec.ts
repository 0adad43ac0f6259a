import { describe, expect, it } from '@jest/globals';
import { deriveJobStatus, latestAttempts } from './job-status.js';

describe('job status from its slots', () => {
  it('is queued until a run leaves the queue, then running', () => {
    expect(deriveJobStatus('queued', [{ slot: 0, attempt: 1, status: 'queued' }])).toBe('queued');
    expect(
      deriveJobStatus('queued', [
        { slot: 0, attempt: 1, status: 'dispatched' },
        { slot: 1, attempt: 1, status: 'queued' },
      ]),
    ).toBe('running');
  });

  it('judges each slot by its latest attempt', () => {
    const runs = [
      { slot: 0, attempt: 1, status: 'failed' as const },
      { slot: 0, attempt: 2, status: 'succeeded' as const },
      { slot: 1, attempt: 1, status: 'succeeded' as const },
    ];
    expect(latestAttempts(runs).map((r) => r.attempt)).toEqual([2, 1]);
    expect(deriveJobStatus('running', runs)).toBe('succeeded');
  });

  it('keeps running while a failed slot has a new attempt waiting', () => {
    expect(
      deriveJobStatus('running', [
        { slot: 0, attempt: 1, status: 'failed' },
        { slot: 0, attempt: 2, status: 'queued' },
      ]),
    ).toBe('running');
  });

  it('fails when a slot failed for good, once every slot ended', () => {
    const runs = [
      { slot: 0, attempt: 3, status: 'failed' as const },
      { slot: 1, attempt: 1, status: 'running' as const },
    ];
    expect(deriveJobStatus('running', runs)).toBe('running');
    expect(deriveJobStatus('running', [runs[0], { ...runs[1], status: 'succeeded' }])).toBe('failed');
  });

  it('never leaves cancelled', () => {
    expect(deriveJobStatus('cancelled', [{ slot: 0, attempt: 1, status: 'succeeded' }])).toBe('cancelled');
  });
});

import { describe, expect, it } from '@jest/globals';
import { RunErrorCode, SchedulerErrorCode } from './error-codes.js';
import { FAILURE_POLICY, RETRY_BUDGETS, failurePolicy, isFlashErrorCode } from './failure-policy.js';

const rows = Object.entries(FAILURE_POLICY) as Array<[RunErrorCode, (typeof FAILURE_POLICY)[RunErrorCode]]>;

describe('failure policy', () => {
  it('has exactly one row per run error code', () => {
    expect(Object.keys(FAILURE_POLICY).sort()).toEqual(Object.values(RunErrorCode).sort());
  });

  it('never lets the agent walk again a ladder the flasher already exhausted', () => {
    // A code the flasher recovers in session (baud ladder, reconnects, region rewrite) is final when it
    // leaves flash(); the reset ladder may only be widened once from a single learned strategy.
    for (const [code, p] of rows) {
      if (p.flasher === 'connect-ladder') expect([code, p.agent]).toEqual([code, 'widen-reset']);
      if (['baud-ladder', 'region-rewrite'].includes(p.flasher))
        expect([code, p.agent]).toEqual([code, 'none']);
      if (p.flasher === 'reconnect') expect([code, p.agent]).not.toEqual([code, 'budget']);
    }
    expect(FAILURE_POLICY.FRAMING.agent).toBe('none');
    expect(FAILURE_POLICY.TIMEOUT.agent).toBe('none');
  });

  it('retries a flash write error once on the same board, then counts it and lets another board take the slot', () => {
    expect(FAILURE_POLICY.FLASH_ERROR).toEqual({
      fault: 'board',
      flasher: 'none',
      agent: 'once',
      api: 'unpinned',
      counts: true,
    });
  });

  it('counts only faults of the board or its link against the board', () => {
    for (const [code, p] of rows)
      expect([code, p.counts]).toEqual([code, p.fault === 'board' || p.fault === 'link']);
  });

  it('never retries what cannot succeed, anywhere', () => {
    for (const code of ['CHIP_MISMATCH', 'BAD_IMAGE', 'IMAGE_TOO_BIG', 'INVALID_ARGUMENT'] as const)
      expect(FAILURE_POLICY[code]).toMatchObject({
        fault: 'user',
        flasher: 'none',
        agent: 'none',
        api: 'none',
      });
  });

  it('gives every handed-back run a new attempt from the api, and only those of another owner none', () => {
    for (const [code, p] of rows) {
      // DEVICE_CHANGED: a pinned job ends there (its board was swapped out); other jobs try another board.
      if (p.agent === 'hand-back')
        expect([code, p.api]).toEqual([code, code === 'DEVICE_CHANGED' ? 'unpinned' : 'any']);
      // The api's unconditional new attempt is for runs handed back (the board or the farm went away).
      if (p.api === 'any') expect([code, p.agent]).toEqual([code, 'hand-back']);
    }
  });

  it('keeps scheduler decisions free of retries and of blame', () => {
    for (const code of Object.values(SchedulerErrorCode))
      expect(FAILURE_POLICY[code]).toEqual({
        fault: 'farm',
        flasher: 'none',
        agent: 'none',
        api: 'none',
        counts: false,
      });
  });

  it('treats a code it does not know as INTERNAL, and tells flash codes from scheduler codes', () => {
    expect(failurePolicy('SOMETHING_NEW')).toBe(FAILURE_POLICY.INTERNAL);
    expect(failurePolicy(null)).toBe(FAILURE_POLICY.INTERNAL);
    expect(failurePolicy('FRAMING')).toBe(FAILURE_POLICY.FRAMING);
    expect(isFlashErrorCode('FRAMING')).toBe(true);
    expect(isFlashErrorCode('NO_USABLE_DEVICE')).toBe(false);
    expect(isFlashErrorCode(42)).toBe(false);
  });

  it('keeps the budgets sane: a descending baud ladder ending at the ROM baud, at least one try each', () => {
    const ladder = RETRY_BUDGETS.flasher.baudLadder;
    expect([...ladder].sort((a, b) => b - a)).toEqual([...ladder]);
    expect(ladder[ladder.length - 1]).toBe(115_200);
    for (const [name, n] of Object.entries(RETRY_BUDGETS.flasher))
      if (typeof n === 'number') expect([name, n >= 1]).toEqual([name, true]);
    expect(RETRY_BUDGETS.api.attemptsPerSlot).toBeGreaterThanOrEqual(1);
  });
});

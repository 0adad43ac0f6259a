import { describe, expect, it } from '@jest/globals';
import { CAMPAIGN_TRANSITIONS, UNIT_TRANSITIONS } from './campaign-state.js';
import { DEVICE_TRANSITIONS } from './device-state.js';
import { LIVE_RUN_STATUSES, RUN_TRANSITIONS } from './run-state.js';
import { canTransition, ForbiddenTransition, sourcesOf, type TransitionTable } from './transition.js';

/** Every (from, to) pair of a table, as "from → to", allowed or not. */
function matrix<S extends string>(table: TransitionTable<S>): Record<string, boolean> {
  const states = Object.keys(table) as S[];
  const out: Record<string, boolean> = {};
  for (const from of states) for (const to of states) out[`${from} → ${to}`] = canTransition(table, from, to);
  return out;
}

/** The expected table written out pair by pair: `allowed` lists the moves, every other pair is refused. */
function expectMoves<S extends string>(table: TransitionTable<S>, allowed: string[]): void {
  const expected = Object.fromEntries(Object.keys(matrix(table)).map((k) => [k, allowed.includes(k)]));
  expect(matrix(table)).toEqual(expected);
}

describe('state tables, enumerated', () => {
  it('device', () => {
    expectMoves(DEVICE_TRANSITIONS, [
      'idle → busy',
      'idle → offline',
      'idle → quarantined',
      'idle → conflict',
      'busy → idle',
      'busy → offline',
      'busy → quarantined',
      'busy → conflict',
      'offline → idle',
      'offline → quarantined',
      'offline → conflict',
      'quarantined → idle',
      'quarantined → offline',
      'quarantined → quarantined',
      'conflict → idle',
      'conflict → offline',
      'conflict → quarantined',
      'conflict → conflict',
    ]);
  });

  it('run', () => {
    expectMoves(RUN_TRANSITIONS, [
      'queued → dispatched',
      'queued → failed',
      'queued → cancelled',
      'dispatched → running',
      'dispatched → succeeded',
      'dispatched → failed',
      'dispatched → cancelled',
      'running → running',
      'running → succeeded',
      'running → failed',
      'running → cancelled',
    ]);
    // Live statuses are exactly those with a way out.
    expect([...LIVE_RUN_STATUSES].sort()).toEqual(
      (Object.keys(RUN_TRANSITIONS) as Array<keyof typeof RUN_TRANSITIONS>)
        .filter((s) => RUN_TRANSITIONS[s].length > 0)
        .sort(),
    );
  });

  it('campaign', () => {
    expectMoves(CAMPAIGN_TRANSITIONS, [
      'running → paused',
      'running → stopped',
      'running → completed',
      'paused → running',
      'paused → stopped',
      'completed → running',
    ]);
  });

  it('campaign unit', () => {
    expectMoves(UNIT_TRANSITIONS, [
      'pending → flashing',
      'pending → failed',
      'flashing → succeeded',
      'flashing → failed',
      'failed → pending',
    ]);
  });

  it('never lets a busy board go straight back to work or a succeeded unit be flashed again', () => {
    expect(canTransition(DEVICE_TRANSITIONS, 'quarantined', 'busy')).toBe(false);
    expect(canTransition(DEVICE_TRANSITIONS, 'offline', 'busy')).toBe(false);
    expect(canTransition(UNIT_TRANSITIONS, 'succeeded', 'pending')).toBe(false);
    expect(canTransition(CAMPAIGN_TRANSITIONS, 'stopped', 'running')).toBe(false);
  });
});

describe('transition guards', () => {
  it('builds the WHERE from every state the table lets move to the target', () => {
    expect(sourcesOf('run', RUN_TRANSITIONS, 'cancelled').sort()).toEqual([
      'dispatched',
      'queued',
      'running',
    ]);
    expect(sourcesOf('device', DEVICE_TRANSITIONS, 'busy')).toEqual(['idle']);
  });

  it('narrows to the caller’s sources, and refuses a source the table forbids', () => {
    expect(sourcesOf('device', DEVICE_TRANSITIONS, 'offline', ['idle'])).toEqual(['idle']);
    expect(() => sourcesOf('device', DEVICE_TRANSITIONS, 'busy', ['idle', 'quarantined'])).toThrow(
      ForbiddenTransition,
    );
    expect(() => sourcesOf('run', RUN_TRANSITIONS, 'queued')).toThrow(
      /no transition from {2}to queued|to queued/,
    );
    expect(() => sourcesOf('campaign', CAMPAIGN_TRANSITIONS, 'running', [])).toThrow(ForbiddenTransition);
  });
});

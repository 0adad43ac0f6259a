import { describe, expect, it } from '@jest/globals';
import { heldBoards, type SlotRun } from './slot-boards.js';

const all = { endedSlotsHold: true };
const selector = { endedSlotsHold: false };

describe('boards held by the slots of a job', () => {
  it('holds the board a slot is bound to, flashing or has flashed', () => {
    const runs: SlotRun[] = [
      { slot: 0, attempt: 1, status: 'dispatched', deviceId: 'a' },
      { slot: 1, attempt: 1, status: 'running', deviceId: 'b' },
      { slot: 2, attempt: 1, status: 'succeeded', deviceId: 'c' },
      { slot: 3, attempt: 1, status: 'queued', deviceId: null },
    ];
    const expected = new Map([
      ['a', 0],
      ['b', 1],
      ['c', 2],
    ]);
    expect(heldBoards(runs, all)).toEqual(expected);
    expect(heldBoards(runs, selector)).toEqual(expected);
  });

  it('keeps a board with the slot that ended on it for good, in an "all" job', () => {
    const runs: SlotRun[] = [
      { slot: 0, attempt: 1, status: 'failed', deviceId: 'a' },
      { slot: 1, attempt: 1, status: 'cancelled', deviceId: 'b' },
    ];
    expect(heldBoards(runs, all)).toEqual(
      new Map([
        ['a', 0],
        ['b', 1],
      ]),
    );
    expect(heldBoards(runs, selector)).toEqual(new Map());
  });

  it('frees a board its slot left for another attempt', () => {
    const runs: SlotRun[] = [
      { slot: 0, attempt: 1, status: 'failed', deviceId: 'a' },
      { slot: 0, attempt: 2, status: 'queued', deviceId: null },
      { slot: 1, attempt: 1, status: 'failed', deviceId: 'b' },
      { slot: 1, attempt: 2, status: 'running', deviceId: 'c' },
    ];
    expect(heldBoards(runs, all)).toEqual(new Map([['c', 1]]));
  });

  it('holds nothing for a slot that ended without a board', () => {
    const runs: SlotRun[] = [
      { slot: 0, attempt: 1, status: 'failed', deviceId: 'a' },
      { slot: 0, attempt: 2, status: 'failed', deviceId: null },
    ];
    expect(heldBoards(runs, all)).toEqual(new Map());
  });
});

import { describe, expect, it } from '@jest/globals';
import { unusablePinnedBoard, type PinnedBoard } from './pinned-board.js';

const wait = { waitMs: 1500 };
const board = (patch: Partial<PinnedBoard>): PinnedBoard => ({
  mac: 'c3:00:00:00:00:01',
  state: 'idle',
  quarantineReason: null,
  reachable: true,
  ...patch,
});

describe('the board of a pinned run', () => {
  it('can take the run when idle, or busy on a live agent', () => {
    expect(unusablePinnedBoard(board({}), wait)).toBeUndefined();
    expect(unusablePinnedBoard(board({ state: 'busy' }), wait)).toBeUndefined();
  });

  it('ends the run with NO_USABLE_DEVICE when quarantined, still attached or not, saying how to release it', () => {
    for (const reachable of [true, false]) {
      const failure = unusablePinnedBoard(
        board({ state: 'quarantined', quarantineReason: 'cracked USB connector', reachable }),
        wait,
      );
      expect(failure?.errorCode).toBe('NO_USABLE_DEVICE');
      expect(failure?.errorMessage).toContain('cracked USB connector');
      expect(failure?.errorMessage).toContain('POST /devices/c3:00:00:00:00:01/release');
      expect(failure?.errorMessage).toContain('1500 ms');
    }
  });

  it('ends the run with DEVICE_GONE when unplugged, offline, its agent down, or deleted', () => {
    expect(unusablePinnedBoard(board({ reachable: false }), wait)?.errorCode).toBe('DEVICE_GONE');
    expect(unusablePinnedBoard(board({ state: 'offline' }), wait)?.errorCode).toBe('DEVICE_GONE');
    expect(unusablePinnedBoard(board({ state: 'busy', reachable: false }), wait)?.errorMessage).toMatch(
      /c3:00:00:00:00:01 was not reachable for 1500 ms/,
    );
    expect(unusablePinnedBoard(null, wait)?.errorCode).toBe('DEVICE_GONE');
  });
});

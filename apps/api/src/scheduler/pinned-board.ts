/**
 * Whether the board a pinned job names can still take its waiting run, and if not, how the run
 * ends once the bounded wait (FLASHFARM_PINNED_REQUEUE_WAIT_MS) is over.
 */
import { RunErrorCode } from '#contracts';
import type { DeviceState } from '../db/generated/prisma/enums.js';

/** The board a pinned job names, as the scheduler reads it. */
export interface PinnedBoard {
  mac: string;
  state: DeviceState;
  quarantineReason: string | null;
  /** Attached to an agent that is online and heartbeating. */
  reachable: boolean;
}

/** How a pinned run that waited out the bound ends. */
export interface PinnedWaitFailure {
  errorCode: typeof RunErrorCode.NO_USABLE_DEVICE | typeof RunErrorCode.DEVICE_GONE;
  errorMessage: string;
}

/**
 * Undefined while the board can take the run (idle, or busy and reachable: it frees up by itself);
 * otherwise the failure the run gets if the board stays this way for the whole wait.
 *
 * A quarantined board is out of service whether or not it is plugged in: only an operator brings it
 * back, so the run ends with NO_USABLE_DEVICE (a scheduler code that never counts against the board)
 * and says how to release it. A board that is unplugged, offline, or whose agent is down is gone
 * (DEVICE_GONE), as for a run whose board vanished mid-flash.
 */
export function unusablePinnedBoard(
  board: PinnedBoard | null,
  options: { waitMs: number },
): PinnedWaitFailure | undefined {
  if (!board)
    return { errorCode: RunErrorCode.DEVICE_GONE, errorMessage: 'the pinned board no longer exists' };
  if (board.state === 'quarantined')
    return {
      errorCode: RunErrorCode.NO_USABLE_DEVICE,
      errorMessage: `board ${board.mac} is quarantined (${board.quarantineReason ?? 'no reason given'}) and was not released within ${options.waitMs} ms; release it (POST /devices/${board.mac}/release) and submit the job again, or target a selector`,
    };
  if (board.state === 'offline' || !board.reachable)
    return {
      errorCode: RunErrorCode.DEVICE_GONE,
      errorMessage: `board ${board.mac} was not reachable for ${options.waitMs} ms (unplugged, or its agent is down)`,
    };
  return undefined;
}

/**
 * Which boards the slots of one job hold. A board serves one slot of a job, so a board held by one
 * slot is not eligible for the job's other slots.
 */
import type { RunStatus } from '../db/generated/prisma/enums.js';
import { latestAttempts } from '../runs/job-status.js';

/** Run statuses by which a board serves that run's slot. */
const SERVING_STATUSES: readonly RunStatus[] = ['dispatched', 'running', 'succeeded'];
/** Statuses of a slot's latest attempt that end the slot for good (no further attempt follows). */
const ENDED_STATUSES: readonly RunStatus[] = ['failed', 'cancelled'];

/** The fields of a run that say which board its slot holds. */
export interface SlotRun {
  slot: number;
  attempt: number;
  status: RunStatus;
  deviceId: string | null;
}

/** Options for heldBoards. */
export interface HeldBoardsOptions {
  /** A slot that ended for good on a board keeps holding it (for "all" jobs: every board is flashed once). */
  endedSlotsHold: boolean;
}

/**
 * The boards one job's slots hold, as device id → slot. A slot holds the board it is bound to,
 * flashing or has flashed.
 *
 * With endedSlotsHold, a slot whose latest attempt failed (or was cancelled) on a board also holds
 * it: an "all" job flashes every matching board once, and that board already has its answer. Given
 * to another slot (whose own board went away), it would be flashed a second time and reported
 * twice, while the board that went away would never be reported at all.
 *
 * A failed attempt followed by another attempt of the same slot holds nothing: that slot may come
 * back to the board or move on, and a board it left behind is free for a slot that lost its own.
 */
export function heldBoards(runs: readonly SlotRun[], options: HeldBoardsOptions): Map<string, number> {
  const ended = new Set<SlotRun>(
    options.endedSlotsHold ? latestAttempts(runs).filter((r) => ENDED_STATUSES.includes(r.status)) : [],
  );
  const held = new Map<string, number>();
  for (const run of runs)
    if (run.deviceId && (SERVING_STATUSES.includes(run.status) || ended.has(run)))
      held.set(run.deviceId, run.slot);
  return held;
}

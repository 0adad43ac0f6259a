/**
 * The run state machine. Every write of `Run.status` goes through
 * transitionRun (a test greps the api for any other); a run row is created
 * `queued` (the column default).
 *
 *   queued ──bind──▶ dispatched ──claim / run.started──▶ running
 *   queued | dispatched | running ──ends──▶ succeeded | failed | cancelled
 */
import type { Prisma } from '../db/generated/prisma/client.js';
import type { RunStatus } from '../db/generated/prisma/enums.js';
import { sourcesOf, type TransitionTable } from './transition.js';

/** Allowed moves of a run. Ended runs never move again: another attempt is a new row. */
export const RUN_TRANSITIONS: TransitionTable<RunStatus> = {
  // Bound to a board; cancelled with its job; failed by the scheduler when no board can take it.
  queued: ['dispatched', 'failed', 'cancelled'],
  // Claimed (or run.started); ended, also before run.started arrives (replicas read events in parallel).
  dispatched: ['running', 'succeeded', 'failed', 'cancelled'],
  // A redelivered run claimed again by the same agent stays running.
  running: ['running', 'succeeded', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

/** The statuses of a run that has not ended. */
export const LIVE_RUN_STATUSES: readonly RunStatus[] = ['queued', 'dispatched', 'running'];

/** Fields a run transition may write besides the status. */
export type RunTransitionData = Omit<Prisma.RunUncheckedUpdateManyInput, 'status'>;

/**
 * Moves the runs matching `where` to `to`, when they are in a status that may move there (narrowed by
 * `from`); returns how many moved.
 */
export async function transitionRun(
  db: Pick<Prisma.TransactionClient, 'run'>,
  where: Prisma.RunWhereInput,
  to: RunStatus,
  options: { from?: readonly RunStatus[]; data?: RunTransitionData } = {},
): Promise<number> {
  const from = sourcesOf('run', RUN_TRANSITIONS, to, options.from);
  const { count } = await db.run.updateMany({
    where: { AND: [where, { status: { in: from } }] },
    data: { ...options.data, status: to },
  });
  return count;
}

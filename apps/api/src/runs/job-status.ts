/**
 * A job's status follows from its slots: each slot's latest attempt decides
 * that slot; the job ends when every slot has ended.
 */
import type { JobStatus, RunStatus } from '../db/generated/prisma/enums.js';

/** The run statuses after which a run never changes again. */
export const TERMINAL_RUN_STATUSES: readonly RunStatus[] = ['succeeded', 'failed', 'cancelled'];
/** The job statuses after which a job never changes again. */
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

/** True when the run has ended. */
export function isTerminalRun(status: RunStatus): boolean {
  return TERMINAL_RUN_STATUSES.includes(status);
}

/** True when the job has ended. */
export function isTerminalJob(status: JobStatus): boolean {
  return TERMINAL_JOB_STATUSES.includes(status);
}

/** The fields of a run the derivation needs. */
export interface SlotAttempt {
  slot: number;
  attempt: number;
  status: RunStatus;
}

/** Latest attempt per slot, ordered by slot. */
export function latestAttempts<T extends SlotAttempt>(runs: readonly T[]): T[] {
  const latest = new Map<number, T>();
  for (const run of runs) {
    const seen = latest.get(run.slot);
    if (!seen || run.attempt > seen.attempt) latest.set(run.slot, run);
  }
  return [...latest.values()].sort((a, b) => a.slot - b.slot);
}

/**
 * The job status its runs imply. A cancelled job stays cancelled. Otherwise:
 * queued until a run leaves the queue, running until every slot has ended,
 * then succeeded only if every slot succeeded, failed if any slot failed for
 * good, cancelled if slots were cancelled and none failed.
 */
export function deriveJobStatus(current: JobStatus, runs: readonly SlotAttempt[]): JobStatus {
  if (current === 'cancelled') return current;
  const slots = latestAttempts(runs);
  if (slots.length === 0) return current;
  if (slots.every((r) => isTerminalRun(r.status))) {
    if (slots.some((r) => r.status === 'failed')) return 'failed';
    if (slots.some((r) => r.status === 'cancelled')) return 'cancelled';
    return 'succeeded';
  }
  const moved = runs.some((r) => r.status !== 'queued');
  return moved ? 'running' : 'queued';
}

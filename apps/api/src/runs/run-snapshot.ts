/** How runs and jobs are presented to clients and live listeners. */
import { RunErrorCode, type RunSnapshot } from '#contracts';
import type { Run } from '../db/generated/prisma/client.js';

/** The run columns a snapshot needs: the snapshot's fields, with dates as the database gives them. */
export type SnapshotColumns = Pick<Run, keyof RunSnapshot>;

/** A run's live state, JSON-ready. */
export function runSnapshot(run: SnapshotColumns): RunSnapshot {
  return {
    id: run.id,
    jobId: run.jobId,
    slot: run.slot,
    attempt: run.attempt,
    status: run.status,
    stage: run.stage,
    progress: run.progress,
    deviceId: run.deviceId,
    agentId: run.agentId,
    portPath: run.portPath,
    errorCode: runErrorCodeOf(run.errorCode),
    errorMessage: run.errorMessage,
    baud: run.baud,
    queuedAt: run.queuedAt.toISOString(),
    dispatchedAt: iso(run.dispatchedAt),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
  };
}

/** ISO 8601 or null. */
export function iso(date: Date | null | undefined): string | null {
  return date ? date.toISOString() : null;
}

const RUN_ERROR_CODES = new Set<string>(Object.values(RunErrorCode));

/**
 * A stored run error code as the contract types it. The column is text: a code this api does not
 * know (written by a newer agent or api) reads as INTERNAL instead of leaking an undocumented value.
 */
export function runErrorCodeOf(code: string | null): RunErrorCode | null {
  if (code === null) return null;
  return RUN_ERROR_CODES.has(code) ? (code as RunErrorCode) : RunErrorCode.INTERNAL;
}

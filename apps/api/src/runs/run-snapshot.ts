/** How runs and jobs are presented to clients and live listeners. */
import type { RunSnapshot } from '#contracts';

/** The run columns a snapshot needs. */
export interface RunRow {
  id: string;
  jobId: string;
  slot: number;
  attempt: number;
  status: string;
  stage: string | null;
  progress: number;
  deviceId: string | null;
  agentId: string | null;
  portPath: string | null;
  errorCode: string | null;
  errorMessage: string | null;
  baud: number | null;
  queuedAt: Date;
  dispatchedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** A run's live state, JSON-ready. */
export function runSnapshot(run: RunRow): RunSnapshot {
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
    errorCode: run.errorCode,
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

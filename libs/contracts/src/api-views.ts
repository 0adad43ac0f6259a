/**
 * Shapes the api answers with that its clients (the CLI, the dashboard) read
 * too, kept here so a field renamed in the api breaks their type check.
 */

/** A run as GET /runs/:id summarises it, as job slots carry it, and as `run` events stream it. */
export interface RunSnapshot {
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
  queuedAt: string;
  dispatchedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

/** Counters of a production campaign, as GET /campaigns/:id answers them and the dashboard shows them. */
export interface CampaignCounters {
  total: number;
  pending: number;
  inProgress: number;
  succeeded: number;
  failed: number;
  /** Succeeded units per hour since the campaign started. */
  unitsPerHour: number;
}

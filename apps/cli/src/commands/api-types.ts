/** The shapes of the api answers the client commands read (the fields they use, not every field). */
import type { RunSnapshot } from '#contracts';

/** A device as a job view summarises it. */
export interface DeviceSummaryView {
  id: string;
  mac?: string;
  chip?: string;
  label?: string | null;
}

/** GET /jobs/:id. */
export interface JobView {
  id: string;
  status: string;
  firmwareId: string;
  requestedBy: string;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  slotCounts: Record<string, number>;
  slots: Array<{
    slot: number;
    attempts: number;
    latest: RunSnapshot & { device: DeviceSummaryView | null; retries: number };
  }>;
}

/** POST /firmware. */
export interface FirmwareView {
  id: string;
  sha256: string;
  chip: string;
  name: string;
  version: string | null;
}

/** A page of a list route. */
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** GET /devices items. */
export interface DeviceView {
  id: string;
  mac: string;
  chip: string;
  state: string;
  pool: string | null;
  tags: string[];
  label: string | null;
  lastRunStatus?: string | null;
  attachment?: { agentName?: string; agent?: { name?: string }; portPath?: string } | null;
}

/** Terminal run states. */
export const TERMINAL_RUN_STATES = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * The failure policy: for every code a failed run may carry, who is at fault,
 * where it is retried, and whether it counts towards the board's quarantine;
 * and every retry budget. The flasher, the agent and the api read this file;
 * there is no other copy.
 *
 * A retry class has exactly one owner, so retries never nest:
 * - in-session (the flasher, libs/esp): inside one session on one board — the
 *   connect ladder (reset strategies × SYNC rounds), the baud ladder on line
 *   errors, block re-sends and range restarts, one rewrite of a region whose
 *   digest did not match, reconnects after a lost link. An error that leaves
 *   flash() has spent this budget; nobody walks the same ladder again.
 * - same-board (the agent): a fresh session on the same board (port reopened,
 *   board reset, stub uploaded again), for failures a fresh start can cure.
 * - new attempt (the api): a new run row for the slot (attempt + 1) that the
 *   scheduler binds to any eligible board, the same one included.
 */
import { FlashErrorCode, type RunErrorCode } from './error-codes.js';

/** Every retry budget of the farm, by owner. Pauses and timeouts live beside the code that waits. */
export const RETRY_BUDGETS = {
  flasher: {
    /** Reset + SYNC rounds of one connect (at least one per reset strategy). */
    connectAttempts: 8,
    /** SYNC commands per round. */
    syncsPerAttempt: 5,
    /** Data-phase bauds, tried from the requested one downwards when the line corrupts data. */
    baudLadder: [2_000_000, 921_600, 460_800, 230_400, 115_200],
    /** Sends of one flash data block (the first included). */
    blockAttempts: 3,
    /** Starts of one write range from BEGIN after a deferred stub error or a lost reply. */
    rangeAttempts: 3,
    /** Sends of one stub upload block (the first included). */
    stubBlockAttempts: 3,
    /** Writes of one region (the first included) before a digest mismatch is final. */
    regionWrites: 2,
    /** Reconnects after a lost link or a timeout within one session. */
    reconnects: 3,
  },
  agent: {
    /** Fresh sessions on the same board after a failed one (default of FLASHFARM_AGENT_RUN_RETRIES). */
    sameBoardRetries: 2,
  },
  api: {
    /** Attempts per slot of a job (default of FLASHFARM_RUN_MAX_ATTEMPTS). */
    attemptsPerSlot: 3,
    /** Consecutive counted failures that quarantine a board (default of FLASHFARM_QUARANTINE_AFTER_FAILURES). */
    quarantineAfterFailures: 3,
  },
} as const;

/** Who a failure points at. */
export type Fault =
  | 'board' // the chip, its flash, its strapping or auto-reset circuit
  | 'link' // cable, USB bridge or remote serial link between host and board
  | 'host' // the agent's machine: the port is held elsewhere or gone from the host
  | 'firmware' // the image flashed intact, but the app misbehaves
  | 'farm' // flashfarm itself: the api, the agent, Redis, a bug
  | 'user'; // what was asked cannot be done: wrong image, bad arguments, cancelled

/** The flasher's own recovery, inside one session (spent when the error leaves flash()). */
export type InSessionRetry =
  | 'connect-ladder' // reset strategies × SYNC rounds
  | 'baud-ladder' // one step down per line error, down to 115 200
  | 'resend' // block re-sends and range restarts for the loader statuses that allow them
  | 'region-rewrite' // the whole region written once more
  | 'reconnect' // reconnect (reopening a vanished port) and resume at the first unverified region
  | 'none';

/** The agent's retry in a fresh session on the same board (bounded by FLASHFARM_AGENT_RUN_RETRIES overall). */
export type SameBoardRetry =
  | 'budget' // up to FLASHFARM_AGENT_RUN_RETRIES fresh sessions
  | 'once' // one fresh session
  | 'widen-reset' // one fresh session with every reset strategy, when the failed one was limited to one
  | 'hand-back' // no retry here: the run goes back to the api with requeue (the port or the farm failed)
  | 'none';

/** Whether the api gives the slot a new attempt (attempt + 1, possibly on another board). */
export type NewAttempt =
  | 'any' // always, within FLASHFARM_RUN_MAX_ATTEMPTS
  | 'unpinned' // only for selector and "all" jobs: a pinned job has no other board to try
  | 'none';

/** The policy of one failure code. */
export interface FailurePolicy {
  fault: Fault;
  /** The flasher's recovery inside one session. */
  flasher: InSessionRetry;
  /** The agent's retry on the same board. */
  agent: SameBoardRetry;
  /** The api's new attempt for the slot. */
  api: NewAttempt;
  /** Counts against the board: adds to its consecutive failures, which quarantine it at the configured count. */
  counts: boolean;
}

/** The one failure-policy table (see docs/ARCHITECTURE.md, "Failures and retries"). */
export const FAILURE_POLICY: Readonly<Record<RunErrorCode, FailurePolicy>> = {
  // Wrong port, no power, broken TX/RX: the flasher tried every reset strategy it was given.
  NO_SYNC: { fault: 'link', flasher: 'connect-ladder', agent: 'widen-reset', api: 'none', counts: true },
  // IO0 not pulled low: the strapping or auto-reset circuit.
  WRONG_BOOT_MODE: {
    fault: 'board',
    flasher: 'connect-ladder',
    agent: 'widen-reset',
    api: 'none',
    counts: true,
  },
  // Replies lost after the flasher's reconnects.
  TIMEOUT: { fault: 'link', flasher: 'reconnect', agent: 'none', api: 'none', counts: true },
  // Line noise that persisted down to the bottom of the baud ladder.
  FRAMING: { fault: 'link', flasher: 'baud-ladder', agent: 'none', api: 'none', counts: true },
  // The loader refused a command: a reset and a fresh stub may cure a confused loader.
  ROM_ERROR: { fault: 'board', flasher: 'resend', agent: 'budget', api: 'none', counts: true },
  STUB_ERROR: { fault: 'board', flasher: 'resend', agent: 'budget', api: 'none', counts: true },
  // A write or erase failed on the chip: once more on the same board (what esptool users do), then it is
  // the board's, and another board may take the slot.
  FLASH_ERROR: { fault: 'board', flasher: 'none', agent: 'once', api: 'unpinned', counts: true },
  CHIP_MISMATCH: { fault: 'user', flasher: 'none', agent: 'none', api: 'none', counts: false },
  // The region was written twice and still reads back wrong.
  DIGEST_MISMATCH: { fault: 'board', flasher: 'region-rewrite', agent: 'none', api: 'none', counts: true },
  // The image does not fit this board's flash: checked before anything is written.
  IMAGE_TOO_BIG: { fault: 'user', flasher: 'none', agent: 'none', api: 'none', counts: false },
  BAD_IMAGE: { fault: 'user', flasher: 'none', agent: 'none', api: 'none', counts: false },
  // Another program holds the port on the agent's host.
  PORT_BUSY: { fault: 'host', flasher: 'none', agent: 'budget', api: 'none', counts: false },
  // The port vanished from the host (unplugged, hub reset): the agent hands the run back.
  PORT_NOT_FOUND: { fault: 'host', flasher: 'none', agent: 'hand-back', api: 'any', counts: false },
  DEVICE_GONE: { fault: 'host', flasher: 'reconnect', agent: 'hand-back', api: 'any', counts: false },
  // Another board answers on the port (a swapped fixture unit, a moved cable): nothing was written; the
  // port is re-identified and the run goes to wherever its board is now.
  // Another unit sits on the port: a selector slot may go to another board; a pinned job has its
  // answer (its board is not where it was, and a fixture's next unit is its own cycle).
  DEVICE_CHANGED: { fault: 'host', flasher: 'none', agent: 'hand-back', api: 'unpinned', counts: false },
  // The image was verified; the app did not print the pattern.
  BOOT_CHECK_FAILED: { fault: 'firmware', flasher: 'none', agent: 'none', api: 'none', counts: false },
  INVALID_ARGUMENT: { fault: 'user', flasher: 'none', agent: 'none', api: 'none', counts: false },
  // A shutdown hands the run back with requeue; a user's cancel ends it.
  CANCELLED: { fault: 'user', flasher: 'none', agent: 'none', api: 'none', counts: false },
  // Firmware download failed, or the agent stopped answering: the run is handed back.
  INFRASTRUCTURE: { fault: 'farm', flasher: 'none', agent: 'hand-back', api: 'any', counts: false },
  // An unclassified error is a defect of flashfarm, not evidence against the board.
  INTERNAL: { fault: 'farm', flasher: 'none', agent: 'none', api: 'none', counts: false },
  // No board could take the run for the bounded wait: decided by the api, never by an agent.
  NO_USABLE_DEVICE: { fault: 'farm', flasher: 'none', agent: 'none', api: 'none', counts: false },
};

const FLASH_CODES = new Set<string>(Object.values(FlashErrorCode));

/** True for the codes a flasher or an agent may report (the scheduler's own codes excluded). */
export function isFlashErrorCode(code: unknown): code is FlashErrorCode {
  return typeof code === 'string' && FLASH_CODES.has(code);
}

/** The policy of a stored error code; a code this version does not know is treated as INTERNAL. */
export function failurePolicy(code: string | null | undefined): FailurePolicy {
  return (
    (code && (FAILURE_POLICY as Record<string, FailurePolicy | undefined>)[code]) || FAILURE_POLICY.INTERNAL
  );
}

/**
 * Errors of the HTTP api: every code it answers with, the one HTTP status of
 * each, and the problem body that carries them. The api's exception filter is
 * the only place that turns a code into a status, through HTTP_ERRORS; the CLI
 * and the dashboard read the same codes.
 */
import { z } from 'zod';

/** Every code of a problem body, with its HTTP status and what it means. */
export const HTTP_ERRORS = {
  /** The request (body, query or path) is malformed; `details` lists each field. */
  VALIDATION_FAILED: { status: 400, meaning: 'the request is malformed' },
  /** A string of the request (path, query, body, form field, file name) holds NUL, a lone surrogate or non-UTF-8 bytes. */
  INVALID_TEXT: { status: 400, meaning: 'a string of the request is not storable text' },
  /** No token, or an unknown, revoked or expired one. */
  UNAUTHORIZED: { status: 401, meaning: 'no valid API token' },
  /** The token's role may not call the route. */
  FORBIDDEN: { status: 403, meaning: "the token's role may not call this route" },
  /** An agent token used for another agent than the one it belongs to (register, report, claim, heartbeat). */
  AGENT_IDENTITY_REFUSED: { status: 403, meaning: 'the agent token belongs to another agent' },
  /** An id, MAC or name that names nothing. */
  NOT_FOUND: { status: 404, meaning: 'nothing has this id' },
  /** The change collides with the current state (a board mid-flash, an ambiguous token prefix). */
  CONFLICT: { status: 409, meaning: 'the current state does not allow this' },
  /** The upload is larger than FLASHFARM_MAX_UPLOAD_MB. */
  PAYLOAD_TOO_LARGE: { status: 413, meaning: 'the upload is too large' },
  /** The firmware was refused by validation; `details` lists each problem with its code. */
  FIRMWARE_INVALID: { status: 422, meaning: 'the firmware is not flashable' },
  /** The firmware is referenced by jobs and is kept. */
  FIRMWARE_IN_USE: { status: 409, meaning: 'jobs reference the firmware' },
  /** The job has already ended. */
  JOB_NOT_CANCELLABLE: { status: 409, meaning: 'the job has already ended' },
  /** The idempotency key was used with another request. */
  IDEMPOTENCY_CONFLICT: { status: 409, meaning: 'the idempotency key belongs to another request' },
  /**
   * A reported board's MAC also answers on another live port (a cloned module, a second simulator): the
   * board is held in state `conflict` until one port goes away or an operator picks one; `details` names each.
   */
  DEVICE_CONFLICT: { status: 409, meaning: 'the MAC answers on two live ports' },
  /** A job pinned to a quarantined board: release the board or target a selector. */
  DEVICE_QUARANTINED: { status: 409, meaning: 'the board is quarantined' },
  /** An agent claimed a run the api no longer wants it to flash (ended, reassigned, job cancelled). */
  RUN_NOT_CLAIMABLE: { status: 409, meaning: 'the run is no longer this agent’s to flash' },
  /** The campaign's status does not allow the action (pause a stopped campaign, …). */
  CAMPAIGN_STATE: { status: 409, meaning: 'the campaign’s status does not allow this' },
  /** The firmware is built for another chip than the board or selector asks for. */
  CHIP_MISMATCH: { status: 422, meaning: 'the firmware is for another chip' },
  /** A job's options.bootCheck.pattern is not a safe RE2 pattern (boot-pattern.ts); `details` says why. */
  BOOT_CHECK_PATTERN_INVALID: { status: 422, meaning: 'the boot-check pattern is invalid or unsafe' },
  /** An "all" job whose selector matches no board online now. */
  NO_MATCHING_DEVICE: { status: 422, meaning: 'no board matches the selector' },
  /** A campaign webhook's url or secret was refused (http/https only, secret length); the message says which. */
  WEBHOOK_INVALID: { status: 422, meaning: 'the webhook url or secret is refused' },
  /** A campaign's per-unit data (NVS recipe, CSV) was refused: the message names the field or row and what to do. */
  UNIT_DATA_INVALID: { status: 422, meaning: 'the per-unit data recipe or CSV is refused' },
  /** A dependency (database, Redis) does not answer. */
  SERVICE_UNAVAILABLE: { status: 503, meaning: 'a dependency is down' },
  /** A bug; the api log has the details. */
  INTERNAL: { status: 500, meaning: 'an internal error' },
} as const satisfies Record<string, { status: number; meaning: string }>;

/** A code of a problem body. */
export type ApiErrorCode = keyof typeof HTTP_ERRORS;

/** Every problem code by name (`ApiErrorCode.NOT_FOUND`), so code reads as in the other code tables. */
export const ApiErrorCode = Object.fromEntries(Object.keys(HTTP_ERRORS).map((c) => [c, c])) as {
  readonly [C in ApiErrorCode]: C;
};

/** The HTTP status of every code. */
export function httpStatusOf(code: ApiErrorCode): number {
  return HTTP_ERRORS[code].status;
}

/** The code a status stands for when the HTTP framework itself refused a request (unknown route, unreadable JSON). */
export function codeOfHttpStatus(status: number): ApiErrorCode {
  const canonical: Partial<Record<number, ApiErrorCode>> = {
    400: 'VALIDATION_FAILED',
    401: 'UNAUTHORIZED',
    403: 'FORBIDDEN',
    404: 'NOT_FOUND',
    409: 'CONFLICT',
    413: 'PAYLOAD_TOO_LARGE',
    503: 'SERVICE_UNAVAILABLE',
  };
  return canonical[status] ?? (status < 500 ? 'VALIDATION_FAILED' : 'INTERNAL');
}

/** One problem with one field (or firmware part) of a request. */
export const ProblemDetail = z
  .object({
    field: z.string().describe('The field, query parameter or firmware part the problem is about'),
    message: z.string(),
    code: z.string().optional().describe("The validator's own code (firmware problems: BAD_CHECKSUM, …)"),
  })
  .strict();
/** One problem with one field (or firmware part) of a request. */
export type ProblemDetail = z.infer<typeof ProblemDetail>;

/** The JSON body of every 4xx/5xx answer of the api. */
export const ProblemBody = z
  .object({
    statusCode: z.number().int(),
    code: z.enum(Object.keys(HTTP_ERRORS) as [ApiErrorCode, ...ApiErrorCode[]]),
    message: z.string().describe('What was wrong and what to do'),
    details: z.array(ProblemDetail).optional(),
  })
  .strict();
/** The JSON body of every 4xx/5xx answer of the api. */
export type ProblemBody = z.infer<typeof ProblemBody>;

/**
 * The body of POST /jobs, after its schema (libs/contracts JobRequest) passed:
 * the Idempotency-Key header joined in, option defaults filled in, the target
 * and selector normalised, before anything touches the database.
 */
import type { z } from 'zod';
import {
  ApiErrorCode,
  bootPatternProblem,
  DEFAULT_FLASH_OPTIONS,
  JobRequest,
  type DeviceSelector,
  type FlashOptions,
  type JobTarget,
  type ProblemDetail,
} from '#contracts';

import { ApiError } from '../common/api-error.js';

/** A validated job with defaults filled in, as JobsService.create takes it. */
export interface NewJob {
  firmwareId: string;
  target: JobTarget;
  options: FlashOptions;
  priority: number;
  idempotencyKey?: string;
}

/** Longest idempotency key, header or body (the body's schema says the same). */
export const IDEMPOTENCY_KEY_MAX = 200;

/** The problems of a job, or the job. */
export type NewJobOrProblems = { ok: true; job: NewJob } | { ok: false; problems: ProblemDetail[] };

/** A job from a body its schema accepted, and the Idempotency-Key header (the body's key must agree). */
export function newJob(body: z.output<typeof JobRequest>, headerKey: string | undefined): NewJobOrProblems {
  const header = headerKey?.trim() || undefined;
  // The body's key is capped by its schema; the header used to be stored at any length.
  if (header && header.length > IDEMPOTENCY_KEY_MAX)
    return {
      ok: false,
      problems: [
        {
          field: 'Idempotency-Key',
          message: `is ${header.length} characters long; at most ${IDEMPOTENCY_KEY_MAX} (send a hash of a longer key)`,
        },
      ],
    };
  if (header && body.idempotencyKey && header !== body.idempotencyKey)
    return {
      ok: false,
      problems: [{ field: 'idempotencyKey', message: 'differs from the Idempotency-Key header' }],
    };
  const t = body.target;
  const target: JobTarget =
    'device' in t
      ? { kind: 'device', device: t.device }
      : 'count' in t
        ? { kind: 'selector', selector: normaliseSelector(t.selector), count: t.count }
        : { kind: 'all', selector: normaliseSelector(t.all) };
  const options: FlashOptions = { ...DEFAULT_FLASH_OPTIONS };
  for (const [key, value] of Object.entries(body.options ?? {}))
    if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value;
  return {
    ok: true,
    job: {
      firmwareId: body.firmwareId,
      target,
      options,
      priority: body.priority ?? 0,
      idempotencyKey: header ?? body.idempotencyKey,
    },
  };
}

/** Parses a body that has not been validated yet (campaigns build their units' jobs this way). */
export function parseNewJob(body: unknown, headerKey: string | undefined): NewJobOrProblems {
  const parsed = JobRequest.safeParse(body ?? {});
  if (!parsed.success)
    return {
      ok: false,
      problems: parsed.error.issues.map((issue) => ({
        field: issue.path.map(String).join('.') || 'body',
        message: issue.message,
      })),
    };
  return newJob(parsed.data, headerKey);
}

/** Selector with sorted, de-duplicated tags and no empty fields, so equal selectors compare equal. */
export function normaliseSelector(selector: DeviceSelector): DeviceSelector {
  const out: DeviceSelector = {};
  if (selector.chip) out.chip = selector.chip.toLowerCase();
  if (selector.pool) out.pool = selector.pool;
  if (selector.tags?.length) out.tags = [...new Set(selector.tags)].sort();
  return out;
}

/** Stable JSON (sorted keys) for comparing stored and requested jobs. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/**
 * 422 BOOT_CHECK_PATTERN_INVALID for a boot-check pattern the agents must not run (invalid, too long,
 * or catastrophic for a backtracking engine: libs/contracts boot-pattern.ts), or undefined.
 */
export function bootPatternError(options: Pick<FlashOptions, 'bootCheck'>): ApiError | undefined {
  const pattern = options.bootCheck?.pattern;
  const problem = pattern === undefined ? undefined : bootPatternProblem(pattern);
  if (!problem) return undefined;
  const message = `options.bootCheck.pattern ${problem}.`;
  return new ApiError(
    ApiErrorCode.BOOT_CHECK_PATTERN_INVALID,
    `The boot-check pattern was refused: ${message}`,
    [{ field: 'options.bootCheck.pattern', code: 'BOOT_CHECK_PATTERN_INVALID', message }],
  );
}

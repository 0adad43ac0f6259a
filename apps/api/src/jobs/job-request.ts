/**
 * The body of POST /jobs: parsed and normalised here, before anything touches
 * the database, so every malformed field is reported at once with its path.
 */
import { z } from 'zod';
import { DEFAULT_FLASH_OPTIONS, isUuid, type DeviceSelector, type FlashOptions } from '#contracts';

/** Data-phase bauds a job may ask for (the flasher falls back down from there). */
export const SUPPORTED_FLASH_BAUDS = [115_200, 230_400, 460_800, 921_600, 1_500_000, 2_000_000] as const;
/** Console bauds a boot check may read at (74 880 is the ESP8266 ROM's log rate). */
export const SUPPORTED_CONSOLE_BAUDS = [9_600, 57_600, 74_880, 115_200, 230_400, 460_800, 921_600] as const;
/** Slots a selector job may ask for. */
export const MAX_SELECTOR_COUNT = 1000;
/** Longest boot check a job may ask for. */
export const MAX_BOOT_CHECK_TIMEOUT_MS = 120_000;

const FLASH_FREQS = ['keep', '80m', '60m', '48m', '40m', '30m', '26m', '24m', '20m', '16m', '15m', '12m'];
const FLASH_SIZES = [
  'keep',
  'detect',
  '256KB',
  '512KB',
  '1MB',
  '2MB',
  '4MB',
  '8MB',
  '16MB',
  '32MB',
  '64MB',
  '128MB',
];

const selectorSchema = z
  .object({
    chip: z.string().trim().toLowerCase().min(1).optional(),
    pool: z.string().trim().min(1).optional(),
    tags: z.array(z.string().trim().min(1)).max(32).optional(),
  })
  .strict();

const targetSchema = z.union(
  [
    z.object({ device: z.string().trim().min(1, 'must name a device id or MAC') }).strict(),
    z
      .object({
        selector: selectorSchema,
        count: z
          .number()
          .int('must be a whole number')
          .min(1, 'must be 1 or more')
          .max(MAX_SELECTOR_COUNT, `must be at most ${MAX_SELECTOR_COUNT}`),
      })
      .strict(),
    z.object({ all: selectorSchema }).strict(),
  ],
  { message: 'must be { device }, { selector, count } or { all }' },
);

const baud = (allowed: readonly number[]) =>
  z
    .number()
    .int()
    .refine((b) => allowed.includes(b), `must be one of ${allowed.join(', ')}`);

const optionsSchema = z
  .object({
    verify: z.boolean().optional(),
    eraseAll: z.boolean().optional(),
    baud: baud(SUPPORTED_FLASH_BAUDS).optional(),
    skipUnchanged: z.boolean().optional(),
    flashMode: z.enum(['keep', 'qio', 'qout', 'dio', 'dout']).optional(),
    flashFreq: z.enum(FLASH_FREQS as [string, ...string[]]).optional(),
    flashSize: z.enum(FLASH_SIZES as [string, ...string[]]).optional(),
    bootCheck: z
      .object({
        pattern: z
          .string()
          .min(1)
          .max(1000)
          .refine((p) => {
            try {
              new RegExp(p);
              return true;
            } catch {
              return false;
            }
          }, 'must be a valid regular expression'),
        timeoutMs: z.number().int().min(100).max(MAX_BOOT_CHECK_TIMEOUT_MS),
        baud: baud(SUPPORTED_CONSOLE_BAUDS).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const bodySchema = z
  .object({
    firmwareId: z.string().refine(isUuid, 'must be a firmware id (UUID)'),
    target: targetSchema,
    options: optionsSchema.optional(),
    priority: z.number().int().min(-1000).max(1000).optional(),
    idempotencyKey: z.string().trim().min(1).max(200).optional(),
  })
  .strict();

/** Which boards a job targets, as the api stores it. */
export type ParsedTarget =
  | { kind: 'device'; device: string }
  | { kind: 'selector'; selector: DeviceSelector; count: number }
  | { kind: 'all'; selector: DeviceSelector };

/** A validated POST /jobs body with defaults filled in. */
export interface CreateJobRequest {
  firmwareId: string;
  target: ParsedTarget;
  options: FlashOptions;
  priority: number;
  idempotencyKey?: string;
}

/** A field-level problem, as the problem body lists it. */
export interface FieldProblem {
  field: string;
  message: string;
}

/** Parses the body (and the Idempotency-Key header); returns the request or every problem found. */
export function parseCreateJobRequest(
  body: unknown,
  headerKey: string | undefined,
): { ok: true; request: CreateJobRequest } | { ok: false; problems: FieldProblem[] } {
  const parsed = bodySchema.safeParse(body ?? {});
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((issue) => ({
        field: issue.path.map(String).join('.') || 'body',
        message: issue.message,
      })),
    };
  }
  const b = parsed.data;
  const header = headerKey?.trim() || undefined;
  if (header && b.idempotencyKey && header !== b.idempotencyKey)
    return {
      ok: false,
      problems: [{ field: 'idempotencyKey', message: 'differs from the Idempotency-Key header' }],
    };
  const t = b.target;
  const target: ParsedTarget =
    'device' in t
      ? { kind: 'device', device: t.device }
      : 'count' in t
        ? { kind: 'selector', selector: normaliseSelector(t.selector), count: t.count }
        : { kind: 'all', selector: normaliseSelector(t.all) };
  const options: FlashOptions = { ...DEFAULT_FLASH_OPTIONS };
  for (const [key, value] of Object.entries(b.options ?? {}))
    if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value;
  return {
    ok: true,
    request: {
      firmwareId: b.firmwareId,
      target,
      options,
      priority: b.priority ?? 0,
      idempotencyKey: header ?? b.idempotencyKey,
    },
  };
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

/**
 * What clients send to the api, once: a zod schema per request body and per
 * list query. The api validates with these schemas (every problem reported at
 * once, with its field), the OpenAPI document is generated from them, and
 * clients build their requests against the inferred types (`z.input`: what
 * may be sent, defaults left out).
 */
import { z } from 'zod';
import { MAX_BOOT_PATTERN_CHARS } from './boot-pattern.js';
import { isUuid, Uuid } from './ids.js';
import { MAX_PAGE_LIMIT, pageQuery } from './pagination.js';
import {
  CAMPAIGN_MODES,
  CAMPAIGN_UNIT_STATUSES,
  DEVICE_STATES,
  FARM_EVENT_TYPES,
  FIRMWARE_KINDS,
  JOB_STATUSES,
  TOKEN_ROLES,
} from './states.js';

/** Data-phase bauds a job may ask for (the flasher falls back down from there). */
export const SUPPORTED_FLASH_BAUDS = [115_200, 230_400, 460_800, 921_600, 1_500_000, 2_000_000] as const;
/** Console bauds a boot check may read at (74 880 is the ESP8266 ROM's log rate). */
export const SUPPORTED_CONSOLE_BAUDS = [9_600, 57_600, 74_880, 115_200, 230_400, 460_800, 921_600] as const;
/** Slots a selector job may ask for. */
export const MAX_SELECTOR_COUNT = 1000;
/** Longest boot check a job may ask for. */
export const MAX_BOOT_CHECK_TIMEOUT_MS = 120_000;

const FLASH_FREQS = [
  'keep',
  '80m',
  '60m',
  '48m',
  '40m',
  '30m',
  '26m',
  '24m',
  '20m',
  '16m',
  '15m',
  '12m',
] as const;
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
] as const;

/** A record id in a request. */
const RecordIdInput = (what: string) => z.string().refine(isUuid, `must be ${what} (UUID)`);

/** A selector as a request gives it (the chip is lower-cased; the api sorts and de-duplicates tags). */
const SelectorInput = z
  .object({
    chip: z.string().trim().toLowerCase().min(1).optional(),
    pool: z.string().trim().min(1).optional(),
    tags: z.array(z.string().trim().min(1)).max(32).optional(),
  })
  .strict();

const baud = (allowed: readonly number[]) =>
  z
    .number()
    .int()
    .refine((b) => allowed.includes(b), `must be one of ${allowed.join(', ')}`);

/** Flash options as a request gives them; omitted ones take DEFAULT_FLASH_OPTIONS. */
export const FlashOptionsInput = z
  .object({
    verify: z.boolean().optional(),
    eraseAll: z.boolean().optional(),
    baud: baud(SUPPORTED_FLASH_BAUDS).optional(),
    skipUnchanged: z.boolean().optional(),
    flashMode: z.enum(['keep', 'qio', 'qout', 'dio', 'dout']).optional(),
    flashFreq: z.enum(FLASH_FREQS).optional(),
    flashSize: z.enum(FLASH_SIZES).optional(),
    bootCheck: z
      .object({
        pattern: z
          .string()
          .min(1)
          .describe(
            `RE2 regular expression that JavaScript also parses (no backreferences or lookaround), at most ${MAX_BOOT_PATTERN_CHARS} characters, without a repeated group that repeats inside (such as (a+)+): ` +
              'one that is not is refused with 422 BOOT_CHECK_PATTERN_INVALID (see libs/contracts boot-pattern.ts).',
          ),
        timeoutMs: z.number().int().min(100).max(MAX_BOOT_CHECK_TIMEOUT_MS),
        baud: baud(SUPPORTED_CONSOLE_BAUDS).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** POST /jobs: which firmware, which boards, how. */
export const JobRequest = z
  .object({
    firmwareId: RecordIdInput('a firmware id'),
    target: z
      .union(
        [
          z.object({ device: z.string().trim().min(1, 'must name a device id or MAC') }).strict(),
          z
            .object({
              selector: SelectorInput,
              count: z
                .number()
                .int('must be a whole number')
                .min(1, 'must be 1 or more')
                .max(MAX_SELECTOR_COUNT, `must be at most ${MAX_SELECTOR_COUNT}`),
            })
            .strict(),
          z.object({ all: SelectorInput }).strict(),
        ],
        { message: 'must be { device }, { selector, count } or { all }' },
      )
      .describe(
        'One board (`{ device: <id or MAC> }`), N boards of a selector (`{ selector, count }`), or every ' +
          'matching board online now (`{ all: selector }`). The firmware decides the chip. A quarantined ' +
          'board is refused (409 DEVICE_QUARANTINED). A pinned board that is unplugged, whose agent is ' +
          'down, or that is quarantined after submission is waited for up to FLASHFARM_PINNED_REQUEUE_WAIT_MS; ' +
          'if it is not back (or released) by then, the run fails with DEVICE_GONE (or NO_USABLE_DEVICE).',
      ),
    options: FlashOptionsInput.optional(),
    priority: z
      .number()
      .int()
      .min(-1000)
      .max(1000)
      .optional()
      .describe('Higher runs first; equal priorities run in creation order (default 0).'),
    idempotencyKey: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .optional()
      .describe('Same as the Idempotency-Key header.'),
  })
  .strict();
/** POST /jobs as a client sends it. */
export type JobRequest = z.input<typeof JobRequest>;

/** POST /jobs/:id/cancel. */
export const CancelJobRequest = z.object({ reason: z.string().trim().min(1).max(500).optional() }).strict();
/** POST /jobs/:id/cancel. */
export type CancelJobRequest = z.input<typeof CancelJobRequest>;

/** GET /jobs: filters and page. */
export const ListJobsQuery = pageQuery(MAX_PAGE_LIMIT.jobs).extend({
  status: z.enum(JOB_STATUSES).optional(),
  firmwareId: RecordIdInput('a firmware id').optional(),
  requestedBy: z.string().trim().min(1).optional(),
});
/** GET /jobs: filters and page. */
export type ListJobsQuery = z.output<typeof ListJobsQuery>;

/** The largest line number of a run log (a PostgreSQL integer). */
export const MAX_LOG_SEQ = 2 ** 31 - 1;

/** GET /runs/:id/log: format and window. */
export const RunLogQuery = z.object({
  format: z.enum(['text', 'json']).optional().describe('text/plain by default, or Accept: application/json'),
  // Line numbers are PostgreSQL integers: a larger one names no line.
  afterSeq: z.coerce
    .number()
    .int()
    .min(0)
    .max(MAX_LOG_SEQ, `afterSeq must be at most ${MAX_LOG_SEQ}`)
    .default(0),
  limit: z.coerce.number().int().min(1).max(100_000).default(100_000),
});
/** GET /runs/:id/log. */
export type RunLogQuery = z.output<typeof RunLogQuery>;

/** A query parameter given as `tag=a&tag=b` or `tag=a,b`. */
const listParam = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (value) =>
      value === undefined
        ? undefined
        : (Array.isArray(value) ? value : [value])
            .flatMap((v) => String(v).split(','))
            .map((v) => v.trim())
            .filter(Boolean),
    z.array(item),
  );

/** Fields GET /devices can sort by; a leading "-" sorts descending. */
export const DEVICE_SORT_FIELDS = [
  'mac',
  'chip',
  'state',
  'label',
  'pool',
  'lastSeenAt',
  'lastRunAt',
  'createdAt',
] as const;
const DEVICE_SORTS = [...DEVICE_SORT_FIELDS, ...DEVICE_SORT_FIELDS.map((f) => `-${f}` as const)] as const;

/** GET /devices: filters, sort and page. */
export const ListDevicesQuery = pageQuery(MAX_PAGE_LIMIT.devices)
  .extend({
    chip: z.string().optional().describe('Chip family (esp32, esp32s3, ...)'),
    pool: z.string().optional(),
    tag: listParam(z.string())
      .optional()
      .describe('Repeatable (tag=a&tag=b) or comma-separated; a device must carry every tag'),
    state: listParam(z.enum(DEVICE_STATES, { message: `state must be one of: ${DEVICE_STATES.join(', ')}` }))
      .optional()
      .describe('Repeatable or comma-separated'),
    agent: z.string().optional().describe('Agent id or name holding the board now'),
    search: z.string().max(100).optional().describe('Part of the MAC (any separator) or of the label'),
    sort: z
      .enum(DEVICE_SORTS, {
        message: `sort must be one of: ${DEVICE_SORT_FIELDS.join(', ')} (prefix "-" for descending)`,
      })
      .optional()
      .describe(`Sort field, "-" prefix for descending (default mac): ${DEVICE_SORT_FIELDS.join(', ')}`),
  })
  .strict();
/** GET /devices. */
export type ListDevicesQuery = z.output<typeof ListDevicesQuery>;

/** GET /devices/:idOrMac/runs and …/attachments. */
export const DeviceHistoryQuery = pageQuery(MAX_PAGE_LIMIT.deviceHistory).strict();
/** GET /devices/:idOrMac/runs and …/attachments. */
export type DeviceHistoryQuery = z.output<typeof DeviceHistoryQuery>;

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;

/** PATCH /devices/:idOrMac. null clears a field. */
export const DevicePatch = z
  .object({
    pool: z
      .string()
      .max(100)
      .regex(NAME_RE, 'pool must start with a letter or digit and use only letters, digits and . _ : / -')
      .nullable()
      .optional()
      .describe('Pool name (letters, digits, . _ : / -)'),
    tags: z
      .array(
        z
          .string()
          .max(64)
          .regex(
            NAME_RE,
            'each tag must start with a letter or digit and use only letters, digits and . _ : / -',
          ),
      )
      .max(64)
      .optional()
      .describe('Replaces the tag list'),
    label: z.string().max(200).nullable().optional(),
    notes: z.string().max(10_000).nullable().optional(),
    resetSequence: z
      .string()
      .max(500)
      .nullable()
      .optional()
      .describe(
        'Custom reset sequence, e.g. D0|R1|W100|D1|R0|W50|D0 (D/R: DTR/RTS 0 or 1, U<dtr>,<rts>, W<ms>); null for automatic',
      ),
  })
  .strict();
/** PATCH /devices/:idOrMac. */
export type DevicePatch = z.input<typeof DevicePatch>;

/** POST /devices/:idOrMac/quarantine. */
export const QuarantineRequest = z
  .object({
    reason: z
      .string({ message: 'reason must be a string' })
      .min(1, 'reason must not be empty')
      .max(1000)
      .describe('Why the board is taken out of service'),
  })
  .strict();
/** POST /devices/:idOrMac/quarantine. */
export type QuarantineRequest = z.input<typeof QuarantineRequest>;

/** GET /firmware: filters and page. */
export const ListFirmwareQuery = pageQuery(MAX_PAGE_LIMIT.firmware)
  .extend({
    chip: z.string().optional().describe('Only firmware for this chip'),
    name: z.string().optional().describe('Name contains this text (case-insensitive)'),
    kind: z.enum(FIRMWARE_KINDS, { message: `kind must be one of: ${FIRMWARE_KINDS.join(', ')}` }).optional(),
  })
  .strict();
/** GET /firmware. */
export type ListFirmwareQuery = z.output<typeof ListFirmwareQuery>;

/** POST /firmware's query: force=true (admin, operator) stores a firmware that would not boot, on purpose. */
export const FirmwareUploadQuery = z
  .object({
    force: z
      .enum(['true', 'false'])
      .optional()
      .describe(
        'true (admin or operator only): store the firmware although the board would not boot it (bootloader without its magic, no or a broken partition table, bad checksum or SHA-256, no app); the problems are kept as warnings',
      ),
  })
  .strict();
/** POST /firmware's query. */
export type FirmwareUploadQuery = z.output<typeof FirmwareUploadQuery>;

/** The text fields of POST /firmware (multipart/form-data; the files travel as file fields). */
export const FirmwareUploadFields = z
  .object({
    name: z.string().optional().describe('Display name; defaults to the app descriptor project name'),
    version: z.string().optional().describe('Version; defaults to the app descriptor version'),
    chip: z
      .string()
      .optional()
      .describe('Expected chip (esp32, esp32s3, ...); images for another chip are refused'),
    parts: z
      .string()
      .optional()
      .describe(
        'With "files": JSON list placing each uploaded file, e.g. [{"offset":"0x1000","file":"bootloader.bin"},{"offset":"0x8000","file":"partition-table.bin"},{"offset":"0x10000","file":"app.bin"}]',
      ),
    offset: z
      .string()
      .optional()
      .describe('With a single raw part in "file": its flash offset (0x10000 or 65536)'),
  })
  .strict();
/** The text fields of POST /firmware. */
export type FirmwareUploadFields = z.output<typeof FirmwareUploadFields>;

/** POST /tokens. */
export const TokenRequest = z
  .object({
    name: z
      .string()
      .max(100)
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9._@:-]*$/,
        'name must start with a letter or digit and use only letters, digits and . _ @ : -',
      )
      .describe('Who or what uses the token'),
    role: z
      .enum(TOKEN_ROLES, { message: `role must be one of: ${TOKEN_ROLES.join(', ')}` })
      .describe('admin: everything; ci/operator: upload and flash; viewer: read; agent: the agent api'),
    expiresAt: z.iso
      .datetime({ offset: true, message: 'expiresAt must be an ISO 8601 date-time' })
      .optional()
      .describe('Expiry as an ISO 8601 date-time'),
    expiresInDays: z
      .number()
      .int()
      .min(1)
      .max(3650)
      .optional()
      .describe('Expiry in days from now (alternative to expiresAt)'),
    agent: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe(
        'Role agent only: the agent (by name) the token speaks for. Without it, the token is bound at its first registration.',
      ),
  })
  .strict();
/** POST /tokens. */
export type TokenRequest = z.input<typeof TokenRequest>;

/** GET /farm-events: newest first, optionally of one type, device or agent. */
export const ListFarmEventsQuery = pageQuery(MAX_PAGE_LIMIT.farmEvents)
  .extend({
    type: z
      .enum(FARM_EVENT_TYPES, { message: `type must be one of: ${FARM_EVENT_TYPES.join(', ')}` })
      .optional(),
    deviceId: Uuid.optional(),
    agentId: Uuid.optional(),
  })
  .strict();
/** GET /farm-events. */
export type ListFarmEventsQuery = z.output<typeof ListFarmEventsQuery>;

/**
 * POST /devices/:idOrMac/resolve-conflict — an operator says which port holds the real board. The other
 * ports' stays are closed and refused: what answers there is ignored until its agent reports the port empty.
 */
export const ResolveConflictRequest = z
  .object({
    agent: z.string().min(1).max(200).describe('Agent (id or name) of the port to keep'),
    portPath: z.string().min(1).max(500).describe('The port to keep'),
  })
  .strict();
/** POST /devices/:idOrMac/resolve-conflict. */
export type ResolveConflictRequest = z.infer<typeof ResolveConflictRequest>;

/** GET /tokens. */
export const ListTokensQuery = z.object({
  includeRevoked: z.enum(['true', 'false', '1', '0']).optional().describe('List revoked tokens too'),
});
/** GET /tokens. */
export type ListTokensQuery = z.output<typeof ListTokensQuery>;

/** NVS value types a per-unit recipe may use (libs/esp nvs). */
export const NVS_RECIPE_TYPES = [
  'u8',
  'i8',
  'u16',
  'i16',
  'u32',
  'i32',
  'u64',
  'i64',
  'string',
  'blob',
] as const;

/**
 * One key of a per-unit NVS recipe. `value` is a literal or a template: `{serial}` (the unit's
 * serial number), `{mac}` (aa:bb:cc:dd:ee:ff), `{mac_hex}` (aabbccddeeff) and `{csv:COLUMN}` (the
 * unit's CSV row; COLUMN without its ":secret" suffix); `{{` and `}}` are literal braces. Integers
 * take the filled-in text as decimal or 0x hex. A blob's text is decoded by `encoding`.
 */
export const NvsRecipeEntry = z
  .object({
    key: z.string().min(1).max(15).describe('NVS key (at most 15 bytes)'),
    type: z.enum(NVS_RECIPE_TYPES, { message: `type must be one of: ${NVS_RECIPE_TYPES.join(', ')}` }),
    value: z
      .union([z.string().max(8192), z.number().int()])
      .describe('A literal, or a template with {serial}, {mac}, {mac_hex}, {csv:COLUMN}'),
    encoding: z
      .enum(['text', 'hex', 'base64'])
      .optional()
      .describe('How a blob value is decoded (text: its UTF-8 bytes; default)'),
  })
  .strict();
/** One key of a per-unit NVS recipe. */
export type NvsRecipeEntry = z.infer<typeof NvsRecipeEntry>;

/** The NVS part of a campaign's per-unit data: written at the firmware's nvs partition in the same flash session. */
export const NvsUnitRecipe = z
  .object({
    partition: z
      .string()
      .min(1)
      .max(16)
      .optional()
      .describe(
        'Label of the data/nvs partition in the firmware\'s partition table (default: "nvs", else the only nvs one)',
      ),
    version: z
      .union([z.literal(1), z.literal(2)])
      .optional()
      .describe('NVS format version (default 2)'),
    namespaces: z
      .array(
        z
          .object({
            name: z.string().min(1).max(15),
            entries: z.array(NvsRecipeEntry).min(1).max(500),
          })
          .strict(),
      )
      .min(1)
      .max(254),
  })
  .strict();
/** The NVS part of a campaign's per-unit data. */
export type NvsUnitRecipe = z.infer<typeof NvsUnitRecipe>;

/** A campaign's per-unit data recipe. */
export const CampaignUnitData = z
  .object({
    serialPattern: z
      .string()
      .min(1)
      .max(200)
      .optional()
      .describe('Serial number pattern with a counter, e.g. FF-{yyww}-{seq:06}; one serial per unit'),
    timeZone: z.string().min(1).max(100).optional().describe('IANA time zone of the date fields (UTC)'),
    nvs: NvsUnitRecipe.optional(),
    csv: z
      .object({
        secretColumns: z
          .array(z.string().min(1).max(64))
          .max(64)
          .optional()
          .describe('CSV columns whose values are secrets (as well as those whose header ends in ":secret")'),
      })
      .strict()
      .optional()
      .describe('How the CSV uploaded with POST /campaigns/:id/csv is read'),
  })
  .strict();
/** A campaign's per-unit data recipe. */
export type CampaignUnitData = z.infer<typeof CampaignUnitData>;

/** Operator names recorded on units: 1–64 characters, no control characters. */
export const OperatorName = z
  .string()
  .trim()
  .min(1, { message: 'operator must be 1 to 64 characters' })
  .max(64, { message: 'operator must be 1 to 64 characters' })
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f\u007f-\u009f]*$/, { message: 'operator must not contain control characters' });

/** POST /campaigns. */
export const CampaignRequest = z
  .object({
    name: z.string().trim().min(1).max(200),
    firmwareId: RecordIdInput('a firmware id'),
    mode: z.enum(CAMPAIGN_MODES),
    selector: z
      .object({
        pool: z.string().trim().min(1).optional(),
        tags: z.array(z.string().trim().min(1)).max(32).optional(),
      })
      .strict()
      .default({}),
    options: z.record(z.string(), z.unknown()).optional().describe('Flash options, as for POST /jobs'),
    unitData: CampaignUnitData.optional().describe(
      'Per-unit data: a serial number allocated to each unit (never reused), values from an uploaded CSV, and an NVS partition generated per unit',
    ),
  })
  .strict();
/** POST /campaigns. */
export type CampaignRequest = z.input<typeof CampaignRequest>;

/** POST /stations/:id/next: start a new fixture cycle now (the station is a station-mode campaign). */
export const StationNextRequest = z
  .object({
    slot: z
      .string()
      .trim()
      .min(1)
      .max(1024)
      .optional()
      .describe('One fixture slot (the port, as the agent names it); every slot when absent'),
    operator: OperatorName.optional().describe(
      'The operator at the station: recorded on this and the following units (as POST /stations/:id/operator)',
    ),
  })
  .strict();
/** POST /stations/:id/next. */
export type StationNextRequest = z.input<typeof StationNextRequest>;

/** POST /stations/:id/operator: the operator name recorded on the station's following units. */
export const StationOperatorRequest = z.object({ operator: OperatorName }).strict();
/** POST /stations/:id/operator. */
export type StationOperatorRequest = z.input<typeof StationOperatorRequest>;

/** GET /campaigns. */
export const ListCampaignsQuery = pageQuery(MAX_PAGE_LIMIT.campaigns);
/** GET /campaigns. */
export type ListCampaignsQuery = z.output<typeof ListCampaignsQuery>;

/** GET /campaigns/:id/units. */
export const CampaignUnitsQuery = pageQuery(MAX_PAGE_LIMIT.campaignUnits).extend({
  status: z.enum(CAMPAIGN_UNIT_STATUSES).optional(),
});
/** GET /campaigns/:id/units. */
export type CampaignUnitsQuery = z.output<typeof CampaignUnitsQuery>;

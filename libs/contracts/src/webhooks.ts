/**
 * A campaign's webhook: the receiver (label printer, MES) every finished
 * unit's record is POSTed to, signed with a shared secret, and the log of
 * each delivery's attempts. The secret is write-only: no answer carries it.
 */
import { z } from 'zod';
import { Instant } from './api-views.js';
import { Uuid } from './ids.js';
import { pageOf, pageQuery } from './pagination.js';

/** Shortest secret: an HMAC key a receiver can guess is no signature. */
export const WEBHOOK_SECRET_MIN = 16;
/** Longest secret (HMAC-SHA256 hashes longer keys first; more adds nothing). */
export const WEBHOOK_SECRET_MAX = 256;
/** Longest receiver URL. */
export const WEBHOOK_URL_MAX = 2048;
/** Page size limit of the delivery log. */
export const MAX_WEBHOOK_DELIVERY_PAGE = 200;

/** The event of a delivery: a unit's record is final (PASS or FAIL). */
export const WEBHOOK_UNIT_EVENT = 'unit.finished' as const;

/** Headers of every delivery. */
export const WEBHOOK_HEADERS = {
  event: 'X-Flashfarm-Event',
  delivery: 'X-Flashfarm-Delivery',
  /** Milliseconds since the epoch, as decimal text; part of what is signed, so a replay can be refused. */
  timestamp: 'X-Flashfarm-Timestamp',
  /** `sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret>`. */
  signature: 'X-Flashfarm-Signature',
} as const;

/** PUT /campaigns/:id/webhook. */
export const WebhookRequest = z
  .object({
    url: z
      .string({ message: 'url must be a string' })
      .trim()
      .max(WEBHOOK_URL_MAX, `url must be at most ${WEBHOOK_URL_MAX} characters`)
      .refine((text) => {
        try {
          const u = new URL(text);
          return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
        } catch {
          return false;
        }
      }, 'url must be an absolute http:// or https:// URL (e.g. https://mes.example/flashfarm)')
      .describe('Where each finished unit record is POSTed (http or https)'),
    secret: z
      .string({ message: 'secret must be a string' })
      .min(WEBHOOK_SECRET_MIN, `secret must be at least ${WEBHOOK_SECRET_MIN} characters`)
      .max(WEBHOOK_SECRET_MAX, `secret must be at most ${WEBHOOK_SECRET_MAX} characters`)
      .describe('The HMAC-SHA256 key of X-Flashfarm-Signature; write-only: never answered back'),
    enabled: z.boolean({ message: 'enabled must be true or false' }).default(true),
  })
  .strict();
/** PUT /campaigns/:id/webhook. */
export type WebhookRequest = z.input<typeof WebhookRequest>;

/** A campaign's webhook as the api answers it (never with the secret). */
export const WebhookView = z
  .object({
    campaignId: Uuid,
    url: z.string(),
    enabled: z.boolean(),
    createdBy: z.string(),
    createdAt: Instant,
    updatedAt: Instant,
  })
  .strict();
/** A campaign's webhook as the api answers it. */
export type WebhookView = z.infer<typeof WebhookView>;

/** Delivery states: queued (attempts left), delivered (a 2xx answer), failed (every attempt failed). */
export const WEBHOOK_DELIVERY_STATUSES = ['queued', 'delivered', 'failed'] as const;

/** One HTTP attempt of a delivery. */
export const WebhookAttemptView = z
  .object({
    attempt: z.number().int().min(1),
    httpStatus: z.number().int().nullable().describe("The receiver's status; null when it never answered"),
    error: z.string().nullable().describe('Why the attempt failed (non-2xx, timeout, refused)'),
    durationMs: z.number().int().min(0),
    at: Instant,
  })
  .strict();
/** One HTTP attempt of a delivery. */
export type WebhookAttemptView = z.infer<typeof WebhookAttemptView>;

/** One unit record's delivery and its attempts, oldest first. */
export const WebhookDeliveryView = z
  .object({
    id: Uuid,
    campaignId: Uuid,
    unitId: Uuid,
    event: z.string(),
    status: z.enum(WEBHOOK_DELIVERY_STATUSES),
    redeliveryOf: Uuid.nullable().describe('The delivery this one sends again'),
    createdAt: Instant,
    finishedAt: Instant.nullable(),
    attempts: z.array(WebhookAttemptView),
  })
  .strict();
/** One unit record's delivery and its attempts. */
export type WebhookDeliveryView = z.infer<typeof WebhookDeliveryView>;

/** A page of the delivery log, newest first. */
export const WebhookDeliveryPage = pageOf(WebhookDeliveryView);

/** GET /campaigns/:id/webhook/deliveries. */
export const WebhookDeliveriesQuery = pageQuery(MAX_WEBHOOK_DELIVERY_PAGE)
  .extend({ status: z.enum(WEBHOOK_DELIVERY_STATUSES).optional() })
  .strict();
/** GET /campaigns/:id/webhook/deliveries. */
export type WebhookDeliveriesQuery = z.output<typeof WebhookDeliveriesQuery>;

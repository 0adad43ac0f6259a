/**
 * Campaign webhooks: each finished unit record is written as a delivery row
 * and handed to a BullMQ queue; a worker in this process POSTs it, signed,
 * with a bounded timeout per attempt and exponential back-off between
 * attempts, logging every attempt. The campaign pass only writes the row and
 * hands it over without waiting, so a slow, failing or absent receiver never
 * holds a unit, a board or the next cycle.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  ApiErrorCode,
  WEBHOOK_HEADERS,
  WEBHOOK_UNIT_EVENT,
  type Page,
  type UnitRecord,
  type WebhookDeliveriesQuery,
  type WebhookDeliveryView,
  type WebhookRequest,
  type WebhookView,
} from '#contracts';
import type { z } from 'zod';
import type { ApiConfig } from '../config/api-config.js';
import { ApiError } from '../common/api-error.js';
import { page } from '../common/page.js';
import { recordId } from '../common/record-id.js';
import type { PrismaClient } from '../db/generated/prisma/client.js';
import type { CampaignWebhook, WebhookAttempt, WebhookDelivery } from '../db/generated/prisma/client.js';
import { API_CONFIG, PRISMA, REDIS } from '../infra/tokens.js';
import { signWebhook } from './signature.js';
import { closeWithin } from '../infra/bounded-close.js';

/** The BullMQ queue of webhook deliveries (one job per delivery; BullMQ keeps the retries). */
export const WEBHOOK_QUEUE = 'ff-webhooks';

/** How often queued deliveries are handed to the queue again, and how old they must be by then. */
const SWEEP_MS = 30_000;

interface DeliveryJob {
  deliveryId: string;
}

@Injectable()
export class WebhooksService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('webhooks');
  private queue?: Queue<DeliveryJob>;
  private worker?: Worker<DeliveryJob>;
  private workerConnection?: Redis;
  private sweeper?: NodeJS.Timeout;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  onModuleInit(): void {
    this.queue = new Queue<DeliveryJob>(WEBHOOK_QUEUE, { connection: this.redis });
    this.queue.on('error', () => {}); // Redis outages are /health's to report
    // A worker blocks its connection waiting for jobs: it gets its own.
    this.workerConnection = this.redis.duplicate();
    this.workerConnection.on('error', () => {});
    this.worker = new Worker<DeliveryJob>(WEBHOOK_QUEUE, (job) => this.attempt(job), {
      connection: this.workerConnection,
      concurrency: this.config.webhooks.concurrency,
    });
    this.worker.on('error', (error) => this.logger.warn(`webhook worker: ${error.message}`));
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  /**
   * Hands queued deliveries older than the sweep period to the queue again: one whose job never
   * reached Redis (Redis was down when the unit finished) is sent; for one whose job is waiting,
   * retrying or running, adding the same job id is a no-op in BullMQ. Every replica may run it.
   */
  async sweep(olderThan = new Date(Date.now() - SWEEP_MS)): Promise<number> {
    try {
      const stale = await this.prisma.webhookDelivery.findMany({
        where: { status: 'queued', createdAt: { lt: olderThan } },
        select: { id: true },
        orderBy: { createdAt: 'asc' },
        take: 500,
      });
      for (const d of stale) await this.enqueue(d.id);
      return stale.length;
    } catch (error) {
      this.logger.warn(`webhook sweep: ${error instanceof Error ? error.message : String(error)}`);
      return 0;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.sweeper);
    // Bounded: with Redis unreachable, BullMQ's close waits for its connection forever.
    if (this.worker) await closeWithin(this.worker);
    if (this.queue) await closeWithin(this.queue);
    this.workerConnection?.disconnect();
  }

  /** PUT /campaigns/:id/webhook */
  async put(campaignId: string, body: z.output<typeof WebhookRequest>, by: string): Promise<WebhookView> {
    await this.findCampaign(campaignId);
    const data = { url: body.url, secret: body.secret, enabled: body.enabled };
    const hook = await this.prisma.campaignWebhook.upsert({
      where: { campaignId },
      create: { campaignId, createdBy: by, ...data },
      update: data,
    });
    this.logger.log(`campaign ${campaignId}: webhook ${hook.enabled ? 'set' : 'set, disabled'} by ${by}`);
    return webhookView(hook);
  }

  /** GET /campaigns/:id/webhook */
  async get(campaignId: string): Promise<WebhookView> {
    return webhookView(await this.findHook(campaignId));
  }

  /** DELETE /campaigns/:id/webhook: deliveries still queued end failed, with the reason. */
  async remove(campaignId: string): Promise<void> {
    await this.findHook(campaignId);
    await this.prisma.campaignWebhook.delete({ where: { campaignId } });
  }

  /** GET /campaigns/:id/webhook/deliveries: newest first, each with its attempts. */
  async deliveries(campaignId: string, query: WebhookDeliveriesQuery): Promise<Page<WebhookDeliveryView>> {
    await this.findCampaign(campaignId);
    const where = { campaignId, ...(query.status ? { status: query.status } : {}) };
    const [rows, total] = await Promise.all([
      this.prisma.webhookDelivery.findMany({
        where,
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        skip: query.offset,
        take: query.limit,
        include: { attemptsLog: { orderBy: { attempt: 'asc' } } },
      }),
      this.prisma.webhookDelivery.count({ where }),
    ]);
    return page(rows.map(deliveryView), total, query);
  }

  /** POST /campaigns/:id/webhook/deliveries/:deliveryId/redeliver: the same body, as a new delivery. */
  async redeliver(campaignId: string, deliveryId: string): Promise<WebhookDeliveryView> {
    await this.findCampaign(campaignId);
    const original = await this.prisma.webhookDelivery.findFirst({
      where: { id: recordId('Webhook delivery', deliveryId), campaignId },
    });
    if (!original) throw ApiError.notFound('Webhook delivery', deliveryId);
    const hook = await this.prisma.campaignWebhook.findUnique({ where: { campaignId } });
    if (!hook?.enabled)
      throw new ApiError(
        ApiErrorCode.CONFLICT,
        `Campaign ${campaignId} has no enabled webhook to deliver to; set one with PUT /campaigns/${campaignId}/webhook first.`,
      );
    const delivery = await this.prisma.webhookDelivery.create({
      data: {
        campaignId,
        unitId: original.unitId,
        event: original.event,
        body: original.body,
        redeliveryOf: original.id,
      },
      include: { attemptsLog: true },
    });
    await this.enqueue(delivery.id);
    return deliveryView(delivery);
  }

  /**
   * A unit's record is final: queue its delivery when the campaign has an enabled hook. Callers do
   * not await this (see the file's comment); it never throws.
   */
  async unitFinished(record: UnitRecord): Promise<void> {
    try {
      const hook = await this.prisma.campaignWebhook.findUnique({
        where: { campaignId: record.campaignId },
        select: { enabled: true },
      });
      if (!hook?.enabled) return;
      const delivery = await this.prisma.webhookDelivery.create({
        data: {
          campaignId: record.campaignId,
          unitId: record.unitId,
          event: WEBHOOK_UNIT_EVENT,
          body: JSON.stringify(record),
        },
      });
      await this.enqueue(delivery.id);
    } catch (error) {
      this.logger.warn(
        `unit ${record.unitId}: webhook delivery not queued: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }

  private async enqueue(deliveryId: string): Promise<void> {
    const { attempts, backoffMs } = this.config.webhooks;
    await this.queue!.add(
      WEBHOOK_UNIT_EVENT,
      { deliveryId },
      {
        jobId: deliveryId,
        attempts,
        backoff: { type: 'exponential', delay: backoffMs },
        // The delivery log is in the database; the queue keeps nothing once a delivery ended.
        removeOnComplete: true,
        removeOnFail: true,
      },
    );
  }

  /** One attempt of a delivery; throws to have BullMQ try again after the back-off. */
  private async attempt(job: Job<DeliveryJob>): Promise<void> {
    const { timeoutMs, attempts } = this.config.webhooks;
    const delivery = await this.prisma.webhookDelivery.findUnique({ where: { id: job.data.deliveryId } });
    if (delivery?.status !== 'queued') return;
    const attempt = job.attemptsMade + 1;
    const last = attempt >= (job.opts.attempts ?? attempts);
    const hook = await this.prisma.campaignWebhook.findUnique({ where: { campaignId: delivery.campaignId } });
    if (!hook?.enabled) {
      await this.log(delivery.id, attempt, null, 'the campaign has no enabled webhook any more', 0);
      await this.finish(delivery.id, 'failed');
      return;
    }
    const timestamp = String(Date.now());
    const started = performance.now();
    let httpStatus: number | null = null;
    let error: string | null = null;
    try {
      const answer = await fetch(hook.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'flashfarm-webhooks',
          [WEBHOOK_HEADERS.event]: delivery.event,
          [WEBHOOK_HEADERS.delivery]: delivery.id,
          [WEBHOOK_HEADERS.timestamp]: timestamp,
          [WEBHOOK_HEADERS.signature]: signWebhook(hook.secret, timestamp, delivery.body),
        },
        body: delivery.body,
        // A redirect would resend the signed record to a place nobody configured.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      httpStatus = answer.status;
      await answer.body?.cancel().catch(() => {}); // the receiver's body is not read
      if (answer.status < 200 || answer.status > 299) error = `the receiver answered HTTP ${answer.status}`;
    } catch (cause) {
      error = describeFailure(cause, timeoutMs);
    }
    await this.log(delivery.id, attempt, httpStatus, error, Math.round(performance.now() - started));
    if (!error) return this.finish(delivery.id, 'delivered');
    if (last) {
      await this.finish(delivery.id, 'failed');
      this.logger.warn(
        `delivery ${delivery.id} to campaign ${delivery.campaignId}'s webhook failed: ${error}`,
      );
      return;
    }
    throw new Error(error);
  }

  private async log(
    deliveryId: string,
    attempt: number,
    httpStatus: number | null,
    error: string | null,
    durationMs: number,
  ): Promise<void> {
    // skipDuplicates: an attempt re-run after a stalled worker keeps the first log line of its number.
    await this.prisma.webhookAttempt.createMany({
      data: [{ deliveryId, attempt, httpStatus, error, durationMs }],
      skipDuplicates: true,
    });
  }

  private async finish(id: string, status: 'delivered' | 'failed'): Promise<void> {
    await this.prisma.webhookDelivery.updateMany({
      where: { id, status: 'queued' },
      data: { status, finishedAt: new Date() },
    });
  }

  private async findCampaign(id: string): Promise<void> {
    const found = await this.prisma.campaign.findUnique({
      where: { id: recordId('Campaign', id) },
      select: { id: true },
    });
    if (!found) throw ApiError.notFound('Campaign', id);
  }

  private async findHook(campaignId: string): Promise<CampaignWebhook> {
    await this.findCampaign(campaignId);
    const hook = await this.prisma.campaignWebhook.findUnique({ where: { campaignId } });
    if (!hook)
      throw new ApiError(
        ApiErrorCode.NOT_FOUND,
        `Campaign ${campaignId} has no webhook; set one with PUT /campaigns/${campaignId}/webhook.`,
      );
    return hook;
  }
}

/** Why an attempt got no answer, in plain words (timeout, refused, unknown host...). */
function describeFailure(cause: unknown, timeoutMs: number): string {
  // Duck-typed: fetch's errors may come from another realm than this module's Error.
  const error = cause as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (error?.name === 'TimeoutError' || error?.name === 'AbortError')
    return `no answer within ${timeoutMs} ms (FLASHFARM_WEBHOOK_TIMEOUT_MS)`;
  const inner = error?.cause;
  if (inner?.code)
    return `could not reach the receiver: ${inner.code}${inner.message ? ` (${inner.message})` : ''}`;
  return `could not reach the receiver: ${error?.message ?? String(cause)}`;
}

function webhookView(hook: CampaignWebhook): WebhookView {
  return {
    campaignId: hook.campaignId,
    url: hook.url,
    enabled: hook.enabled,
    createdBy: hook.createdBy,
    createdAt: hook.createdAt.toISOString(),
    updatedAt: hook.updatedAt.toISOString(),
  };
}

function deliveryView(d: WebhookDelivery & { attemptsLog: WebhookAttempt[] }): WebhookDeliveryView {
  return {
    id: d.id,
    campaignId: d.campaignId,
    unitId: d.unitId,
    event: d.event,
    status: d.status,
    redeliveryOf: d.redeliveryOf,
    createdAt: d.createdAt.toISOString(),
    finishedAt: d.finishedAt?.toISOString() ?? null,
    attempts: d.attemptsLog.map((a) => ({
      attempt: a.attempt,
      httpStatus: a.httpStatus,
      error: a.error,
      durationMs: a.durationMs,
      at: a.at.toISOString(),
    })),
  };
}

import { Inject, Injectable } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { CampaignsService } from '../campaigns/campaigns.service.js';
import type { PrismaClient } from '../db/generated/prisma/client.js';
import { SseStreams } from '../events/sse-streams.js';
import { AgentEventsConsumer } from '../runs/agent-events.consumer.js';
import { PRISMA } from '../infra/tokens.js';
import { SchedulerService } from '../scheduler/scheduler.service.js';

/** Upper bounds (seconds) of the flash duration buckets: a small app at 921600 baud to a 16 MB erase-and-write. */
export const FLASH_DURATION_BUCKETS_S = [1, 2, 5, 10, 20, 30, 60, 120, 300, 600];
/** Upper bounds (seconds) of the HTTP latency buckets. */
const HTTP_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** Scrapes within this time share one set of database queries. */
const SNAPSHOT_TTL_MS = 2_000;

/**
 * Prometheus metrics: farm state (runs, queue, devices, agents, flash
 * durations and bytes) read from the database at scrape time with a few
 * grouped queries, plus this process's HTTP traffic and Node runtime.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  private snapshot?: { at: number; text: Promise<string> };

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    streams: SseStreams,
    private readonly moduleRef: ModuleRef,
  ) {
    collectDefaultMetrics({ register: this.registry, prefix: 'flashfarm_api_' });
    new Gauge({
      name: 'flashfarm_sse_streams_open',
      help: 'Event streams (SSE) open on this api process: dashboards, CLI --wait/--follow',
      registers: [this.registry],
      collect() {
        this.set(streams.size);
      },
    });
    // Read from the services when scraped (resolved then, so this module imports none of theirs): tests
    // and operators see the loops turn instead of guessing from time.
    const passes = (read: () => number | undefined) =>
      function (this: Counter) {
        this.reset();
        this.inc(read() ?? 0);
      };
    new Counter({
      name: 'flashfarm_scheduler_passes_total',
      help: 'Scheduling passes (recovery and binding) this api process completed',
      registers: [this.registry],
      collect: passes(() => this.service(SchedulerService)?.passes),
    });
    new Counter({
      name: 'flashfarm_campaign_passes_total',
      help: 'Campaign passes (units discovered, started and closed) this api process completed',
      registers: [this.registry],
      collect: passes(() => this.service(CampaignsService)?.passes),
    });
    new Counter({
      name: 'flashfarm_agent_events_trimmed_total',
      help: 'Agent events removed from the Redis stream after every replica acknowledged them',
      registers: [this.registry],
      collect: passes(() => this.service(AgentEventsConsumer)?.trimmed),
    });
    new Counter({
      name: 'flashfarm_agent_events_trim_passes_total',
      help: 'Trim passes over the agent event stream this api process completed',
      registers: [this.registry],
      collect: passes(() => this.service(AgentEventsConsumer)?.trimPasses),
    });
    this.httpRequests = new Counter({
      name: 'flashfarm_http_requests_total',
      help: 'HTTP requests answered by this api process',
      labelNames: ['method', 'route', 'status'],
      registers: [this.registry],
    });
    this.httpDuration = new Histogram({
      name: 'flashfarm_http_request_duration_seconds',
      help: 'HTTP request latency of this api process',
      labelNames: ['method', 'route'],
      buckets: HTTP_BUCKETS_S,
      registers: [this.registry],
    });
  }

  private service<T>(type: new (...args: never[]) => T): T | undefined {
    try {
      return this.moduleRef.get(type, { strict: false });
    } catch {
      return undefined; // an app assembled without it
    }
  }

  /** The exposition text (Prometheus format 0.0.4). */
  async render(): Promise<string> {
    const now = Date.now();
    if (!this.snapshot || now - this.snapshot.at > SNAPSHOT_TTL_MS) {
      const text = this.farmMetrics();
      this.snapshot = { at: now, text };
      text.catch(() => (this.snapshot = undefined));
    }
    const [farm, process] = await Promise.all([this.snapshot.text, this.registry.metrics()]);
    return `${farm}${process}`;
  }

  /** Content type of the exposition text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  private async farmMetrics(): Promise<string> {
    const farm = new Registry();
    const [runs, failures, devices, agents, durations] = await Promise.all([
      this.prisma.run.groupBy({ by: ['status'], _count: true }),
      this.prisma.run.groupBy({ by: ['errorCode'], where: { status: 'failed' }, _count: true }),
      this.prisma.device.groupBy({ by: ['state', 'chip'], _count: true }),
      this.prisma.agent.groupBy({ by: ['status'], _count: true }),
      this.durationBuckets(),
    ]);
    const gauge = (name: string, help: string, labelNames: string[]) =>
      new Gauge({ name, help, labelNames, registers: [farm] });

    const runGauge = gauge('flashfarm_runs', 'Runs by status', ['status']);
    for (const status of ['queued', 'dispatched', 'running', 'succeeded', 'failed', 'cancelled'])
      runGauge.set({ status }, 0);
    for (const r of runs) runGauge.set({ status: r.status }, r._count);
    gauge('flashfarm_queue_depth', 'Runs waiting for a board (status queued)', []).set(
      runs.find((r) => r.status === 'queued')?._count ?? 0,
    );
    const failureGauge = gauge('flashfarm_run_failures', 'Failed runs by error code', ['error_code']);
    for (const f of failures) failureGauge.set({ error_code: f.errorCode ?? 'UNKNOWN' }, f._count);
    const deviceGauge = gauge('flashfarm_devices', 'Devices by state and chip', ['state', 'chip']);
    for (const d of devices) deviceGauge.set({ state: d.state, chip: d.chip }, d._count);
    const agentGauge = gauge('flashfarm_agents', 'Agents by status', ['status']);
    for (const status of ['online', 'draining', 'offline']) agentGauge.set({ status }, 0);
    for (const a of agents) agentGauge.set({ status: a.status }, a._count);
    const bytes = gauge('flashfarm_flashed_bytes', 'Bytes written by finished runs', ['status']);
    for (const d of durations) bytes.set({ status: d.status }, d.bytes);

    return `${await farm.metrics()}\n${this.durationText(durations)}`;
  }

  /** One pass over finished runs: bucket counts, sum and count of durations, bytes written. */
  private async durationBuckets() {
    const rows = await this.prisma.$queryRawUnsafe<Array<Record<string, unknown>>>(`
      SELECT "status"::text AS status,
             ${FLASH_DURATION_BUCKETS_S.map((b, i) => `count(*) FILTER (WHERE d <= ${b}) AS b${i}`).join(', ')},
             count(*) AS n, coalesce(sum(d), 0) AS total, coalesce(sum("bytesWritten"), 0) AS bytes
      FROM (SELECT "status", "bytesWritten", extract(epoch FROM "finishedAt" - "startedAt")::float8 AS d
            FROM "Run"
            WHERE "status" IN ('succeeded', 'failed') AND "startedAt" IS NOT NULL AND "finishedAt" IS NOT NULL) r
      GROUP BY "status"`);
    return rows.map((r) => ({
      status: String(r.status),
      buckets: FLASH_DURATION_BUCKETS_S.map((_, i) => Number(r[`b${i}`])),
      count: Number(r.n),
      sum: Number(r.total),
      bytes: Number(r.bytes),
    }));
  }

  private durationText(rows: Awaited<ReturnType<MetricsService['durationBuckets']>>): string {
    const name = 'flashfarm_flash_duration_seconds';
    const lines = [`# HELP ${name} Duration of finished runs, start to finish`, `# TYPE ${name} histogram`];
    for (const r of rows) {
      FLASH_DURATION_BUCKETS_S.forEach((b, i) =>
        lines.push(`${name}_bucket{le="${b}",status="${r.status}"} ${r.buckets[i]}`),
      );
      lines.push(`${name}_bucket{le="+Inf",status="${r.status}"} ${r.count}`);
      lines.push(`${name}_sum{status="${r.status}"} ${r.sum}`);
      lines.push(`${name}_count{status="${r.status}"} ${r.count}`);
    }
    return `${lines.join('\n')}\n\n`;
  }
}

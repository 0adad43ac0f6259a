/**
 * What changed on the farm, for the dashboard's farm stream (GET /events):
 * boards, agents and campaigns from PostgreSQL notifications (triggers on
 * their tables, see the run_stats_farm_changes migration: every write path
 * is covered, whichever service made it, and only committed changes are
 * told), jobs and runs from the replicas' fan-out (LiveEvents). Changes are
 * gathered for FLUSH_MS and each changed thing is read once, whatever the
 * number of open streams; nothing is read while no stream is open.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type {
  AgentView,
  CampaignView,
  DeviceView,
  FarmJobEvent,
  FarmRunEvent,
  RunSnapshot,
} from '#contracts';
import { AgentsService } from '../agents/agents.service.js';
import { CampaignsService } from '../campaigns/campaigns.service.js';
import type { PrismaClient } from '../db/generated/prisma/client.js';
import { DevicesService } from '../devices/devices.service.js';
import { LiveEvents, type LiveMessage } from '../events/live-events.js';
import type { Database } from '../infra/database.js';
import { DATABASE, PRISMA } from '../infra/tokens.js';
import { iso } from '../runs/run-snapshot.js';

/** The notification channel the triggers send on. */
export const FARM_CHANNEL = 'ff_farm';
/** How long changes are gathered before they are read and sent. */
export const FLUSH_MS = 100;

/** One thing to send on the farm stream: the SSE event name and its data. */
export type FarmMessage =
  | { event: 'device'; data: DeviceView }
  | { event: 'agent'; data: AgentView }
  | { event: 'campaign'; data: CampaignView }
  | { event: 'job'; data: FarmJobEvent }
  | { event: 'run'; data: FarmRunEvent }
  /** Notifications may have been lost (the listening connection dropped): clients reload. */
  | { event: 'resync'; data: { reason: string } };

/** Changes waiting for the next flush. */
interface Pending {
  devices: Set<string>;
  agents: Set<string>;
  campaigns: Set<string>;
  jobs: Set<string>;
  runs: Map<string, RunSnapshot>;
}

const empty = (): Pending => ({
  devices: new Set(),
  agents: new Set(),
  campaigns: new Set(),
  jobs: new Set(),
  runs: new Map(),
});

@Injectable()
export class FarmChangesService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('farm-changes');
  private readonly listeners = new Set<(message: FarmMessage) => void>();
  private pending = empty();
  private timer: NodeJS.Timeout | undefined;
  private stopListening: (() => Promise<void>) | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    @Inject(DATABASE) private readonly database: Database,
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    private readonly live: LiveEvents,
    private readonly devices: DevicesService,
    private readonly agents: AgentsService,
    private readonly campaigns: CampaignsService,
  ) {}

  async onModuleInit(): Promise<void> {
    this.unsubscribe = this.live.subscribe((message) => this.fromFanout(message));
    this.stopListening = await this.database.listen(FARM_CHANNEL, {
      onMessage: (payload) => this.fromDatabase(payload),
      onGap: () => this.emit({ event: 'resync', data: { reason: 'the api lost its database listener' } }),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    clearTimeout(this.timer);
    this.unsubscribe?.();
    this.listeners.clear();
    await this.stopListening?.();
  }

  /** Calls listener with every change from now on; returns the unsubscribe function. */
  subscribe(listener: (message: FarmMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The current state of these things, as the stream sends them (also used to replay after a reconnect). */
  async read(ids: {
    devices?: Iterable<string>;
    agents?: Iterable<string>;
    campaigns?: Iterable<string>;
    jobs?: Iterable<string>;
  }): Promise<FarmMessage[]> {
    const out: FarmMessage[] = [];
    const deviceIds = [...(ids.devices ?? [])];
    for (const device of await this.devices.viewsOf(deviceIds)) out.push({ event: 'device', data: device });
    const agentIds = new Set(ids.agents ?? []);
    if (agentIds.size)
      for (const agent of await this.agents.list())
        if (agentIds.has(agent.id)) out.push({ event: 'agent', data: agent });
    for (const job of await this.jobEvents([...(ids.jobs ?? [])])) out.push({ event: 'job', data: job });
    for (const id of ids.campaigns ?? []) {
      const campaign = await this.campaigns.get(id).catch(() => undefined);
      if (campaign) out.push({ event: 'campaign', data: campaign });
    }
    return out;
  }

  /** Jobs' status and slot counts (by each slot's latest attempt). */
  async jobEvents(ids: string[]): Promise<FarmJobEvent[]> {
    if (ids.length === 0) return [];
    const [jobs, latest] = await Promise.all([
      this.prisma.job.findMany({
        where: { id: { in: ids } },
        select: { id: true, status: true, startedAt: true, finishedAt: true },
      }),
      this.prisma.$queryRaw<Array<{ jobId: string; status: string; slots: number }>>`
        SELECT "jobId", status::text AS status, COUNT(*)::int AS slots FROM (
          SELECT DISTINCT ON ("jobId", slot) "jobId", slot, status FROM "Run"
          WHERE "jobId" = ANY(${ids}::uuid[]) ORDER BY "jobId", slot, attempt DESC
        ) latest GROUP BY "jobId", status`,
    ]);
    return jobs.map((job) => {
      const slotCounts: FarmJobEvent['slotCounts'] = {};
      for (const row of latest)
        if (row.jobId === job.id) slotCounts[row.status as keyof typeof slotCounts] = row.slots;
      return {
        id: job.id,
        status: job.status,
        startedAt: iso(job.startedAt),
        finishedAt: iso(job.finishedAt),
        slotCounts,
      };
    });
  }

  private fromDatabase(payload: string): void {
    const colon = payload.indexOf(':');
    const kind = payload.slice(0, colon);
    const id = payload.slice(colon + 1);
    if (kind === 'device') this.pending.devices.add(id);
    else if (kind === 'agent') this.pending.agents.add(id);
    else if (kind === 'campaign') this.pending.campaigns.add(id);
    else return;
    this.schedule();
  }

  private fromFanout(message: LiveMessage): void {
    if (message.kind === 'run') {
      this.pending.runs.set(message.runId, message.run);
      this.pending.jobs.add(message.jobId);
    } else if (message.kind === 'job') this.pending.jobs.add(message.jobId);
    else return;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, FLUSH_MS);
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = empty();
    if (this.listeners.size === 0) return;
    try {
      for (const run of batch.runs.values()) {
        const { progress: _progress, ...state } = run;
        this.emit({ event: 'run', data: state });
      }
      const messages = await this.read(batch);
      for (const message of messages) this.emit(message);
    } catch (error) {
      // The stream's clients reload what they show on resync; a failed read must not leave them stale.
      this.logger.warn(
        `reading farm changes failed: ${error instanceof Error ? error.message : String(error)}`,
      );
      this.emit({ event: 'resync', data: { reason: 'the api could not read a change' } });
    }
  }

  private emit(message: FarmMessage): void {
    for (const listener of this.listeners) listener(message);
  }
}

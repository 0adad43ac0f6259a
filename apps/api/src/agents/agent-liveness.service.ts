import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { ApiConfig } from '../config/api-config.js';
import type { PrismaClient } from '../db/generated/prisma/client.js';
import { API_CONFIG, PRISMA } from '../infra/tokens.js';
import { RecoveryGate } from '../runs/recovery-gate.js';
import { transitionDevice } from '../state/device-state.js';

/** Heartbeats an agent may miss before it is marked offline. */
export const MISSED_HEARTBEATS_OFFLINE = 3;
/** Slack on top of the missed heartbeats, as a fraction of one period, for network and timer jitter. */
const JITTER_PERIODS = 0.5;

/** An agent that was just marked offline. */
export interface OfflineAgent {
  id: string;
  name: string;
  lastHeartbeatAt: Date;
}

/** Called once per agent that went offline (on the api replica that marked it). */
export type AgentOfflineListener = (agent: OfflineAgent) => void | Promise<void>;

/**
 * Marks agents offline after 3 missed heartbeats, and their idle boards with
 * them. Runs held by a dead agent are not touched here: the scheduler re-queues
 * them, hooked in through onAgentOffline (and its own heartbeat cut-off).
 */
@Injectable()
export class AgentLivenessService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('agents');
  private readonly listeners = new Set<AgentOfflineListener>();
  private timer?: NodeJS.Timeout;
  private running?: Promise<OfflineAgent[]>;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly gate: RecoveryGate,
  ) {}

  /** How long after its last heartbeat an agent counts as dead. */
  get offlineAfterMs(): number {
    return Math.round(this.config.agents.heartbeatMs * (MISSED_HEARTBEATS_OFFLINE + JITTER_PERIODS));
  }

  /** Registers a listener for agents going offline; returns a function that removes it. */
  onAgentOffline(listener: AgentOfflineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onModuleInit(): void {
    this.timer = setInterval(() => {
      // After a start or a pause of the api, stale heartbeats say nothing until agents were heard again.
      if (!this.gate.isOpen()) return;
      this.checkNow().catch((error: unknown) =>
        this.logger.error(
          `Agent liveness check failed: ${error instanceof Error ? error.message : String(error)}`,
        ),
      );
    }, this.config.agents.heartbeatMs);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One pass: marks silent agents offline and tells the listeners. Returns the agents marked. */
  checkNow(now = new Date()): Promise<OfflineAgent[]> {
    // One pass at a time per process; replicas are kept apart by the conditional UPDATE.
    this.running ??= this.pass(now).finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(now: Date): Promise<OfflineAgent[]> {
    const cutoff = new Date(now.getTime() - this.offlineAfterMs);
    const marked = await this.prisma.$queryRaw<OfflineAgent[]>`
      UPDATE "Agent" SET "status" = 'offline', "updatedAt" = now()
      WHERE "status" <> 'offline' AND "lastHeartbeatAt" < ${cutoff}
      RETURNING "id", "name", "lastHeartbeatAt"`;
    if (marked.length === 0) return marked;
    const ids = marked.map((a) => a.id);
    // Busy boards keep their state: the scheduler finishes their runs and releases them.
    await transitionDevice(
      this.prisma,
      { attachments: { some: { agentId: { in: ids }, detachedAt: null } } },
      'offline',
      { from: ['idle'] },
    );
    for (const agent of marked) {
      this.logger.warn(
        `Agent "${agent.name}" missed ${MISSED_HEARTBEATS_OFFLINE} heartbeats (last at ${agent.lastHeartbeatAt.toISOString()}): offline`,
      );
      for (const listener of this.listeners) {
        try {
          await listener(agent);
        } catch (error) {
          this.logger.error(
            `An agent-offline listener failed for "${agent.name}": ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }
    }
    return marked;
  }
}

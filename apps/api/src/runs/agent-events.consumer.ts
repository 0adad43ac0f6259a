/**
 * Reads AGENT_EVENTS_STREAM as one consumer of the AGENT_EVENTS_GROUP group
 * (one consumer per api replica). An entry is acknowledged only after its
 * effect is in the database, so an api that stops mid-way loses nothing: its
 * pending entries are claimed by a replica (or by itself after a restart)
 * once they have been idle for claimIdleMs.
 */
import crypto from 'node:crypto';
import os from 'node:os';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Redis } from 'ioredis';
import {
  AGENT_EVENTS_GROUP,
  AGENT_EVENTS_STREAM,
  AGENT_EVENT_FIELD,
  isUuid,
  type AgentEvent,
} from '#contracts';
import type { ApiConfig } from '../config/api-config.js';
import { Prisma, type PrismaClient } from '../db/generated/prisma/client.js';
import { recordFarmEvent } from '../events/farm-events.js';
import { API_CONFIG, PRISMA, REDIS } from '../infra/tokens.js';
import { RunLifecycleService } from './run-lifecycle.service.js';

/** Entries read per XREADGROUP call. */
const READ_BATCH = 200;
/** How long one XREADGROUP call blocks waiting for entries. */
const READ_BLOCK_MS = 1_000;
/** Pause after a failed read or a failed database write before trying again. */
const RETRY_PAUSE_MS = 500;

type StreamEntry = [id: string, fields: string[]];

@Injectable()
export class AgentEventsConsumer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('agent-events');
  /** Unique per process: a restarted api is a new consumer, and the old one's pending entries get claimed. */
  readonly consumerName = `${os.hostname()}-${process.pid}-${crypto.randomUUID().slice(0, 8)}`;
  private reader?: Redis;
  private loop?: Promise<void>;
  private stopped = false;
  /** Rejects the blocking read in progress; see onApplicationShutdown. */
  private abortRead?: (reason: Error) => void;
  private lastClaimAt = 0;
  private readonly rejected = new Set<string>();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    private readonly runs: RunLifecycleService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.ensureGroup();
    // Blocking reads get their own connection so they never delay other commands.
    this.reader = this.redis.duplicate();
    this.reader.on('error', () => {});
    this.loop = this.run();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    // ioredis never settles a command that was queued while it was
    // reconnecting and is then disconnected: after a Redis restart the loop
    // could wait on its read forever and hold the shutdown. Abandon the read
    // (unacknowledged entries are read again later); a batch being stored is
    // still finished.
    this.abortRead?.(new Error('shutting down'));
    this.reader?.disconnect();
    await this.loop;
  }

  private async ensureGroup(): Promise<void> {
    try {
      // From id 0: events agents appended before any api ever ran are read too.
      await this.redis.xgroup('CREATE', AGENT_EVENTS_STREAM, AGENT_EVENTS_GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('BUSYGROUP')) throw error;
    }
  }

  private async run(): Promise<void> {
    let ownPendingFirst = true;
    while (!this.stopped) {
      try {
        if (Date.now() - this.lastClaimAt >= this.config.events.claimIdleMs / 2) await this.claimAbandoned();
        // After a failure our own unacknowledged entries are read again first ('0'), in order.
        const entries = await this.read(ownPendingFirst ? '0' : '>');
        if (ownPendingFirst && entries.length === 0) {
          ownPendingFirst = false;
          continue;
        }
        await this.handleAll(entries);
      } catch (error) {
        if (this.stopped) break;
        this.logger.warn(`event intake paused: ${error instanceof Error ? error.message : String(error)}`);
        ownPendingFirst = true;
        await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
      }
    }
  }

  private async read(from: '0' | '>'): Promise<StreamEntry[]> {
    const reader = this.reader!;
    const args: (string | number)[] = ['GROUP', AGENT_EVENTS_GROUP, this.consumerName, 'COUNT', READ_BATCH];
    if (from === '>') args.push('BLOCK', READ_BLOCK_MS);
    args.push('STREAMS', AGENT_EVENTS_STREAM, from);
    const aborted = new Promise<never>((_, reject) => (this.abortRead = reject));
    try {
      return streamEntries(await Promise.race([reader.call('XREADGROUP', ...args), aborted]));
    } finally {
      this.abortRead = undefined;
    }
  }

  /** Takes over entries another consumer read but never acknowledged (it died). */
  private async claimAbandoned(): Promise<void> {
    this.lastClaimAt = Date.now();
    let cursor = '0-0';
    do {
      const reply = (await this.redis.call(
        'XAUTOCLAIM',
        AGENT_EVENTS_STREAM,
        AGENT_EVENTS_GROUP,
        this.consumerName,
        this.config.events.claimIdleMs,
        cursor,
        'COUNT',
        READ_BATCH,
      )) as [string, Array<StreamEntry | null>, string[]?];
      cursor = reply[0];
      const claimed = reply[1].filter((e): e is StreamEntry => Array.isArray(e) && Array.isArray(e[1]));
      if (claimed.length) this.logger.log(`claimed ${claimed.length} abandoned agent events`);
      await this.handleAll(claimed);
    } while (cursor !== '0-0' && !this.stopped);
  }

  private async handleAll(entries: StreamEntry[]): Promise<void> {
    for (const [id, fields] of entries) {
      const event = decode(fields);
      if (!event) this.logger.warn(`dropping malformed agent event ${id}`);
      else {
        try {
          await this.handle(event);
        } catch (error) {
          // A bad event must not block the stream forever; a database that is down must (nothing is acknowledged).
          if (!isPoisonError(error)) throw error;
          this.logger.warn(
            `dropping agent event ${id} (${event.type}): ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }
      await this.redis.xack(AGENT_EVENTS_STREAM, AGENT_EVENTS_GROUP, id);
    }
  }

  private async handle(event: AgentEvent): Promise<void> {
    if (event.type !== 'console.data' && !(await this.fromItsAgent(event))) return;
    switch (event.type) {
      case 'run.started':
        return this.runs.markStarted(event);
      case 'run.progress':
        return this.runs.recordProgress(event);
      case 'run.log':
        return this.runs.appendLogs(event.runId, event.lines ?? []);
      case 'run.finished':
        await this.runs.finishFromAgent(event);
        return;
      case 'console.data':
        return; // console text is the dashboard's business (deviceConsoleStream), not the system of record
    }
  }

  /**
   * True when a run event comes from the agent the run is dispatched to. Anything else (another agent's
   * run, no agent named) is dropped: logged, and one agent.event-rejected farm event per run and sender.
   */
  private async fromItsAgent(event: Exclude<AgentEvent, { type: 'console.data' }>): Promise<boolean> {
    const run = await this.prisma.run.findUnique({ where: { id: event.runId }, select: { agentId: true } });
    if (!run) return true; // nothing to protect; the handlers ignore unknown runs
    const sender = typeof event.agentId === 'string' ? event.agentId : undefined;
    if (sender !== undefined && sender === run.agentId) return true;
    const key = `${event.runId}/${sender ?? '-'}`;
    if (!this.rejected.has(key)) {
      this.rejected.add(key);
      if (this.rejected.size > REJECTED_MEMORY) this.rejected.delete(this.rejected.values().next().value!);
      const message = `dropped ${event.type} for run ${event.runId}: sent ${sender ? `by agent ${sender}` : 'without an agent id'}, but the run is ${run.agentId ? `agent ${run.agentId}'s` : 'not dispatched to any agent'}`;
      this.logger.warn(message);
      await recordFarmEvent(this.prisma, {
        type: 'agent.event-rejected',
        severity: 'error',
        message,
        agentId: sender && isUuid(sender) ? sender : null,
        details: {
          runId: event.runId,
          eventType: event.type,
          sender: sender ?? null,
          runAgentId: run.agentId,
        },
      });
    }
    return false;
  }
}

/** Run events whose sender was refused, remembered so a chatty impostor makes one farm event per run. */
const REJECTED_MEMORY = 1_000;

/**
 * The entries of our one stream in an XREADGROUP reply: RESP2 nests
 * [[stream, entries]], RESP3 (ioredis 6's default) answers a map that
 * arrives flattened as [stream, entries].
 */
export function streamEntries(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  if (typeof reply[0] === 'string') return (reply[1] as StreamEntry[] | undefined) ?? [];
  return (reply[0] as [string, StreamEntry[]] | undefined)?.[1] ?? [];
}

/** Prisma errors caused by the event's content (bad ids, constraint failures), as opposed to an unreachable database. */
function isPoisonError(error: unknown): boolean {
  if (error instanceof Prisma.PrismaClientValidationError) return true;
  if (error instanceof Prisma.PrismaClientKnownRequestError)
    return /^P20(0\d|1\d|2[0-3]|2[5-7])$/.test(error.code);
  return false;
}

/** The AgentEvent in an entry's AGENT_EVENT_FIELD, or undefined when the entry is not one. */
export function decode(fields: string[]): AgentEvent | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] !== AGENT_EVENT_FIELD) continue;
    try {
      const event = JSON.parse(fields[i + 1]) as AgentEvent;
      if (!event || typeof event !== 'object' || typeof event.type !== 'string') return undefined;
      if ('runId' in event && !isUuid(String(event.runId))) return undefined;
      return event;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

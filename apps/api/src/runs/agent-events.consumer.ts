/**
 * Reads AGENT_EVENTS_STREAM as one consumer of the AGENT_EVENTS_GROUP group
 * (one consumer per api replica). An entry is acknowledged only after its
 * effect is in the database, so an api that stops mid-way loses nothing: its
 * pending entries are claimed by a replica (or by itself after a restart)
 * once they have been idle for claimIdleMs, or at once when their consumer
 * stopped reading.
 *
 * It heals: a group lost with Redis's data is created again (from id 0, so
 * what agents appended meanwhile is read); acknowledged entries are trimmed
 * from the stream; health() says when no read has succeeded for a while, and
 * requestDrain()/drainedSince() let recovery wait until what agents stored is
 * read (RecoveryGate).
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

/** How long shutdown waits for an intake loop that stores nothing (it may be waiting on an unreachable Redis). */
const SHUTDOWN_WAIT_MS = 5_000;
/** How long shutdown waits for a batch being stored to be finished. */
const SHUTDOWN_STORE_MAX_MS = 30_000;
/** Entries read per XREADGROUP call. */
const READ_BATCH = 200;
/** How long one XREADGROUP call blocks waiting for entries. */
const READ_BLOCK_MS = 1_000;
/** Pause after a failed read or a failed database write before trying again. */
const RETRY_PAUSE_MS = 500;
/** Acknowledged entries are trimmed from the stream at most this often. */
const TRIM_INTERVAL_MS = 2_000;
/**
 * A consumer that has not read for this long is gone (a live replica reads every READ_BLOCK_MS):
 * its pending entries are taken over at once instead of after claimIdleMs, and once it holds none
 * it is removed from the group (every api start is a new consumer; the group would grow forever).
 */
const CONSUMER_GONE_MS = 5 * READ_BLOCK_MS;
/** How often consumers that are gone are looked for while a drain is asked for (else every claimIdleMs / 2). */
const GONE_CHECK_DRAINING_MS = READ_BLOCK_MS;
/** A repeated intake failure is logged at most this often. */
const FAILURE_LOG_INTERVAL_MS = 10_000;

type StreamEntry = [id: string, fields: string[]];

/** How the intake is doing, for /health. */
export interface IntakeHealth {
  ok: boolean;
  /** Time since the last read that was handled completely. */
  lastReadAgoMs: number;
  /** Why it is stalled (the last failure), when it is. */
  error?: string;
}

/** A request to handle every entry stored up to some moment (see requestDrain). */
interface Drain {
  since: number;
  /** The stream's last id when the drain was first checked: everything up to it must be handled. */
  top?: string;
  doneAt?: number;
}

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
  private lastGoneCheckAt = 0;
  private lastTrimAt = 0;
  /** When a read was last handled completely (an empty one counts): the intake is alive. */
  private lastCycleOkAt = Date.now();
  private failure?: { message: string; since: number; loggedAt: number };
  private drain?: Drain;
  /** Entries trimmed from the stream after they were acknowledged (flashfarm_agent_events_trimmed_total). */
  trimmed = 0;
  /** Trim passes completed (flashfarm_agent_events_trim_passes_total): tests and operators see trimming turn. */
  trimPasses = 0;
  private readonly rejected = new Set<string>();
  /** Batches being stored now (shutdown lets them finish). */
  private storing = 0;

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
    this.lastCycleOkAt = Date.now();
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
    // A batch being stored is finished. But with Redis unreachable a housekeeping command on the shared
    // connection waits for it forever: a loop that stores nothing gets SHUTDOWN_WAIT_MS, then the
    // shutdown goes on without it.
    const loop = this.loop?.then(() => true) ?? Promise.resolve(true);
    const started = Date.now();
    for (;;) {
      const finished = await Promise.race([
        loop,
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 100).unref()),
      ]);
      if (finished) return;
      if (this.storing > 0 && Date.now() - started < SHUTDOWN_STORE_MAX_MS) continue;
      if (Date.now() - started >= SHUTDOWN_WAIT_MS) break;
    }
    this.logger.warn(
      `event intake still waiting on Redis after ${Date.now() - started} ms; stopping without it (unacknowledged events are read again)`,
    );
  }

  /**
   * Stalled when no read was handled completely for FLASHFARM_EVENTS_STALL_MS: Redis or the
   * database failing, the group gone and not re-created, an event that cannot be stored. A healthy
   * intake completes a read every READ_BLOCK_MS even when no agent sends anything.
   */
  health(now = Date.now()): IntakeHealth {
    const lastReadAgoMs = now - this.lastCycleOkAt;
    if (lastReadAgoMs < this.config.events.stallMs) return { ok: true, lastReadAgoMs };
    return {
      ok: false,
      lastReadAgoMs,
      error: `no agent event read for ${Math.round(lastReadAgoMs / 1000)} s${this.failure ? `: ${this.failure.message}` : ''}`,
    };
  }

  /**
   * Asks for every entry stored in the stream by now to be handled, by this consumer or another;
   * drainedSince(now) turns true once they are (recovery waits for it: see RecoveryGate).
   */
  requestDrain(now = Date.now()): void {
    this.drain = { since: now };
  }

  /** True once every entry stored when a drain was asked for at or after `since` has been handled. */
  drainedSince(since: number): boolean {
    return this.drain !== undefined && this.drain.since >= since && this.drain.doneAt !== undefined;
  }

  private async ensureGroup(): Promise<void> {
    try {
      // From id 0: events agents appended before any api ever ran (or since Redis lost its data) are read too.
      await this.redis.xgroup('CREATE', AGENT_EVENTS_STREAM, AGENT_EVENTS_GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('BUSYGROUP')) throw error;
    }
  }

  private async run(): Promise<void> {
    let ownPendingFirst = true;
    while (!this.stopped) {
      try {
        await this.housekeeping();
        // After a failure our own unacknowledged entries are read again first ('0'), in order.
        const entries = await this.read(ownPendingFirst ? '0' : '>');
        if (ownPendingFirst && entries.length === 0) {
          ownPendingFirst = false;
          continue;
        }
        await this.handleAll(entries);
        if (!ownPendingFirst && entries.length < READ_BATCH) await this.checkDrained();
        this.cycleSucceeded();
      } catch (error) {
        if (this.stopped) break;
        ownPendingFirst = true;
        await this.cycleFailed(error);
      }
    }
  }

  private cycleSucceeded(): void {
    this.lastCycleOkAt = Date.now();
    if (this.failure) {
      this.logger.log(
        `event intake resumed after ${Math.round((Date.now() - this.failure.since) / 1000)} s (${this.failure.message})`,
      );
      this.failure = undefined;
    }
  }

  private async cycleFailed(error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    const now = Date.now();
    if (
      !this.failure ||
      this.failure.message !== message ||
      now - this.failure.loggedAt >= FAILURE_LOG_INTERVAL_MS
    ) {
      this.logger.warn(`event intake paused: ${message}`);
      this.failure = { message, since: this.failure?.since ?? now, loggedAt: now };
    }
    // Redis lost its data (restarted empty, flushed): the group is gone with it, and the stream too until an
    // agent appends again. A group created from id 0 reads everything agents appended since.
    if (/^NOGROUP|no such key/i.test(message))
      try {
        await this.ensureGroup();
        this.logger.warn(
          `the consumer group "${AGENT_EVENTS_GROUP}" was gone (Redis lost its data?); created it again`,
        );
        return;
      } catch {
        // Redis still away: pause and try again.
      }
    await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
  }

  /** Claims of abandoned entries and trimming, each at its own pace. */
  private async housekeeping(): Promise<void> {
    const now = Date.now();
    const claimEvery = this.config.events.claimIdleMs / 2;
    if (now - this.lastClaimAt >= claimEvery) await this.claimAbandoned();
    const draining = this.drain !== undefined && this.drain.doneAt === undefined;
    if (now - this.lastGoneCheckAt >= (draining ? GONE_CHECK_DRAINING_MS : claimEvery))
      await this.claimFromGoneConsumers();
    if (now - this.lastTrimAt >= TRIM_INTERVAL_MS) await this.trimAcknowledged();
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

  /**
   * Consumers that stopped reading (an api killed or restarted) are gone: their pending entries are
   * taken over now rather than after claimIdleMs (recovery waits for them to be handled), and a gone
   * consumer holding nothing is removed. A live replica that merely paused longer than
   * CONSUMER_GONE_MS may see an entry handled twice, which the handlers allow (they are idempotent).
   */
  private async claimFromGoneConsumers(): Promise<void> {
    this.lastGoneCheckAt = Date.now();
    const consumers = records(
      await this.redis.call('XINFO', 'CONSUMERS', AGENT_EVENTS_STREAM, AGENT_EVENTS_GROUP),
    );
    for (const consumer of consumers) {
      const name = String(consumer.name);
      if (name === this.consumerName || Number(consumer.idle) < CONSUMER_GONE_MS) continue;
      if (Number(consumer.pending) === 0) {
        await this.redis.call('XGROUP', 'DELCONSUMER', AGENT_EVENTS_STREAM, AGENT_EVENTS_GROUP, name);
        continue;
      }
      const pending = (await this.redis.call(
        'XPENDING',
        AGENT_EVENTS_STREAM,
        AGENT_EVENTS_GROUP,
        '-',
        '+',
        READ_BATCH,
        name,
      )) as Array<[string, string, number, number]>;
      if (pending.length === 0) continue;
      const claimed = streamEntryList(
        await this.redis.call(
          'XCLAIM',
          AGENT_EVENTS_STREAM,
          AGENT_EVENTS_GROUP,
          this.consumerName,
          0,
          ...pending.map((p) => p[0]),
        ),
      );
      this.logger.log(`took over ${claimed.length} agent events of consumer ${name}, which stopped reading`);
      await this.handleAll(claimed);
    }
  }

  /**
   * Removes what every consumer has acknowledged: the stream keeps the entries not yet delivered
   * and those delivered but pending, and nothing else (it used to grow by every event forever).
   */
  private async trimAcknowledged(): Promise<void> {
    this.lastTrimAt = Date.now();
    const group = records(await this.redis.call('XINFO', 'GROUPS', AGENT_EVENTS_STREAM)).find(
      (g) => g.name === AGENT_EVENTS_GROUP,
    );
    if (!group) return;
    const summary = (await this.redis.call('XPENDING', AGENT_EVENTS_STREAM, AGENT_EVENTS_GROUP)) as [
      number,
      string | null,
      string | null,
      unknown,
    ];
    // Entries below the oldest pending one, or (none pending) up to the last delivered one, are done.
    const keepFrom = summary[0] > 0 && summary[1] ? summary[1] : nextId(String(group['last-delivered-id']));
    const removed = Number(await this.redis.call('XTRIM', AGENT_EVENTS_STREAM, 'MINID', keepFrom));
    this.trimmed += removed;
    this.trimPasses++;
  }

  /** Marks a requested drain done once every entry up to the stream's id at the time is delivered and acknowledged. */
  private async checkDrained(): Promise<void> {
    const drain = this.drain;
    if (!drain || drain.doneAt !== undefined) return;
    if (drain.top === undefined) {
      const info = records([await this.redis.call('XINFO', 'STREAM', AGENT_EVENTS_STREAM)])[0];
      const top = info['last-generated-id'];
      drain.top = typeof top === 'string' ? top : '0-0';
    }
    const group = records(await this.redis.call('XINFO', 'GROUPS', AGENT_EVENTS_STREAM)).find(
      (g) => g.name === AGENT_EVENTS_GROUP,
    );
    if (!group || compareIds(String(group['last-delivered-id']), drain.top) < 0) return;
    const pending = (await this.redis.call(
      'XPENDING',
      AGENT_EVENTS_STREAM,
      AGENT_EVENTS_GROUP,
      '-',
      drain.top,
      1,
    )) as unknown[];
    if (pending.length === 0) drain.doneAt = Date.now();
  }

  private async handleAll(entries: StreamEntry[]): Promise<void> {
    this.storing++;
    try {
      await this.storeAll(entries);
    } finally {
      this.storing--;
    }
  }

  private async storeAll(entries: StreamEntry[]): Promise<void> {
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

/** Redis stream ids compared as (milliseconds, sequence). */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map((n) => BigInt(n || '0'));
  const [bm, bs] = b.split('-').map((n) => BigInt(n || '0'));
  if (am !== bm) return am < bm ? -1 : 1;
  if ((as ?? 0n) !== (bs ?? 0n)) return (as ?? 0n) < (bs ?? 0n) ? -1 : 1;
  return 0;
}

/** The id right after a stream id (XTRIM MINID keeps ids at or above it). */
export function nextId(id: string): string {
  const [ms, seq] = id.split('-');
  return `${ms || '0'}-${(BigInt(seq || '0') + 1n).toString()}`;
}

/**
 * XINFO answers (one record per group or consumer) as objects: RESP2 and ioredis's RESP3 both
 * deliver each record as a flat [key, value, key, value, …] array.
 */
function records(reply: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(reply)) return [];
  return reply.map((item) => {
    if (!Array.isArray(item)) return (item ?? {}) as Record<string, unknown>;
    const record: Record<string, unknown> = {};
    for (let i = 0; i + 1 < item.length; i += 2) record[String(item[i])] = item[i + 1];
    return record;
  });
}

/** The entries of an XCLAIM reply (deleted entries come back as null and are skipped). */
function streamEntryList(reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply)) return [];
  return reply.filter((e): e is StreamEntry => Array.isArray(e) && Array.isArray(e[1]));
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

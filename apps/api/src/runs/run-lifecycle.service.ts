/**
 * Every change of a run's state after it was bound: started, progress, log
 * lines, finished. Finishing releases the board, counts its failures (and
 * quarantines it), decides whether the slot gets another attempt, and
 * re-derives the job's status, all in one transaction.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ApiErrorCode,
  agentControlChannel,
  canonicalMac,
  failurePolicy,
  type AgentControlMessage,
  type RunErrorCode,
  type AgentEvent,
  type ClaimRunResponse,
  type RunLogLinePayload,
  type RunResultPayload,
} from '#contracts';
import { ApiError } from '../common/api-error.js';
import type { ApiConfig } from '../config/api-config.js';
import { Prisma, type PrismaClient } from '../db/generated/prisma/client.js';
import type { JobStatus, LogLevel } from '../db/generated/prisma/enums.js';
import type { Redis } from 'ioredis';
import { API_CONFIG, PRISMA, REDIS } from '../infra/tokens.js';
import { LiveEvents } from '../events/live-events.js';
import { deriveJobStatus } from './job-status.js';
import { transitionDevice } from '../state/device-state.js';
import { LIVE_RUN_STATUSES, transitionRun } from '../state/run-state.js';
import { iso, runSnapshot } from './run-snapshot.js';

/** Progress is written to the database at most this often per run; listeners get every update. */
export const PROGRESS_WRITE_INTERVAL_MS = 500;

const LOG_LEVELS = new Set<LogLevel>(['debug', 'info', 'warn', 'error']);

/** How a run ended, from the agent's report or from the api's own recovery. */
export interface RunOutcome {
  status: 'succeeded' | 'failed' | 'cancelled';
  errorCode?: RunErrorCode;
  errorMessage?: string;
  /** Give the slot another attempt (when attempts remain and the job is not cancelled). */
  requeue?: boolean;
  /** The agent's full result, when the agent reported. */
  result?: RunResultPayload;
  at?: Date;
  /** Never give the slot another attempt (e.g. a pinned board that did not come back). */
  final?: boolean;
  /** The agent's last log seq of the run (run.finished), which event streams wait for before `end`. */
  finalLogSeq?: number;
}

/** What finishRun did. */
export interface FinishResult {
  finished: boolean;
  nextAttemptRunId?: string;
}

@Injectable()
export class RunLifecycleService {
  private readonly logger = new Logger('runs');
  private readonly progressWrittenAt = new Map<string, number>();

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly live: LiveEvents,
  ) {}

  /**
   * An agent claims a run it took from its queue, before it touches the board.
   *
   * BullMQ redelivers a run whose agent died mid-flash once its lock expires,
   * while the api may meanwhile have ended that run and queued a newer attempt
   * for the slot, possibly on the same board. A read-only check could be stale
   * by the time the agent acts on it, so the claim is a conditional UPDATE: the
   * run becomes running only while it is still this agent's live attempt
   * (dispatched, or running here already: the same agent restarted before it
   * was declared dead), its job not cancelled and its board still bound to it.
   * Ending a run (finishRun, a job's cancel) holds the job's row lock; the
   * claim takes the same lock, so the two are ordered: a run ended first is
   * refused, a run claimed first is ended later like any running run (heartbeat
   * answer, control channel).
   */
  async claimRun(claim: { runId: string; agentId: string; attempt: number }): Promise<ClaimRunResponse> {
    const claimed = await this.prisma.$transaction(async (tx) => {
      await tx.$queryRaw`
        SELECT j.id FROM "Job" AS j JOIN "Run" AS r ON r."jobId" = j.id
        WHERE r.id = ${claim.runId}::uuid FOR UPDATE OF j`;
      const won = await transitionRun(
        tx,
        {
          id: claim.runId,
          agentId: claim.agentId,
          attempt: claim.attempt,
          job: { status: { not: 'cancelled' } },
          device: { currentRunId: claim.runId },
        },
        'running',
        { from: ['dispatched', 'running'] },
      );
      // A redelivered run keeps the time it first started.
      if (won === 1)
        await tx.run.updateMany({
          where: { id: claim.runId, startedAt: null },
          data: { startedAt: new Date() },
        });
      return won;
    });
    if (claimed === 1) {
      const run = await this.prisma.run.findUnique({ where: { id: claim.runId } });
      if (run)
        await this.live.publish({ kind: 'run', jobId: run.jobId, runId: run.id, run: runSnapshot(run) });
      // A re-flash numbers its lines after the stored ones, whatever Redis remembers (it may have lost it all).
      return {
        runId: claim.runId,
        attempt: claim.attempt,
        status: 'running',
        lastLogSeq: run?.lastLogSeq ?? 0,
      };
    }
    throw new ApiError(ApiErrorCode.RUN_NOT_CLAIMABLE, await this.claimRefusal(claim));
  }

  /** Why a claim was refused, in a sentence for the agent's log; ends a live run of a cancelled job. */
  private async claimRefusal(claim: { runId: string; agentId: string; attempt: number }): Promise<string> {
    const run = await this.prisma.run.findUnique({
      where: { id: claim.runId },
      include: { job: { select: { status: true, cancelReason: true } }, device: true },
    });
    const what = `run ${claim.runId}`;
    if (!run) return `${what} does not exist (its job was deleted)`;
    if (run.agentId !== claim.agentId) return `${what} is bound to another agent`;
    if (run.attempt !== claim.attempt)
      return `${what} is attempt ${run.attempt}, not attempt ${claim.attempt}`;
    if (run.status === 'queued') return `${what} is not bound to a board`;
    if (!LIVE_RUN_STATUSES.includes(run.status)) {
      const newer = await this.prisma.run.findFirst({
        where: { jobId: run.jobId, slot: run.slot, attempt: { gt: run.attempt } },
        orderBy: { attempt: 'desc' },
        select: { attempt: true, status: true },
      });
      return `${what} is already ${run.status}${run.errorCode ? ` (${run.errorCode})` : ''}${
        newer ? `; attempt ${newer.attempt} (${newer.status}) owns its slot` : ''
      }`;
    }
    if (run.job.status === 'cancelled') {
      // The agent confirms the cancel by not starting the run: end it now rather than after the grace time.
      const reason = run.job.cancelReason ?? 'the job was cancelled';
      await this.finishRun(run.id, { status: 'cancelled', errorCode: 'CANCELLED', errorMessage: reason });
      return `${what} belongs to a cancelled job (${reason})`;
    }
    if (!run.device || run.device.currentRunId !== run.id)
      return `${what} no longer holds its board${run.device?.currentRunId ? ` (now bound to run ${run.device.currentRunId})` : ''}`;
    // Only a change racing the update gets here (e.g. the run ended between the update and this read).
    return `${what} changed while it was being claimed`;
  }

  /**
   * run.started: the agent began the run. A dispatched run (from an agent that
   * does not claim) becomes running; a run this agent claimed records the port
   * its board was found on. A run the api already ended gets a cancel.
   */
  async markStarted(event: Extract<AgentEvent, { type: 'run.started' }>): Promise<void> {
    const at = parseDate(event.at);
    const updated = await transitionRun(this.prisma, { id: event.runId }, 'running', {
      from: ['dispatched'],
      data: { startedAt: at, portPath: event.portPath },
    });
    const claimed =
      updated === 0
        ? (
            await this.prisma.run.updateMany({
              where: { id: event.runId, status: 'running', agentId: event.agentId },
              data: { portPath: event.portPath },
            })
          ).count
        : updated;
    if (claimed === 0) {
      // Replicas consume the stream in parallel, so run.finished may have been stored first: keep the start time anyway.
      await this.prisma.run.updateMany({
        where: { id: event.runId, startedAt: null, status: { in: ['succeeded', 'failed', 'cancelled'] } },
        data: { startedAt: at, portPath: event.portPath },
      });
      const stale = await this.prisma.run.findUnique({
        where: { id: event.runId },
        select: { status: true },
      });
      if (stale && (stale.status === 'failed' || stale.status === 'cancelled')) {
        // A run the api already ended (its agent was declared dead, or it was cancelled) started anyway, e.g.
        // redelivered by BullMQ after an agent restart when the claim could not be asked (api unreachable,
        // or an agent without claims): its slot has moved on, so the agent must stop it.
        const message: AgentControlMessage = {
          type: 'cancel-run',
          runId: event.runId,
          reason: `run already ${stale.status}; a newer attempt owns its slot`,
        };
        await this.redis.publish(agentControlChannel(event.agentId, this.redis), JSON.stringify(message));
      }
      return;
    }
    const run = await this.prisma.run.findUnique({ where: { id: event.runId } });
    if (run) await this.live.publish({ kind: 'run', jobId: run.jobId, runId: run.id, run: runSnapshot(run) });
  }

  /** run.progress: every update goes to listeners, the database gets at most two a second. */
  async recordProgress(event: Extract<AgentEvent, { type: 'run.progress' }>): Promise<void> {
    const run = await this.prisma.run.findUnique({
      where: { id: event.runId },
      select: { id: true, jobId: true, status: true },
    });
    if (!run || (run.status !== 'running' && run.status !== 'dispatched')) return;
    const now = Date.now();
    const last = this.progressWrittenAt.get(run.id) ?? 0;
    if (now - last >= PROGRESS_WRITE_INTERVAL_MS || event.percent >= 100) {
      this.progressWrittenAt.set(run.id, now);
      await this.prisma.run.updateMany({
        where: { id: run.id, status: { in: ['running', 'dispatched'] } },
        data: { stage: event.stage, progress: clampPercent(event.percent), baud: event.baud ?? undefined },
      });
    }
    await this.live.publish({
      kind: 'progress',
      jobId: run.jobId,
      runId: run.id,
      stage: event.stage,
      percent: clampPercent(event.percent),
      bytesDone: event.bytesDone,
      bytesTotal: event.bytesTotal,
      baud: event.baud,
      etaMs: event.etaMs,
    });
  }

  /**
   * run.log: lines are stored once each ((runId, seq) is unique, so a
   * redelivered event stores nothing twice), also after the run ended — a line
   * the agent sent is never thrown away.
   */
  async appendLogs(runId: string, lines: RunLogLinePayload[]): Promise<void> {
    const run = await this.prisma.run.findUnique({ where: { id: runId }, select: { id: true, jobId: true } });
    if (!run || lines.length === 0) return;
    const rows = lines
      .filter((l) => Number.isInteger(l.seq) && l.seq > 0)
      .map((l) => ({
        runId,
        seq: l.seq,
        ts: parseDate(l.ts),
        level: LOG_LEVELS.has(l.level) ? l.level : ('info' as const),
        stage: l.stage ?? null,
        text: String(l.text ?? ''),
      }));
    if (rows.length === 0) return;
    const inserted = await this.prisma.$transaction(async (tx) => {
      const created = await tx.runLogLine.createManyAndReturn({
        data: rows,
        skipDuplicates: true,
        select: { id: true, seq: true, ts: true, level: true, stage: true, text: true },
      });
      const maxSeq = Math.max(...rows.map((r) => r.seq));
      await tx.$executeRaw`UPDATE "Run" SET "lastLogSeq" = GREATEST("lastLogSeq", ${maxSeq}) WHERE id = ${runId}::uuid`;
      return created;
    });
    if (inserted.length === 0) return;
    inserted.sort((a, b) => a.seq - b.seq);
    await this.live.publish({
      kind: 'log',
      jobId: run.jobId,
      runId,
      lines: inserted.map((l) => ({
        id: l.id.toString(),
        seq: l.seq,
        ts: l.ts.toISOString(),
        level: l.level,
        stage: l.stage,
        text: l.text,
      })),
    });
  }

  /** run.finished from the agent. Dropped when the run already ended. */
  async finishFromAgent(event: Extract<AgentEvent, { type: 'run.finished' }>): Promise<FinishResult> {
    const r = event.result;
    return this.finishRun(event.runId, {
      status: r.status,
      errorCode:
        r.status === 'succeeded'
          ? undefined
          : (r.errorCode ?? (r.status === 'cancelled' ? 'CANCELLED' : 'INTERNAL')),
      errorMessage: r.errorMessage,
      requeue: r.requeue,
      result: r,
      at: parseDate(event.at),
      ...(Number.isSafeInteger(event.lastSeq) && event.lastSeq! >= 0 ? { finalLogSeq: event.lastSeq } : {}),
    });
  }

  /**
   * Ends a run that has not ended yet; a no-op (finished: false) otherwise, so
   * the agent's report and the api's recovery can race safely.
   */
  async finishRun(runId: string, outcome: RunOutcome): Promise<FinishResult> {
    const at = outcome.at ?? new Date();
    const head = await this.prisma.run.findUnique({ where: { id: runId }, select: { jobId: true } });
    if (!head) return { finished: false };
    const done = await this.prisma.$transaction(async (tx) => {
      // One finisher per job at a time: two slots ending together must not both derive a stale job status.
      await tx.$queryRaw`SELECT id FROM "Job" WHERE id = ${head.jobId}::uuid FOR UPDATE`;
      const run = await tx.run.findUnique({ where: { id: runId }, include: { job: true } });
      if (!run || !LIVE_RUN_STATUSES.includes(run.status)) return undefined;
      const result = outcome.result;
      // Under the job's row lock the read above still holds; the guard keeps the table's rule anyway.
      const ended = await transitionRun(tx, { id: runId }, outcome.status, {
        data: {
          finishedAt: at,
          finalLogSeq: outcome.finalLogSeq,
          errorCode: outcome.status === 'succeeded' ? null : (outcome.errorCode ?? null),
          errorMessage: outcome.status === 'succeeded' ? null : (outcome.errorMessage ?? null),
          ...(outcome.status === 'succeeded' ? { progress: 100 } : {}),
          ...(result
            ? {
                baud: result.baud ?? undefined,
                retries: result.retries ?? 0,
                bytesWritten: result.bytesWritten ?? 0,
                bytesSkipped: result.bytesSkipped ?? 0,
                regions: (result.regions ?? []) as unknown as Prisma.InputJsonValue,
                timings: result.timings ?? {},
                ...(result.bootCheck ? { bootCheck: result.bootCheck } : {}),
              }
            : {}),
        },
      });
      if (ended !== 1) return undefined;
      if (run.deviceId) await this.releaseDevice(tx, run.deviceId, runId, outcome, at);
      await this.fileUnderObservedBoard(tx, run, outcome);

      let nextAttemptRunId: string | undefined;
      if (this.shouldRetry(run.attempt, run.job.status, run.job.targetKind, outcome)) {
        const next = await tx.run.create({
          data: { jobId: run.jobId, slot: run.slot, attempt: run.attempt + 1 },
        });
        nextAttemptRunId = next.id;
      }
      const job = await this.refreshJobStatus(tx, run.jobId);
      const changed = await tx.run.findMany({
        where: { id: { in: nextAttemptRunId ? [runId, nextAttemptRunId] : [runId] } },
      });
      return { changed, job, nextAttemptRunId };
    });
    if (!done) return { finished: false };
    this.progressWrittenAt.delete(runId);
    for (const run of done.changed)
      await this.live.publish({ kind: 'run', jobId: run.jobId, runId: run.id, run: runSnapshot(run) });
    if (done.job) await this.live.publish({ kind: 'job', jobId: done.job.id, job: done.job });
    await this.live.publish({ kind: 'schedule' });
    return { finished: true, nextAttemptRunId: done.nextAttemptRunId };
  }

  /**
   * Re-derives a job's status from its runs (inside the caller's transaction,
   * which must hold the job's row lock). Returns the job when it changed.
   */
  async refreshJobStatus(
    tx: Prisma.TransactionClient,
    jobId: string,
  ): Promise<
    { id: string; status: JobStatus; startedAt: string | null; finishedAt: string | null } | undefined
  > {
    const job = await tx.job.findUnique({ where: { id: jobId } });
    if (!job) return undefined;
    const runs = await tx.run.findMany({
      where: { jobId },
      select: { slot: true, attempt: true, status: true },
    });
    const status = deriveJobStatus(job.status, runs);
    if (status === job.status) return undefined;
    const now = new Date();
    const terminal = status === 'succeeded' || status === 'failed' || status === 'cancelled';
    const updated = await tx.job.update({
      where: { id: jobId },
      data: {
        status,
        startedAt: job.startedAt ?? (status !== 'queued' ? now : null),
        finishedAt: terminal ? (job.finishedAt ?? now) : null,
      },
    });
    return {
      id: updated.id,
      status: updated.status,
      startedAt: iso(updated.startedAt),
      finishedAt: iso(updated.finishedAt),
    };
  }

  private shouldRetry(
    attempt: number,
    jobStatus: JobStatus,
    targetKind: string,
    outcome: RunOutcome,
  ): boolean {
    if (outcome.status !== 'failed' || outcome.final || jobStatus === 'cancelled') return false;
    if (attempt >= this.config.scheduler.maxAttempts) return false;
    const { api } = failurePolicy(outcome.errorCode);
    // A run the agent handed back gets its new attempt whatever its code (e.g. CANCELLED by a shutdown),
    // except a pinned one whose board was swapped out: the board it names is not on that port any more.
    if (outcome.requeue) return !(api === 'unpinned' && targetKind === 'device');
    // A lost board can be replaced; a suspect board only when another board may take the slot.
    return api === 'any' || (api === 'unpinned' && targetKind !== 'device');
  }

  /**
   * DEVICE_CHANGED with the unit the agent found on the port: the run's history belongs to that board
   * (the one that was really there), not to the board it was bound to, which never saw it.
   */
  private async fileUnderObservedBoard(
    tx: Prisma.TransactionClient,
    run: { id: string; deviceId: string | null },
    outcome: RunOutcome,
  ): Promise<void> {
    const observed = outcome.result?.observed;
    if (outcome.errorCode !== 'DEVICE_CHANGED' || !observed) return;
    const mac = canonicalMac(observed.mac);
    const found = mac ? await tx.device.findUnique({ where: { mac }, select: { id: true } }) : null;
    if (found && found.id !== run.deviceId)
      await tx.run.update({ where: { id: run.id }, data: { deviceId: found.id } });
  }

  private async releaseDevice(
    tx: Prisma.TransactionClient,
    deviceId: string,
    runId: string,
    outcome: RunOutcome,
    at: Date,
  ): Promise<void> {
    const device = await tx.device.findUnique({ where: { id: deviceId } });
    if (!device) return;
    const learned = outcome.result?.learned;
    const identity = outcome.result?.identity;
    // A run the agent gave back (requeue) says the port or link was unusable, not that the board failed.
    const countsAgainstBoard =
      outcome.status === 'failed' && !outcome.requeue && failurePolicy(outcome.errorCode).counts;
    const failures =
      outcome.status === 'succeeded'
        ? 0
        : countsAgainstBoard
          ? device.consecutiveFailures + 1
          : device.consecutiveFailures;
    const quarantine =
      countsAgainstBoard &&
      failures >= this.config.scheduler.quarantineAfterFailures &&
      device.state !== 'quarantined';
    const holdsThisRun = device.currentRunId === runId;
    // Another unit was on the port: this board never saw the run, so its record does not show it.
    const untouched = outcome.errorCode === 'DEVICE_CHANGED';
    // A board whose agent is gone (or that was unplugged) is offline, not idle, once its run ends.
    const reachable =
      (await tx.attachment.count({
        where: { deviceId, detachedAt: null, agent: { status: { not: 'offline' } } },
      })) > 0;
    if (quarantine)
      await transitionDevice(tx, { id: deviceId }, 'quarantined', {
        from: ['idle', 'busy', 'offline'],
        data: {
          quarantinedAt: at,
          quarantineReason: `${failures} consecutive failed runs; last: ${outcome.errorCode ?? 'failed'}${outcome.errorMessage ? ` (${outcome.errorMessage})` : ''}`,
        },
      });
    else if (holdsThisRun)
      await transitionDevice(tx, { id: deviceId }, reachable ? 'idle' : 'offline', { from: ['busy'] });
    await tx.device.update({
      where: { id: deviceId },
      data: {
        ...(holdsThisRun ? { currentRunId: null } : {}),
        consecutiveFailures: failures,
        ...(untouched ? {} : { lastRunStatus: outcome.status, lastRunAt: at }),
        ...(learned?.bestBaud ? { bestBaud: learned.bestBaud } : {}),
        // An operator's reset sequence wins; a learned strategy only fills an automatic one.
        ...(learned?.resetStrategy && !device.resetSequence ? { resetSequence: learned.resetStrategy } : {}),
        ...(identity && identity.mac === device.mac
          ? {
              chipRevision: identity.chipRevision ?? undefined,
              flashJedecId: identity.flashJedecId ?? undefined,
              flashSizeBytes: identity.flashSizeBytes ?? undefined,
            }
          : {}),
      },
    });
    if (quarantine)
      this.logger.warn(`device ${device.mac} quarantined after ${failures} consecutive failed runs`);
  }
}

function parseDate(text: string | undefined): Date {
  const date = text ? new Date(text) : new Date();
  return Number.isNaN(date.getTime()) ? new Date() : date;
}

function clampPercent(percent: number): number {
  return Number.isFinite(percent) ? Math.min(100, Math.max(0, percent)) : 0;
}

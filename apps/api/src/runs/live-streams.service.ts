/**
 * The live streams of one run and of one job.
 *
 * Event ids (what a client sends back as Last-Event-ID):
 * - run stream: only `log` events carry an id: the highest seq up to which
 *   every line has been sent (non-decreasing). Lines normally arrive in seq
 *   order; when two replicas store batches out of order, a resumed stream may
 *   repeat lines above that mark, never skip one (clients dedupe by `seq`).
 *   State and progress events carry none: a resumed stream starts with a
 *   fresh snapshot anyway.
 * - job stream: only `log` events carry an id, the stored line's row id (a
 *   database sequence, increasing in insertion order across the job's runs);
 *   resuming is exact for one replica, best effort across replicas (the run
 *   stream is the exact one).
 * On (re)connect: a snapshot, then the stored lines after the given id, then
 * live events; live lines already sent are skipped. What was sent is tracked
 * per run by seq ((runId, seq) names a line once) in a SeqWatermark, whose
 * memory grows with the gaps in what was sent, not with the lines: a stream
 * open for a long job holds a few numbers per run. `end` is the last event
 * once the run (or the job and all its runs) has ended and every line the
 * agent said it sent (run.finished's lastSeq) is stored: replicas store a
 * run's events in parallel, so its last lines may land after it ended.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { PrismaClient } from '../db/generated/prisma/client.js';
import type { JobStatus } from '../db/generated/prisma/enums.js';
import { PRISMA } from '../infra/tokens.js';
import { MAX_LOG_SEQ } from '#contracts';
import { ApiError } from '../common/api-error.js';
import { recordId } from '../common/record-id.js';
import { isTerminalJob, isTerminalRun } from './job-status.js';
import { iso, runSnapshot } from './run-snapshot.js';
import { LiveEvents, type LiveLogLine, type LiveMessage } from '../events/live-events.js';
import { lastEventId } from '../events/sse.js';
import { SseStreams } from '../events/sse-streams.js';
import { LIVE_RUN_STATUSES } from '../state/run-state.js';

/** Stored lines replayed per query. */
const REPLAY_PAGE = 1000;
/**
 * Longest wait, after a run ended, for the lines its agent said it sent to be stored. The agent names
 * its last seq only when every line was written, so the bound only matters when a replica stalls.
 */
export const FINAL_LINES_WAIT_MS = 10_000;
/**
 * When a run's last seq is not known (an older agent, or a run the api ended itself while its agent was
 * gone), the fixed pause before `end` in which other replicas may still store its last lines.
 */
export const UNKNOWN_FINAL_GRACE_MS = 300;

type StoredLine = {
  id: bigint;
  runId: string;
  seq: number;
  ts: Date;
  level: string;
  stage: string | null;
  text: string;
};

function lineData(runId: string, l: StoredLine | LiveLogLine) {
  return {
    runId,
    seq: l.seq,
    ts: typeof l.ts === 'string' ? l.ts : l.ts.toISOString(),
    level: l.level,
    stage: l.stage,
    text: l.text,
  };
}

@Injectable()
export class LiveStreamsService {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    private readonly live: LiveEvents,
    private readonly streams: SseStreams,
  ) {}

  /** GET /runs/:id/events. */
  async streamRun(runId: string, request: Request, response: Response): Promise<void> {
    const exists = await this.prisma.run.findUnique({
      where: { id: recordId('Run', runId) },
      select: { id: true },
    });
    if (!exists) throw ApiError.notFound('Run', runId);
    const resumeSeq = Number.parseInt(lastEventId(request) ?? '0', 10);
    if (resumeSeq > MAX_LOG_SEQ)
      throw ApiError.validation(`Last-Event-ID ${resumeSeq} is past any line (at most ${MAX_LOG_SEQ}).`);
    const sent = new SeqWatermark(Number.isFinite(resumeSeq) && resumeSeq > 0 ? resumeSeq : 0);
    const stream = this.streams.start(request, response);
    const sendLine = (line: StoredLine | LiveLogLine): void => {
      if (!sent.add(line.seq)) return;
      stream.send('log', lineData(runId, line), String(sent.watermark));
    };

    const replayStored = async (): Promise<void> => {
      let after = sent.watermark;
      for (;;) {
        const lines = await this.prisma.runLogLine.findMany({
          where: { runId, seq: { gt: after } },
          orderBy: { seq: 'asc' },
          take: REPLAY_PAGE,
        });
        for (const l of lines) sendLine(l);
        if (lines.length) after = lines[lines.length - 1].seq;
        if (lines.length < REPLAY_PAGE || stream.isClosed) return;
      }
    };
    const arrivals = new Arrivals();
    stream.onClose(() => arrivals.wake());
    let ending = false;
    const end = async (status: string): Promise<void> => {
      if (ending) return;
      ending = true;
      await this.awaitFinalLines([runId], arrivals, stream);
      await replayStored().catch(() => undefined);
      if (stream.isClosed) return;
      stream.send('end', { runId, status });
      stream.close();
    };
    const deliver = (message: LiveMessage): void => {
      if (stream.isClosed) return;
      switch (message.kind) {
        case 'log':
          for (const line of message.lines) sendLine(line);
          arrivals.wake();
          return;
        case 'run':
          stream.send('run', message.run);
          if (isTerminalRun(message.run.status)) void end(message.run.status).catch(() => stream.close());
          return;
        case 'progress':
          stream.send('progress', { ...message, kind: undefined });
          return;
        case 'job':
        case 'schedule':
          return;
      }
    };

    const goLive = this.subscribeHeld(
      stream,
      (m) => m.kind !== 'schedule' && m.kind !== 'job' && m.runId === runId,
      deliver,
    );

    const run = await this.prisma.run.findUnique({ where: { id: runId } });
    if (!run) return stream.close();
    stream.send('run', runSnapshot(run));
    await replayStored();
    goLive();
    if (isTerminalRun(run.status)) await end(run.status);
  }

  /**
   * Resolves once every line up to each run's final seq is stored, checking again whenever a line
   * arrives (or the stream closes); FINAL_LINES_WAIT_MS at most, or UNKNOWN_FINAL_GRACE_MS when a
   * run's final seq is not known.
   */
  private async awaitFinalLines(
    runIds: string[],
    arrivals: Arrivals,
    stream: { readonly isClosed: boolean },
  ): Promise<void> {
    const deadline = Date.now() + FINAL_LINES_WAIT_MS;
    for (;;) {
      const arrived = arrivals.next();
      const missing = await this.missingFinalLines(runIds);
      if (missing === 'unknown') return waitAtMost(UNKNOWN_FINAL_GRACE_MS, new Promise(() => {}));
      const left = deadline - Date.now();
      if (missing === 0 || stream.isClosed || left <= 0) return;
      await waitAtMost(left, arrived);
    }
  }

  /** How many lines up to the runs' final seqs are not stored yet; 'unknown' when a final seq is not known. */
  private async missingFinalLines(runIds: string[]): Promise<number | 'unknown'> {
    const runs = await this.prisma.run.findMany({
      where: { id: { in: runIds } },
      select: { id: true, finalLogSeq: true, dispatchedAt: true },
    });
    const finals = new Map<string, number>();
    for (const run of runs) {
      // A run never handed to an agent has no lines to wait for.
      const final = run.finalLogSeq ?? (run.dispatchedAt === null ? 0 : undefined);
      if (final === undefined) return 'unknown';
      if (final > 0) finals.set(run.id, final);
    }
    if (finals.size === 0) return 0;
    const stored = await this.prisma.runLogLine.groupBy({
      by: ['runId'],
      where: { OR: [...finals].map(([runId, final]) => ({ runId, seq: { lte: final } })) },
      _count: { _all: true },
    });
    const count = new Map(stored.map((g) => [g.runId, g._count._all]));
    let missing = 0;
    for (const [runId, final] of finals) missing += final - (count.get(runId) ?? 0);
    return missing;
  }

  /** GET /jobs/:id/events. */
  async streamJob(jobId: string, request: Request, response: Response): Promise<void> {
    const exists = await this.prisma.job.findUnique({
      where: { id: recordId('Job', jobId) },
      select: { id: true },
    });
    if (!exists) throw ApiError.notFound('Job', jobId);
    const resumeAfter = parseBigInt(lastEventId(request));
    const stream = this.streams.start(request, response);
    // Per run, the seqs sent on this connection: a line comes once, whether replayed or live. Row ids
    // cannot serve as a watermark: replicas commit lines out of id order, so a lower id can come later.
    const sent = new Map<string, SeqWatermark>();
    const sendLine = (runId: string, line: StoredLine | LiveLogLine): void => {
      let seqs = sent.get(runId);
      if (!seqs) sent.set(runId, (seqs = new SeqWatermark(0)));
      if (!seqs.add(line.seq)) return;
      stream.send('log', lineData(runId, line), line.id.toString());
    };

    let runIds: string[] = [];
    const replayStored = () => this.replayJobLines(runIds, resumeAfter, sendLine, stream);
    const arrivals = new Arrivals();
    stream.onClose(() => arrivals.wake());
    let ending = false;
    const maybeEnd = async (): Promise<void> => {
      if (ending) return;
      const status = await this.endedJobStatus(jobId);
      if (!status || ending) return;
      ending = true;
      runIds = (await this.prisma.run.findMany({ where: { jobId }, select: { id: true } })).map((r) => r.id);
      await this.awaitFinalLines(runIds, arrivals, stream);
      await replayStored().catch(() => undefined);
      if (stream.isClosed) return;
      stream.send('end', { jobId, status });
      stream.close();
    };
    const deliver = (message: LiveMessage): void => {
      if (stream.isClosed) return;
      switch (message.kind) {
        case 'log':
          for (const line of message.lines) if (BigInt(line.id) > resumeAfter) sendLine(message.runId, line);
          arrivals.wake();
          return;
        case 'run':
          if (!runIds.includes(message.runId)) runIds.push(message.runId);
          stream.send('run', message.run);
          if (isTerminalRun(message.run.status)) void maybeEnd().catch(() => stream.close());
          return;
        case 'progress':
          stream.send('progress', { ...message, kind: undefined });
          return;
        case 'job':
          stream.send('job', message.job);
          if (isTerminalJob(message.job.status as never)) void maybeEnd().catch(() => stream.close());
          return;
        case 'schedule':
          return;
      }
    };

    const goLive = this.subscribeHeld(stream, (m) => m.kind !== 'schedule' && m.jobId === jobId, deliver);
    const job = await this.prisma.job.findUnique({
      where: { id: jobId },
      include: { runs: { orderBy: [{ slot: 'asc' }, { attempt: 'asc' }] } },
    });
    if (!job) return stream.close();
    stream.send('job', {
      id: job.id,
      status: job.status,
      startedAt: iso(job.startedAt),
      finishedAt: iso(job.finishedAt),
    });
    for (const run of job.runs) stream.send('run', runSnapshot(run));
    runIds = job.runs.map((r) => r.id);
    await replayStored();
    goLive();
    await maybeEnd();
  }

  /**
   * Listens before the database is read, so nothing falls between the replay and the live events:
   * messages are held until the returned function is called, then delivered as they come.
   */
  private subscribeHeld(
    stream: { onClose(listener: () => void): void },
    accept: (message: LiveMessage) => boolean,
    deliver: (message: LiveMessage) => void,
  ): () => void {
    const held: LiveMessage[] = [];
    let holding = true;
    stream.onClose(
      this.live.subscribe((message) => {
        if (!accept(message)) return;
        if (holding) held.push(message);
        else deliver(message);
      }),
    );
    return () => {
      holding = false;
      for (const message of held.splice(0)) deliver(message);
    };
  }

  /** A job's stored lines after row id `after`, in id order. */
  private async replayJobLines(
    runIds: string[],
    after: bigint,
    send: (runId: string, line: StoredLine) => void,
    stream: { readonly isClosed: boolean },
  ): Promise<void> {
    for (;;) {
      const lines = await this.prisma.runLogLine.findMany({
        where: { runId: { in: runIds }, id: { gt: after } },
        orderBy: { id: 'asc' },
        take: REPLAY_PAGE,
      });
      for (const l of lines) send(l.runId, l);
      if (lines.length) after = lines[lines.length - 1].id;
      if (lines.length < REPLAY_PAGE || stream.isClosed) return;
    }
  }

  /** The job's status once it and every run of it have ended; undefined before. */
  private async endedJobStatus(jobId: string): Promise<JobStatus | undefined> {
    const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { status: true } });
    if (!job || !isTerminalJob(job.status)) return undefined;
    const live = await this.prisma.run.count({ where: { jobId, status: { in: [...LIVE_RUN_STATUSES] } } });
    return live > 0 ? undefined : job.status;
  }
}

/**
 * Which seqs were sent: everything up to `watermark`, plus the seqs above it seen out of order, kept
 * as ranges. Lines mostly come in order, and seqs the agent reserved but never delivered (it
 * crashed, or Redis refused the write) leave a gap for good; ranges keep memory to a pair of
 * numbers per gap, where a set of seqs would grow with every line sent after the first gap.
 */
export class SeqWatermark {
  /** Sent seqs above watermark + 1: sorted, disjoint, never adjacent ([first, last] inclusive). */
  private readonly ranges: Array<[number, number]> = [];

  constructor(public watermark: number) {}

  /** Ranges held above the watermark (the memory this uses; 0 when everything sent is contiguous). */
  get fragments(): number {
    return this.ranges.length;
  }

  /** Records seq; false when it was already sent. */
  add(seq: number): boolean {
    if (seq <= this.watermark) return false;
    // The first range that ends at or after seq: seq is inside it, or goes just before it.
    let lo = 0;
    let hi = this.ranges.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ranges[mid][1] < seq) lo = mid + 1;
      else hi = mid;
    }
    const next = this.ranges[lo];
    if (next && next[0] <= seq) return false;
    const previous = lo > 0 ? this.ranges[lo - 1] : undefined;
    const joinsPrevious = previous !== undefined && previous[1] === seq - 1;
    const joinsNext = next !== undefined && next[0] === seq + 1;
    if (joinsPrevious && joinsNext) {
      previous[1] = next[1];
      this.ranges.splice(lo, 1);
    } else if (joinsPrevious) previous[1] = seq;
    else if (joinsNext) next[0] = seq;
    else this.ranges.splice(lo, 0, [seq, seq]);
    const first = this.ranges[0];
    if (first[0] === this.watermark + 1) {
      this.watermark = first[1];
      this.ranges.shift();
    }
    return true;
  }
}

/** Wakes whoever waits for the next line of a stream's runs to be stored. */
class Arrivals {
  private waiters: Array<() => void> = [];

  /** Resolves at the next wake(). */
  next(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  wake(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}

/** Waits for `event`, or `ms` at most; the timer does not outlive the wait. */
async function waitAtMost(ms: number, event: Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([event, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function parseBigInt(text: string | undefined): bigint {
  if (!text || !/^\d+$/.test(text)) return 0n;
  const value = BigInt(text);
  // Line ids are PostgreSQL bigints: a larger one names no line, and the query would fail.
  if (value > MAX_LINE_ID) throw ApiError.validation(`Last-Event-ID ${text} is past any line id.`);
  return value;
}

/** The largest PostgreSQL bigint. */
const MAX_LINE_ID = 2n ** 63n - 1n;

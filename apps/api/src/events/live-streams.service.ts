/**
 * The live streams of one run and of one job.
 *
 * Event ids (what a client sends back as Last-Event-ID):
 * - run stream: only `log` events carry an id, the line's per-run `seq`
 *   (strictly increasing); state and progress events carry none, because a
 *   resumed stream starts with a fresh snapshot anyway.
 * - job stream: only `log` events carry an id, the stored line's row id
 *   (a database sequence, increasing in insertion order across the job's runs).
 * On (re)connect: a snapshot, then the stored lines after the given id, then
 * live events; live lines already replayed are skipped. `end` is the last
 * event once the run (or the job and all its runs) has ended.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { ApiConfig } from '../config/api-config.js';
import type { PrismaClient } from '../db/generated/prisma/client.js';
import { API_CONFIG, PRISMA } from '../infra/tokens.js';
import { ApiError } from '../common/api-error.js';
import { isTerminalJob, isTerminalRun } from '../jobs/job-status.js';
import { iso, runSnapshot } from '../runs/run-snapshot.js';
import { LiveEvents, type LiveMessage } from './live-events.js';
import { SseStream, lastEventId } from './sse.js';

/** Stored lines replayed per query. */
const REPLAY_PAGE = 1000;

@Injectable()
export class LiveStreamsService {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly live: LiveEvents,
  ) {}

  /** GET /runs/:id/events. */
  async streamRun(runId: string, request: Request, response: Response): Promise<void> {
    const exists = await this.prisma.run.findUnique({ where: { id: runId }, select: { id: true } });
    if (!exists) throw ApiError.notFound('Run', runId);
    const resumeSeq = Number.parseInt(lastEventId(request) ?? '0', 10);
    const stream = new SseStream(request, response, this.config.events.sseHeartbeatMs);
    // Listen before reading the database, so nothing falls between the replay and the live events.
    const buffered: LiveMessage[] = [];
    let replaying = true;
    let sentSeq = Number.isFinite(resumeSeq) && resumeSeq > 0 ? resumeSeq : 0;
    const deliver = (message: LiveMessage): void => {
      if (stream.isClosed) return;
      switch (message.kind) {
        case 'log':
          for (const line of message.lines) {
            if (line.seq <= sentSeq) continue;
            sentSeq = line.seq;
            stream.send('log', { runId, ...line, id: undefined }, String(line.seq));
          }
          return;
        case 'run':
          stream.send('run', message.run);
          if (isTerminalRun(message.run.status as never)) {
            stream.send('end', { runId, status: message.run.status });
            stream.close();
          }
          return;
        case 'progress':
          stream.send('progress', { ...message, kind: undefined });
          return;
        case 'job':
        case 'schedule':
          return;
      }
    };
    const unsubscribe = this.live.subscribe((message) => {
      if (message.kind === 'schedule' || message.kind === 'job' || message.runId !== runId) return;
      if (replaying) buffered.push(message);
      else deliver(message);
    });
    stream.onClose(unsubscribe);

    const run = await this.prisma.run.findUnique({ where: { id: runId } });
    if (!run) return stream.close();
    stream.send('run', runSnapshot(run));
    for (;;) {
      const lines = await this.prisma.runLogLine.findMany({
        where: { runId, seq: { gt: sentSeq } },
        orderBy: { seq: 'asc' },
        take: REPLAY_PAGE,
      });
      for (const l of lines)
        stream.send(
          'log',
          { runId, seq: l.seq, ts: l.ts.toISOString(), level: l.level, stage: l.stage, text: l.text },
          String(l.seq),
        );
      if (lines.length) sentSeq = lines[lines.length - 1].seq;
      if (lines.length < REPLAY_PAGE || stream.isClosed) break;
    }
    replaying = false;
    for (const message of buffered.splice(0)) deliver(message);
    if (isTerminalRun(run.status) && !stream.isClosed) {
      stream.send('end', { runId, status: run.status });
      stream.close();
    }
  }

  /** GET /jobs/:id/events. */
  async streamJob(jobId: string, request: Request, response: Response): Promise<void> {
    const exists = await this.prisma.job.findUnique({ where: { id: jobId }, select: { id: true } });
    if (!exists) throw ApiError.notFound('Job', jobId);
    let sentId = parseBigInt(lastEventId(request));
    const stream = new SseStream(request, response, this.config.events.sseHeartbeatMs);
    const buffered: LiveMessage[] = [];
    let replaying = true;
    const maybeEnd = async (): Promise<void> => {
      const job = await this.prisma.job.findUnique({ where: { id: jobId }, select: { status: true } });
      if (!job || !isTerminalJob(job.status)) return;
      const live = await this.prisma.run.count({
        where: { jobId, status: { in: ['queued', 'dispatched', 'running'] } },
      });
      if (live > 0 || stream.isClosed) return;
      stream.send('end', { jobId, status: job.status });
      stream.close();
    };
    const deliver = (message: LiveMessage): void => {
      if (stream.isClosed) return;
      switch (message.kind) {
        case 'log':
          for (const line of message.lines) {
            const id = BigInt(line.id);
            if (id <= sentId) continue;
            sentId = id;
            stream.send('log', { runId: message.runId, ...line, id: undefined }, line.id);
          }
          return;
        case 'run':
          stream.send('run', message.run);
          if (isTerminalRun(message.run.status as never)) void maybeEnd().catch(() => stream.close());
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
    const unsubscribe = this.live.subscribe((message) => {
      if (message.kind === 'schedule' || message.jobId !== jobId) return;
      if (replaying) buffered.push(message);
      else deliver(message);
    });
    stream.onClose(unsubscribe);

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
    const runIds = job.runs.map((r) => r.id);
    for (;;) {
      const lines = await this.prisma.runLogLine.findMany({
        where: { runId: { in: runIds }, id: { gt: sentId } },
        orderBy: { id: 'asc' },
        take: REPLAY_PAGE,
      });
      for (const l of lines)
        stream.send(
          'log',
          {
            runId: l.runId,
            seq: l.seq,
            ts: l.ts.toISOString(),
            level: l.level,
            stage: l.stage,
            text: l.text,
          },
          l.id.toString(),
        );
      if (lines.length) sentId = lines[lines.length - 1].id;
      if (lines.length < REPLAY_PAGE || stream.isClosed) break;
    }
    replaying = false;
    for (const message of buffered.splice(0)) deliver(message);
    await maybeEnd();
  }
}

function parseBigInt(text: string | undefined): bigint {
  if (!text || !/^\d+$/.test(text)) return 0n;
  return BigInt(text);
}

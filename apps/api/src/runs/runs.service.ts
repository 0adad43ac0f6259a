/** Reading runs and their logs. */
import { Inject, Injectable } from '@nestjs/common';
import type { LogLineView, RunView } from '#contracts';
import { ApiError } from '../common/api-error.js';
import { recordId } from '../common/record-id.js';
import type { PrismaClient } from '../db/generated/prisma/client.js';
import { PRISMA } from '../infra/tokens.js';
import { iso, runErrorCodeOf, runSnapshot } from './run-snapshot.js';

@Injectable()
export class RunsService {
  constructor(@Inject(PRISMA) private readonly prisma: PrismaClient) {}

  /** GET /runs/:id. */
  async get(id: string): Promise<RunView> {
    const run = await this.prisma.run.findUnique({
      where: { id: recordId('Run', id) },
      include: {
        device: { select: { id: true, mac: true, chip: true, label: true, pool: true } },
        agent: { select: { id: true, name: true, hostname: true } },
        job: {
          select: {
            id: true,
            status: true,
            firmwareId: true,
            targetKind: true,
            priority: true,
            requestedBy: true,
          },
        },
      },
    });
    if (!run) throw ApiError.notFound('Run', id);
    const attempts = await this.prisma.run.findMany({
      where: { jobId: run.jobId, slot: run.slot },
      orderBy: { attempt: 'asc' },
      select: { id: true, attempt: true, status: true, deviceId: true, errorCode: true, finishedAt: true },
    });
    return {
      ...runSnapshot(run),
      device: run.device,
      agent: run.agent,
      job: run.job,
      retries: run.retries,
      bytesWritten: run.bytesWritten,
      bytesSkipped: run.bytesSkipped,
      regions: run.regions as RunView['regions'],
      timings: run.timings as RunView['timings'],
      lastLogSeq: run.lastLogSeq,
      attempts: attempts.map((a) => ({
        runId: a.id,
        attempt: a.attempt,
        status: a.status,
        deviceId: a.deviceId,
        errorCode: runErrorCodeOf(a.errorCode),
        finishedAt: iso(a.finishedAt),
      })),
    };
  }

  /** GET /runs/:id/log: lines after afterSeq, in seq order. */
  async log(
    id: string,
    afterSeq: number,
    limit: number,
  ): Promise<{ lastLogSeq: number; lines: LogLineView[] }> {
    const run = await this.prisma.run.findUnique({
      where: { id: recordId('Run', id) },
      select: { lastLogSeq: true },
    });
    if (!run) throw ApiError.notFound('Run', id);
    const lines = await this.prisma.runLogLine.findMany({
      where: { runId: id, seq: { gt: afterSeq } },
      orderBy: { seq: 'asc' },
      take: limit,
      select: { seq: true, ts: true, level: true, stage: true, text: true },
    });
    return {
      lastLogSeq: run.lastLogSeq,
      lines: lines.map((l) => ({
        seq: l.seq,
        ts: l.ts.toISOString(),
        level: l.level,
        stage: l.stage,
        text: l.text,
      })),
    };
  }
}

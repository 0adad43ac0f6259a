/** Creating, listing, reading and cancelling jobs. */
import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  ApiErrorCode,
  DEFAULT_FLASH_OPTIONS,
  type DeviceSelector,
  type DeviceSummary,
  type FlashOptions,
  type JobRunView,
  type JobSlotView,
  type JobView,
  type ListJobsQuery,
  type Page,
  type ProblemDetail,
} from '#contracts';
import { ApiError } from '../common/api-error.js';
import { page } from '../common/page.js';
import { recordId } from '../common/record-id.js';
import { deviceSelectorWhere, deviceWhereUnique } from '../devices/device-lookup.js';
import { Prisma, type PrismaClient } from '../db/generated/prisma/client.js';
import type { Job, Run } from '../db/generated/prisma/client.js';
import { PRISMA } from '../infra/tokens.js';
import { LiveEvents } from '../events/live-events.js';
import { RunLifecycleService } from '../runs/run-lifecycle.service.js';
import { iso, runErrorCodeOf, runSnapshot } from '../runs/run-snapshot.js';
import { Dispatcher } from '../scheduler/dispatcher.js';
import { bootPatternError, canonicalJson, normaliseSelector, type NewJob } from './job-request.js';
import { isTerminalJob, latestAttempts } from '../runs/job-status.js';
import { transitionRun } from '../state/run-state.js';

/** The outcome of POST /jobs: a new job (201) or the one an idempotency key already created (200). */
export interface CreateJobResult {
  created: boolean;
  job: JobView;
}

/** Who is creating a job, beyond the name stored as requestedBy. */
export interface CreateJobOptions {
  /** The API token behind POST /jobs: its idempotency keys are its own (token names need not be unique). */
  tokenId?: string;
}

/**
 * The scope an idempotency key is unique in: the token that sent it, so a key reused (or guessed) by
 * another token makes that token a new job instead of handing it someone else's. Jobs the api makes
 * itself (campaigns) have no token and are scoped by requester name under a prefix no token id can take.
 */
export function idempotencyScopeOf(requestedBy: string, options: CreateJobOptions): string {
  return options.tokenId ? `token:${options.tokenId}` : `internal:${requestedBy}`;
}

@Injectable()
export class JobsService {
  private readonly logger = new Logger('jobs');

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    private readonly runs: RunLifecycleService,
    private readonly dispatcher: Dispatcher,
    private readonly live: LiveEvents,
  ) {}

  /** Validates the target against the database and creates the job with one queued run per slot. */
  // eslint-disable-next-line max-lines-per-function -- one intake in order (firmware, target, idempotency, the job and its runs in one transaction); splitting it would scatter that order
  async create(
    request: NewJob,
    requestedBy: string,
    options: CreateJobOptions = {},
  ): Promise<CreateJobResult> {
    const idempotencyScope = request.idempotencyKey ? idempotencyScopeOf(requestedBy, options) : null;
    const unsafePattern = bootPatternError(request.options);
    if (unsafePattern) throw unsafePattern;
    const firmware = await this.prisma.firmware.findUnique({
      where: { id: request.firmwareId },
      select: { id: true, chip: true },
    });
    if (!firmware) throw ApiError.notFound('Firmware', request.firmwareId);

    let targetDeviceId: string | null = null;
    let quarantined: { mac: string; reason: string | null } | undefined;
    let selector: DeviceSelector = {};
    let slots: number;
    const target = request.target;
    switch (target.kind) {
      case 'device': {
        const where = deviceWhereUnique(target.device);
        const device = await this.prisma.device.findUnique({ where });
        if (!device) throw ApiError.notFound('Device', 'mac' in where ? where.mac : where.id);
        if (device.chip !== firmware.chip)
          throw new ApiError(
            ApiErrorCode.CHIP_MISMATCH,
            `Device ${device.mac} is an ${device.chip}; firmware ${firmware.id} is built for ${firmware.chip}.`,
          );
        targetDeviceId = device.id;
        if (device.state === 'quarantined')
          quarantined = { mac: device.mac, reason: device.quarantineReason };
        slots = 1;
        break;
      }
      case 'selector':
      case 'all': {
        if (target.selector.chip && target.selector.chip !== firmware.chip)
          throw new ApiError(
            ApiErrorCode.CHIP_MISMATCH,
            `The selector asks for ${target.selector.chip} boards but firmware ${firmware.id} is built for ${firmware.chip}.`,
          );
        // The firmware decides the chip: a selector without one still only ever matches boards of that chip.
        selector = normaliseSelector({ ...target.selector, chip: firmware.chip });
        if (target.kind === 'selector') {
          slots = target.count;
          await this.refuseUnsatisfiable(selector, slots);
        } else {
          slots = await this.prisma.device.count({
            where: { ...deviceSelectorWhere(selector), state: { in: ['idle', 'busy'] } },
          });
          if (slots === 0)
            throw new ApiError(
              ApiErrorCode.NO_MATCHING_DEVICE,
              `No device matches ${describeSelector(selector)}: "all" targets the matching boards that are online now.`,
              [{ field: 'target.all', message: 'no device matches' }],
            );
        }
        break;
      }
    }

    const data = {
      firmwareId: firmware.id,
      targetKind: target.kind,
      targetDeviceId,
      selector: selector as Prisma.InputJsonValue,
      count: slots,
      options: request.options as unknown as Prisma.InputJsonValue,
      priority: request.priority,
    };

    if (request.idempotencyKey && idempotencyScope) {
      const existing = await this.prisma.job.findUnique({
        where: {
          idempotencyScope_idempotencyKey: { idempotencyScope, idempotencyKey: request.idempotencyKey },
        },
      });
      if (existing) return { created: false, job: await this.replay(existing, data) };
    }
    // Checked after the replay: a job its key created before the quarantine is still that job.
    // Refused rather than queued: only an operator brings the board back, so the job would wait
    // out the pinned bound and fail, and CI is better told now what to do instead. A board
    // quarantined after this check is left to the scheduler (NO_USABLE_DEVICE after the wait).
    if (quarantined)
      throw new ApiError(
        ApiErrorCode.DEVICE_QUARANTINED,
        `Device ${quarantined.mac} is quarantined (${quarantined.reason ?? 'no reason given'}) and takes no jobs. Release it with POST /devices/${quarantined.mac}/release once it is fixed, or target a selector so another board can take the job.`,
      );

    let job: Job;
    try {
      job = await this.prisma.$transaction(async (tx) => {
        const created = await tx.job.create({
          data: { ...data, requestedBy, idempotencyKey: request.idempotencyKey ?? null, idempotencyScope },
        });
        await tx.run.createMany({
          data: Array.from({ length: slots }, (_, slot) => ({ jobId: created.id, slot, attempt: 1 })),
        });
        return created;
      });
    } catch (error) {
      // Two requests with one key at once: the loser answers with the winner's job.
      if (
        request.idempotencyKey &&
        idempotencyScope &&
        error instanceof Prisma.PrismaClientKnownRequestError &&
        error.code === 'P2002'
      ) {
        const existing = await this.prisma.job.findUnique({
          where: {
            idempotencyScope_idempotencyKey: { idempotencyScope, idempotencyKey: request.idempotencyKey },
          },
        });
        if (existing) return { created: false, job: await this.replay(existing, data) };
      }
      throw error;
    }
    this.logger.log(`job ${job.id} by ${requestedBy}: ${slots} slot(s) of firmware ${firmware.id}`);
    await this.live.publish({ kind: 'schedule' });
    return { created: true, job: await this.get(job.id) };
  }

  /**
   * 422 NO_MATCHING_DEVICE for a selector job no registered board can ever serve: a board serves one
   * slot of a job, so `count` needs that many matching boards, whatever their state now (an offline or
   * quarantined board may come back; a board never registered will not appear by waiting). Such a job
   * used to be stored and wait forever. The answer says what exists: the matching boards by state, or,
   * when none match, the boards of the firmware's chip by pool.
   */
  private async refuseUnsatisfiable(selector: DeviceSelector, count: number): Promise<void> {
    const matching = await this.prisma.device.groupBy({
      by: ['state'],
      where: deviceSelectorWhere(selector),
      _count: { _all: true },
    });
    const byState = new Map(matching.map((g) => [g.state as string, g._count._all]));
    const total = [...byState.values()].reduce((a, b) => a + b, 0);
    if (total >= count) return;
    const details: ProblemDetail[] = [
      {
        field: 'target.count',
        message: `asks for ${count} board(s); ${total} registered board(s) match${total ? ` (${describeStates(byState)})` : ''}`,
      },
    ];
    if (total === 0) {
      const pools = await this.prisma.device.groupBy({
        by: ['pool'],
        where: { chip: selector.chip },
        _count: { _all: true },
      });
      details.push({
        field: 'target.selector',
        message: pools.length
          ? `registered ${selector.chip} boards by pool: ${pools.map((p) => `${p.pool ?? '(no pool)'} ${p._count._all}`).join(', ')}`
          : `no ${selector.chip} board is registered`,
      });
    }
    throw new ApiError(
      ApiErrorCode.NO_MATCHING_DEVICE,
      `No job can take ${count} board(s) matching ${describeSelector(selector)}: ${total} registered board(s) match, and a board serves one slot of a job. Lower target.count, widen the selector, or register more boards.`,
      details,
    );
  }

  /** The job an idempotency key created, or 409 when the same key came with another request. */
  private async replay(
    existing: Job,
    data: {
      firmwareId: string;
      targetKind: string;
      targetDeviceId: string | null;
      selector: unknown;
      count: number;
      options: unknown;
      priority: number;
    },
  ): Promise<JobView> {
    const stored = {
      firmwareId: existing.firmwareId,
      targetKind: existing.targetKind,
      targetDeviceId: existing.targetDeviceId,
      selector: existing.selector,
      // "all" counts the matching boards at creation; a replay later may count differently and is still the same request.
      count: existing.targetKind === 'all' ? 0 : existing.count,
      options: existing.options,
      priority: existing.priority,
    };
    const requested = { ...data, count: data.targetKind === 'all' ? 0 : data.count };
    if (canonicalJson(stored) !== canonicalJson(requested))
      throw new ApiError(
        ApiErrorCode.IDEMPOTENCY_CONFLICT,
        `Idempotency key "${existing.idempotencyKey}" was already used for job ${existing.id} with a different request.`,
      );
    return this.get(existing.id);
  }

  /** GET /jobs: newest first. */
  async list(query: ListJobsQuery): Promise<Page<JobView>> {
    const where: Prisma.JobWhereInput = {
      ...(query.status ? { status: query.status } : {}),
      ...(query.firmwareId ? { firmwareId: query.firmwareId } : {}),
      ...(query.requestedBy ? { requestedBy: query.requestedBy } : {}),
    };
    const [jobs, total] = await Promise.all([
      this.prisma.job.findMany({
        where,
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: query.limit,
        skip: query.offset,
        include: { runs: true },
      }),
      this.prisma.job.count({ where }),
    ]);
    return page(
      jobs.map((j) => jobView(j, j.runs, new Map())),
      total,
      query,
    );
  }

  /** GET /jobs/:id: the job with each slot's latest attempt and its attempt history. */
  async get(id: string): Promise<JobView> {
    const job = await this.prisma.job.findUnique({
      where: { id: recordId('Job', id) },
      include: { runs: true },
    });
    if (!job) throw ApiError.notFound('Job', id);
    const deviceIds = [...new Set(job.runs.map((r) => r.deviceId).filter((d): d is string => d !== null))];
    const devices = new Map(
      (
        await this.prisma.device.findMany({
          where: { id: { in: deviceIds } },
          select: { id: true, mac: true, chip: true, label: true },
        })
      ).map((d) => [d.id, d]),
    );
    return jobView(job, job.runs, devices);
  }

  /**
   * POST /jobs/:id/cancel: waiting runs end now; runs on a board get a cancel
   * message and end when the agent confirms (or after the grace time).
   */
  async cancel(id: string, reason: string): Promise<JobView> {
    recordId('Job', id);
    const outcome = await this.prisma.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT id FROM "Job" WHERE id = ${id}::uuid FOR UPDATE`;
      const job = await tx.job.findUnique({ where: { id } });
      if (!job) throw ApiError.notFound('Job', id);
      if (isTerminalJob(job.status))
        throw new ApiError(
          ApiErrorCode.JOB_NOT_CANCELLABLE,
          `Job ${id} has already ${job.status}; there is nothing to cancel.`,
        );
      const now = new Date();
      await transitionRun(tx, { jobId: id }, 'cancelled', {
        from: ['queued'],
        data: { finishedAt: now, errorCode: 'CANCELLED', errorMessage: reason },
      });
      const updated = await tx.job.update({
        where: { id },
        data: { status: 'cancelled', cancelReason: reason, finishedAt: now },
      });
      const inFlight = await tx.run.findMany({
        where: { jobId: id, status: { in: ['dispatched', 'running'] } },
        select: { id: true, agentId: true, status: true },
      });
      const runs = await tx.run.findMany({ where: { jobId: id } });
      return { job: updated, inFlight, runs };
    });
    for (const run of outcome.runs)
      if (run.status === 'cancelled')
        await this.live.publish({ kind: 'run', jobId: id, runId: run.id, run: runSnapshot(run) });
    await this.live.publish({
      kind: 'job',
      jobId: id,
      job: {
        id,
        status: 'cancelled',
        startedAt: iso(outcome.job.startedAt),
        finishedAt: iso(outcome.job.finishedAt),
      },
    });
    for (const run of outcome.inFlight) {
      if (!run.agentId) continue;
      // Not picked up yet: take it off the queue and end it here; otherwise the agent aborts and confirms.
      if (
        run.status === 'dispatched' &&
        (await this.dispatcher.withdraw(run.agentId, run.id).catch(() => false))
      ) {
        await this.runs.finishRun(run.id, {
          status: 'cancelled',
          errorCode: 'CANCELLED',
          errorMessage: reason,
        });
        continue;
      }
      await this.dispatcher.control(run.agentId, { type: 'cancel-run', runId: run.id, reason });
    }
    return this.get(id);
  }
}

/** "6 idle, 1 busy, 1 offline" from counts by state (states with none left out). */
function describeStates(byState: Map<string, number>): string {
  return [...byState].map(([state, n]) => `${n} ${state}`).join(', ');
}

function describeSelector(selector: DeviceSelector): string {
  const parts = [`chip ${selector.chip}`];
  if (selector.pool) parts.push(`pool ${selector.pool}`);
  if (selector.tags?.length) parts.push(`tags ${selector.tags.join(', ')}`);
  return parts.join(', ');
}

function runView(run: Run, devices: Map<string, DeviceSummary>): JobRunView {
  return {
    ...runSnapshot(run),
    device: run.deviceId ? (devices.get(run.deviceId) ?? { id: run.deviceId }) : null,
    retries: run.retries,
    bytesWritten: run.bytesWritten,
    bytesSkipped: run.bytesSkipped,
    timings: run.timings as Record<string, number>,
    lastLogSeq: run.lastLogSeq,
  };
}

/** The target as the job names it to clients. */
function targetView(job: Job): JobView['target'] {
  switch (job.targetKind) {
    case 'device':
      return { device: job.targetDeviceId };
    case 'selector':
      return { selector: job.selector as DeviceSelector, count: job.count };
    case 'all':
      return { all: job.selector as DeviceSelector };
  }
}

/** A job with its slots (latest attempt first-class, earlier attempts as history). */
export function jobView(job: Job, runs: Run[], devices: Map<string, DeviceSummary>): JobView {
  const slots = latestAttempts(runs).map((latest): JobSlotView => ({
    slot: latest.slot,
    attempts: latest.attempt,
    latest: runView(latest, devices),
    history: runs
      .filter((r) => r.slot === latest.slot)
      .sort((a, b) => a.attempt - b.attempt)
      .map((r) => ({
        runId: r.id,
        attempt: r.attempt,
        status: r.status,
        deviceId: r.deviceId,
        errorCode: runErrorCodeOf(r.errorCode),
        errorMessage: r.errorMessage,
        startedAt: iso(r.startedAt),
        finishedAt: iso(r.finishedAt),
      })),
  }));
  const counts: JobView['slotCounts'] = {};
  for (const s of slots) counts[s.latest.status] = (counts[s.latest.status] ?? 0) + 1;
  return {
    id: job.id,
    status: job.status,
    firmwareId: job.firmwareId,
    target: targetView(job),
    // What the scheduler dispatches: stored options over the defaults (rows written without options hold {}).
    options: { ...DEFAULT_FLASH_OPTIONS, ...(job.options as Partial<FlashOptions>) },
    priority: job.priority,
    requestedBy: job.requestedBy,
    idempotencyKey: job.idempotencyKey,
    cancelReason: job.cancelReason,
    createdAt: job.createdAt.toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    slotCounts: counts,
    slots,
  };
}

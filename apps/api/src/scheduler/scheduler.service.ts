/**
 * Binds waiting runs to idle eligible boards and hands them to the agents,
 * and recovers runs whose agent or board vanished.
 *
 * Exclusivity does not depend on this process being alone: a bind is one
 * transaction of two conditional updates (the board idle → busy with
 * currentRunId = run, unique; the run queued → dispatched), so two replicas
 * racing for one board or one run leave exactly one winner.
 */
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  DEFAULT_FLASH_OPTIONS,
  RunErrorCode,
  firmwarePartPath,
  type DeviceSelector,
  type FirmwarePartRef,
  type FlashOptions,
  type FlashRunPayload,
} from '#contracts';
import type { ApiConfig } from '../config/api-config.js';
import { Prisma, type PrismaClient } from '../db/generated/prisma/client.js';
import { API_CONFIG, PRISMA } from '../infra/tokens.js';
import { AgentLivenessService } from '../agents/index.js';
import { recordFarmEvent } from '../events/farm-events.js';
import { LiveEvents } from '../events/live-events.js';
import { RecoveryGate } from '../runs/recovery-gate.js';
import { RunLifecycleService } from '../runs/run-lifecycle.service.js';
import { runSnapshot } from '../runs/run-snapshot.js';
import { deviceSelectorWhere } from '../devices/device-lookup.js';
import { transitionDevice } from '../state/device-state.js';
import { transitionRun } from '../state/run-state.js';
import { Dispatcher } from './dispatcher.js';
import { UnitRegionsSource } from './unit-regions-source.js';
import { unusablePinnedBoard } from './pinned-board.js';
import { heldBoards, type SlotRun } from './slot-boards.js';
import { UnbindableSince } from './unbindable-since.js';

/** Waiting runs considered per pass (highest priority, oldest first). */
const WAITING_RUNS_PER_PASS = 500;
/** A dispatched run not started after this long has its queue entry checked (and re-added if lost). */
const DISPATCH_RECHECK_MS = 10_000;
/** Boards tried for one run in one pass before it waits for the next pass. */
const BIND_TRIES_PER_RUN = 3;

class BindLost extends Error {}

interface CandidateDevice {
  id: string;
  mac: string;
  chip: string;
  pool: string | null;
  tags: string[];
  resetSequence: string | null;
  bestBaud: number | null;
  agentId: string;
  portPath: string;
}

@Injectable()
export class SchedulerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('scheduler');
  private timer?: NodeJS.Timeout;
  private unsubscribe?: () => void;
  private running?: Promise<void>;
  private again = false;
  private stopped = false;
  /** Since when passes fail (the database is unreachable, typically); undefined while they succeed. */
  private failingSince?: number;
  /** When this replica first saw a waiting run that no board can take (pinned runs and "all" slots). */
  private readonly unbindable = new UnbindableSince();
  /** Passes this replica completed (flashfarm_scheduler_passes_total). */
  passes = 0;
  /**
   * When the last completed pass began (ms since the epoch): every change made before that moment, and
   * every bounded wait that had run out by then, has been acted on. Tests wait on it instead of sleeping.
   */
  lastPassStartedAt = 0;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly runs: RunLifecycleService,
    private readonly dispatcher: Dispatcher,
    private readonly live: LiveEvents,
    private readonly liveness: AgentLivenessService,
    private readonly gate: RecoveryGate,
    private readonly unitRegions: UnitRegionsSource,
  ) {}

  onApplicationBootstrap(): void {
    const unsubscribeLive = this.live.subscribe((message) => {
      if (message.kind === 'schedule') this.trigger();
    });
    // An agent marked offline: recover its runs now rather than at the next poll.
    const unsubscribeOffline = this.liveness.onAgentOffline(() => this.trigger());
    this.unsubscribe = () => {
      unsubscribeLive();
      unsubscribeOffline();
    };
    // The database poll is the safety net: it binds and recovers even when no event arrived.
    this.timer = setInterval(() => this.trigger(), this.config.scheduler.intervalMs);
    this.trigger();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.unsubscribe?.();
    await this.running;
  }

  /** Asks for a scheduling pass; passes never overlap, and requests during a pass coalesce into one more. */
  trigger(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => {
      this.running = undefined;
    });
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.pass();
        if (this.failingSince !== undefined) {
          // Heartbeats could not be stored while the database failed: agents are heard again before any is judged.
          this.gate.resume(
            `${Math.round((Date.now() - this.failingSince) / 1000)} s of failed scheduling passes (database unreachable?)`,
          );
          this.failingSince = undefined;
        }
      } catch (error) {
        if (this.stopped) return;
        this.failingSince ??= Date.now();
        this.logger.error(
          `scheduling pass failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
        return; // the next tick retries
      }
    } while (this.again && !this.stopped);
  }

  /**
   * One pass: recovery first (it frees boards and queues new attempts), then binding. Runs of
   * silent agents are judged only once the recovery gate is open: after a start or a pause, the
   * agents' stored events are read and the agents are heard again first (RecoveryGate).
   */
  async pass(): Promise<void> {
    const now = new Date();
    if (this.gate.isOpen(now.getTime())) await this.recoverDeadAgents(now);
    await this.recoverGoneDevices();
    await this.expireCancelledRuns(now);
    this.unbindable.beginPass();
    await this.expirePinnedWaits(now);
    await this.endStrandedSlots(now);
    this.unbindable.endPass();
    await this.recoverUntakenRuns(now);
    await this.restoreReachableAgents(now);
    await this.recheckDispatched(now);
    await this.bindWaiting(now);
    this.passes++;
    this.lastPassStartedAt = now.getTime();
  }

  private agentCutoff(now: Date): Date {
    return new Date(now.getTime() - this.config.scheduler.agentDeadAfterMs);
  }

  private liveAttachment(now: Date): Prisma.AttachmentWhereInput {
    return { detachedAt: null, agent: { status: 'online', lastHeartbeatAt: { gt: this.agentCutoff(now) } } };
  }

  /** Runs held by an agent that went offline or stopped heartbeating: failed (INFRASTRUCTURE) and re-queued. */
  private async recoverDeadAgents(now: Date): Promise<void> {
    const lost = await this.prisma.run.findMany({
      where: {
        status: { in: ['dispatched', 'running'] },
        agent: { OR: [{ status: 'offline' }, { lastHeartbeatAt: { lt: this.agentCutoff(now) } }] },
      },
      select: { id: true, agent: { select: { name: true } } },
    });
    for (const run of lost) {
      const result = await this.runs.finishRun(run.id, {
        status: 'failed',
        errorCode: 'INFRASTRUCTURE',
        errorMessage: `agent ${run.agent?.name ?? '?'} stopped answering while holding the run`,
        requeue: true,
      });
      if (result.finished) this.logger.warn(`run ${run.id}: agent ${run.agent?.name} is gone; re-queued`);
    }
  }

  /** Runs whose board was unplugged (no current attachment, or marked offline): failed (DEVICE_GONE) and re-queued. */
  private async recoverGoneDevices(): Promise<void> {
    const lost = await this.prisma.run.findMany({
      where: {
        status: { in: ['dispatched', 'running'] },
        device: { OR: [{ state: 'offline' }, { attachments: { none: { detachedAt: null } } }] },
      },
      select: { id: true, device: { select: { mac: true } } },
    });
    for (const run of lost) {
      const result = await this.runs.finishRun(run.id, {
        status: 'failed',
        errorCode: 'DEVICE_GONE',
        errorMessage: `board ${run.device?.mac ?? '?'} disappeared during the run`,
        requeue: true,
      });
      if (result.finished) this.logger.warn(`run ${run.id}: board ${run.device?.mac} is gone; re-queued`);
    }
  }

  /** In-flight runs of cancelled jobs whose agent never confirmed the cancel. */
  private async expireCancelledRuns(now: Date): Promise<void> {
    const stale = await this.prisma.run.findMany({
      where: {
        status: { in: ['dispatched', 'running'] },
        job: {
          status: 'cancelled',
          finishedAt: { lt: new Date(now.getTime() - this.config.scheduler.cancelGraceMs) },
        },
      },
      select: { id: true },
    });
    for (const run of stale)
      await this.runs.finishRun(run.id, {
        status: 'cancelled',
        errorCode: 'CANCELLED',
        errorMessage: `cancelled; the agent did not confirm within ${this.config.scheduler.cancelGraceMs} ms`,
      });
  }

  /**
   * A waiting run of a pinned-device job, first attempt or not, whose board cannot take it (gone,
   * its agent down, or quarantined while still attached) waits a bounded time
   * (FLASHFARM_PINNED_REQUEUE_WAIT_MS, counted from when this replica first saw it so) for the board
   * to come back or be released, then fails for good: DEVICE_GONE for a board that is gone,
   * NO_USABLE_DEVICE for a quarantined one (see unusablePinnedBoard). Otherwise a job pinned to a
   * board that never returns would never finish. A board that is merely busy is waited for.
   */
  private async expirePinnedWaits(now: Date): Promise<void> {
    const waiting = await this.prisma.run.findMany({
      where: { status: 'queued', job: { targetKind: 'device', status: { in: ['queued', 'running'] } } },
      select: { id: true, job: { select: { targetDeviceId: true } } },
    });
    if (waiting.length === 0) return;
    const deviceIds = [
      ...new Set(waiting.flatMap((r) => (r.job.targetDeviceId ? [r.job.targetDeviceId] : []))),
    ];
    const devices = new Map(
      (
        await this.prisma.device.findMany({
          where: { id: { in: deviceIds } },
          select: {
            id: true,
            mac: true,
            state: true,
            quarantineReason: true,
            attachments: { where: this.liveAttachment(now), take: 1, select: { id: true } },
          },
        })
      ).map((d) => [d.id, d]),
    );
    const waitMs = this.config.scheduler.pinnedRequeueWaitMs;
    for (const run of waiting) {
      const device = run.job.targetDeviceId ? devices.get(run.job.targetDeviceId) : undefined;
      const failure = unusablePinnedBoard(
        device ? { ...device, reachable: device.attachments.length > 0 } : null,
        { waitMs },
      );
      if (!failure || this.unbindable.waitedMs(run.id, now.getTime()) < waitMs) continue;
      const result = await this.runs.finishRun(run.id, { status: 'failed', ...failure, final: true });
      if (result.finished) this.logger.warn(`run ${run.id}: ${failure.errorMessage}; failed`);
    }
  }

  /**
   * An "all" job has one slot per board that matched at submission, and a board serves one slot of
   * a job (or keeps the slot that ended on it for good: see heldBoards). When a slot's board leaves
   * service for good (quarantined after failing, or unplugged) while every other matching board is
   * held by its own slot, nothing can ever take the slot, and the job would never finish. Like a
   * pinned run, such a slot waits a bounded time for a board to come back
   * (FLASHFARM_PINNED_REQUEUE_WAIT_MS), then fails for good with NO_USABLE_DEVICE (not DEVICE_GONE:
   * the board may be quarantined, not gone), so the job ends (failed, the other slots' results kept)
   * and CI gets an answer instead of a job that hangs.
   *
   * Busy boards count as usable: they free up by themselves. So do boards whose agent is down but
   * which are still attached: an agent restart brings them back, and a farm outage is not a reason
   * to fail user jobs (a host gone for good is for an operator: quarantine its boards or cancel).
   *
   * The wait is measured from when this replica first saw the slot stranded, not from queuedAt (see
   * UnbindableSince).
   *
   * A selector job with a count ("count: 9") is held to the same rule: POST /jobs refuses a count
   * no registered board can meet, but boards leave service after submission, and a slot that no
   * board outside the job's other slots can take would otherwise wait forever. Its ended slots hold
   * nothing (a count job takes any N matching boards).
   */
  private async endStrandedSlots(now: Date): Promise<void> {
    const waiting = await this.prisma.run.findMany({
      where: {
        status: 'queued',
        job: { targetKind: { in: ['all', 'selector'] }, status: { in: ['queued', 'running'] } },
      },
      select: {
        id: true,
        jobId: true,
        slot: true,
        job: { select: { targetKind: true, selector: true, firmware: { select: { chip: true } } } },
      },
    });
    const byJob = new Map<string, typeof waiting>();
    for (const run of waiting) byJob.set(run.jobId, [...(byJob.get(run.jobId) ?? []), run]);
    for (const [jobId, runs] of byJob) {
      const selector = (runs[0].job.selector ?? {}) as DeviceSelector;
      // The boards the job counted at submission (same match) that are in service or may come back.
      const usable = await this.prisma.device.findMany({
        where: {
          chip: runs[0].job.firmware.chip,
          OR: [
            { state: { in: ['idle', 'busy'] } },
            { state: 'offline', attachments: { some: { detachedAt: null } } },
          ],
          ...deviceSelectorWhere({ pool: selector.pool, tags: selector.tags }),
        },
        select: { id: true },
      });
      const held = heldBoards(
        await this.prisma.run.findMany({
          where: { jobId },
          select: { slot: true, attempt: true, status: true, deviceId: true },
        }),
        { endedSlotsHold: runs[0].job.targetKind === 'all' },
      );
      for (const run of runs) {
        const takenByOther = (deviceId: string) => {
          const slot = held.get(deviceId);
          return slot !== undefined && slot !== run.slot;
        };
        if (usable.some((d) => !takenByOther(d.id))) continue;
        const waitMs = this.config.scheduler.pinnedRequeueWaitMs;
        if (this.unbindable.waitedMs(run.id, now.getTime()) < waitMs) continue;
        const result = await this.runs.finishRun(run.id, {
          status: 'failed',
          errorCode: RunErrorCode.NO_USABLE_DEVICE,
          errorMessage:
            run.job.targetKind === 'all'
              ? `no usable board for ${waitMs} ms: every matching board is quarantined, unplugged, or held by another slot of this "all" job (flashing it or done with it)`
              : `no usable board for ${waitMs} ms: ${usable.length} matching board(s) in service or attached, every one quarantined, unplugged, or serving another slot of this job (a board serves one slot of a job)`,
          final: true,
        });
        if (result.finished) this.logger.warn(`run ${run.id}: no board left for its slot; failed`);
      }
    }
  }

  /**
   * An agent that heartbeats but never takes its runs (its queue connection reaches another Redis than
   * the farm's, or none): runs waiting on its queue past the bound, with no worker of it connected, are
   * taken back and re-queued for other boards, and the agent is queue_unreachable (nothing is bound to
   * its boards) with a farm event, until a worker of it shows up (restoreReachableAgents).
   */
  private async recoverUntakenRuns(now: Date): Promise<void> {
    const boundMs = this.config.scheduler.untakenAfterMs;
    const stale = await this.prisma.run.findMany({
      where: {
        status: 'dispatched',
        dispatchedAt: { lt: new Date(now.getTime() - boundMs) },
        agent: { status: 'online' },
      },
      select: { id: true, agentId: true, agent: { select: { name: true } } },
      take: 100,
    });
    const byAgent = new Map<string, { name: string; runIds: string[] }>();
    for (const run of stale) {
      if (!run.agentId || !(await this.dispatcher.isWaiting(run.agentId, run.id))) continue;
      const entry = byAgent.get(run.agentId) ?? { name: run.agent?.name ?? '?', runIds: [] };
      entry.runIds.push(run.id);
      byAgent.set(run.agentId, entry);
    }
    for (const [agentId, { name, runIds }] of byAgent) {
      // A worker that is connected but busy takes its runs later: only a missing worker is unreachable.
      if (await this.dispatcher.hasWorker(agentId)) continue;
      const reason = `${runIds.length} run(s) waited on its queue for over ${Math.round(boundMs / 1000)} s and no worker of it is connected to the farm's Redis: it cannot reach the queue (its REDIS_URL, or the api's FLASHFARM_AGENT_REDIS_URL)`;
      const { count } = await this.prisma.agent.updateMany({
        where: { id: agentId, status: 'online' },
        data: { status: 'queue_unreachable', statusReason: reason },
      });
      if (count)
        await recordFarmEvent(this.prisma, {
          type: 'agent.queue-unreachable',
          severity: 'error',
          message: `agent ${name}: ${reason}; its runs go to other boards`,
          agentId,
          details: { runIds },
        });
      for (const runId of runIds) {
        await this.dispatcher.withdraw(agentId, runId);
        const result = await this.runs.finishRun(runId, {
          status: 'failed',
          errorCode: 'INFRASTRUCTURE',
          errorMessage: `agent ${name} never took the run from its queue (queue unreachable)`,
          requeue: true,
        });
        if (result.finished) this.logger.warn(`run ${runId}: agent ${name} never took it; re-queued`);
      }
    }
  }

  /** A queue_unreachable agent whose worker is now connected to the farm's Redis is online again. */
  private async restoreReachableAgents(now: Date): Promise<void> {
    const agents = await this.prisma.agent.findMany({
      where: { status: 'queue_unreachable', lastHeartbeatAt: { gt: this.agentCutoff(now) } },
      select: { id: true, name: true },
    });
    for (const agent of agents) {
      if (!(await this.dispatcher.hasWorker(agent.id))) continue;
      const { count } = await this.prisma.agent.updateMany({
        where: { id: agent.id, status: 'queue_unreachable' },
        data: { status: 'online', statusReason: null },
      });
      if (count)
        await recordFarmEvent(this.prisma, {
          type: 'agent.queue-reachable',
          severity: 'info',
          message: `agent ${agent.name} takes runs from its queue again`,
          agentId: agent.id,
        });
    }
  }

  /** A bind whose queue entry was lost (the process died between commit and add) is re-added. */
  private async recheckDispatched(now: Date): Promise<void> {
    const stale = await this.prisma.run.findMany({
      where: { status: 'dispatched', dispatchedAt: { lt: new Date(now.getTime() - DISPATCH_RECHECK_MS) } },
      select: { id: true, agentId: true },
      take: 100,
    });
    for (const run of stale) {
      if (!run.agentId || (await this.dispatcher.isQueued(run.agentId, run.id))) continue;
      const payload = await this.payloadFor(run.id);
      if (!payload) continue;
      this.logger.warn(`run ${run.id} was bound but not on its agent's queue; dispatching again`);
      await this.dispatcher.dispatch(run.agentId, payload);
    }
  }

  private async bindWaiting(now: Date): Promise<void> {
    const waiting = await this.prisma.run.findMany({
      where: { status: 'queued', job: { status: { in: ['queued', 'running'] } } },
      select: {
        id: true,
        jobId: true,
        slot: true,
        job: {
          select: {
            targetKind: true,
            targetDeviceId: true,
            selector: true,
            firmware: { select: { chip: true } },
          },
        },
      },
      orderBy: [
        { job: { priority: 'desc' } },
        { job: { createdAt: 'asc' } },
        { jobId: 'asc' },
        { slot: 'asc' },
      ],
      take: WAITING_RUNS_PER_PASS,
    });
    if (waiting.length === 0) return;
    const free = await this.freeDevices(now);
    if (free.length === 0) return;

    // A board serves one slot of a job: a second slot of the same job must land on another board.
    // In an "all" job a board also stays with a slot that ended on it for good (see heldBoards).
    const targetKinds = new Map(waiting.map((r) => [r.jobId, r.job.targetKind]));
    const runsByJob = new Map<string, SlotRun[]>();
    for (const r of await this.prisma.run.findMany({
      where: { jobId: { in: [...targetKinds.keys()] } },
      select: { jobId: true, slot: true, attempt: true, status: true, deviceId: true },
    })) {
      const jobRuns = runsByJob.get(r.jobId);
      if (jobRuns) jobRuns.push(r);
      else runsByJob.set(r.jobId, [r]);
    }
    const used = new Map<string, Map<string, number>>();
    for (const [jobId, kind] of targetKinds)
      used.set(jobId, heldBoards(runsByJob.get(jobId) ?? [], { endedSlotsHold: kind === 'all' }));

    for (const run of waiting) {
      if (free.length === 0) break;
      const selector = (run.job.selector ?? {}) as DeviceSelector;
      const usedByJob = used.get(run.jobId);
      let tries = 0;
      for (let i = 0; i < free.length && tries < BIND_TRIES_PER_RUN;) {
        const device = free[i];
        const slotOnDevice = usedByJob?.get(device.id);
        const eligible =
          device.chip === run.job.firmware.chip &&
          (run.job.targetKind === 'device'
            ? device.id === run.job.targetDeviceId
            : matchesSelector(device, selector)) &&
          (slotOnDevice === undefined || slotOnDevice === run.slot);
        if (!eligible) {
          i++;
          continue;
        }
        tries++;
        free.splice(i, 1);
        if (await this.bind(run.id, device)) {
          let byDevice = used.get(run.jobId);
          if (!byDevice) used.set(run.jobId, (byDevice = new Map<string, number>()));
          byDevice.set(device.id, run.slot);
          await this.afterBind(run.id, run.jobId, device);
          break;
        }
      }
    }
  }

  private async freeDevices(now: Date): Promise<CandidateDevice[]> {
    const live = this.liveAttachment(now);
    const devices = await this.prisma.device.findMany({
      where: { state: 'idle', currentRunId: null, attachments: { some: live } },
      select: {
        id: true,
        mac: true,
        chip: true,
        pool: true,
        tags: true,
        resetSequence: true,
        bestBaud: true,
        attachments: {
          where: live,
          orderBy: { lastSeenAt: 'desc' },
          take: 1,
          select: { agentId: true, portPath: true },
        },
      },
      orderBy: [{ lastRunAt: { sort: 'asc', nulls: 'first' } }, { id: 'asc' }],
    });
    return devices.flatMap((d) =>
      d.attachments[0]
        ? [{ ...d, agentId: d.attachments[0].agentId, portPath: d.attachments[0].portPath }]
        : [],
    );
  }

  /** The conditional bind; false when another replica or run got there first. */
  private async bind(runId: string, device: CandidateDevice): Promise<boolean> {
    try {
      await this.prisma.$transaction(async (tx) => {
        const bound = await transitionDevice(tx, { id: device.id, currentRunId: null }, 'busy', {
          from: ['idle'],
          data: { currentRunId: runId },
        });
        if (bound !== 1) throw new BindLost();
        const dispatched = await transitionRun(tx, { id: runId }, 'dispatched', {
          from: ['queued'],
          data: {
            deviceId: device.id,
            agentId: device.agentId,
            portPath: device.portPath,
            dispatchedAt: new Date(),
          },
        });
        if (dispatched !== 1) throw new BindLost();
      });
      return true;
    } catch (error) {
      if (error instanceof BindLost) return false;
      // The unique currentRunId refuses a second board for a run another replica is binding right now.
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') return false;
      throw error;
    }
  }

  private async afterBind(runId: string, jobId: string, device: CandidateDevice): Promise<void> {
    const now = new Date();
    const started = await this.prisma.job.updateMany({
      where: { id: jobId, status: 'queued' },
      data: { status: 'running', startedAt: now },
    });
    const payload = await this.payloadFor(runId);
    if (payload) {
      try {
        await this.dispatcher.dispatch(device.agentId, payload);
      } catch (error) {
        // The bind stands; recheckDispatched adds the entry once Redis answers again.
        this.logger.error(
          `run ${runId}: could not add to the agent queue: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
    const run = await this.prisma.run.findUnique({ where: { id: runId } });
    if (run) await this.live.publish({ kind: 'run', jobId, runId, run: runSnapshot(run) });
    if (started.count > 0)
      await this.live.publish({
        kind: 'job',
        jobId,
        job: { id: jobId, status: 'running', startedAt: now.toISOString(), finishedAt: null },
      });
  }

  /** The FlashRunPayload of a bound run, from the database. */
  async payloadFor(runId: string): Promise<FlashRunPayload | undefined> {
    const run = await this.prisma.run.findUnique({
      where: { id: runId },
      include: {
        device: true,
        job: { include: { firmware: { include: { parts: { orderBy: { offset: 'asc' } } } } } },
      },
    });
    if (!run || !run.device || !run.portPath) return undefined;
    const firmware = run.job.firmware;
    // A campaign unit's own data (its NVS partition), made now, for this board.
    const unitData = await this.unitRegions.regionsFor({
      jobId: run.jobId,
      mac: run.device.mac,
      firmwareMetadata: firmware.metadata,
    });
    if (unitData && 'problem' in unitData) {
      await this.runs.finishRun(run.id, {
        status: 'failed',
        errorCode: 'BAD_IMAGE',
        errorMessage: unitData.problem,
        final: true,
      });
      this.logger.warn(`run ${run.id}: ${unitData.problem}; failed`);
      return undefined;
    }
    const parts: FirmwarePartRef[] = firmware.parts.map((p) => ({
      offset: p.offset,
      size: p.size,
      sha256: p.sha256,
      md5: p.md5,
      role: p.role,
      downloadPath: firmwarePartPath(firmware.id, p.sha256),
    }));
    return {
      runId: run.id,
      jobId: run.jobId,
      attempt: run.attempt,
      deviceId: run.device.id,
      mac: run.device.mac,
      chip: run.device.chip,
      portPath: run.portPath,
      firmware: { id: firmware.id, sha256: firmware.sha256, chip: firmware.chip, parts },
      options: { ...DEFAULT_FLASH_OPTIONS, ...(run.job.options as Partial<FlashOptions>) },
      device: { resetSequence: run.device.resetSequence, bestBaud: run.device.bestBaud },
      ...(unitData ? { unitRegions: unitData.regions } : {}),
    };
  }
}

/** Pool equal, every requested tag present (the chip is checked against the firmware separately). */
export function matchesSelector(
  device: { chip: string; pool: string | null; tags: string[] },
  selector: DeviceSelector,
): boolean {
  if (selector.chip && selector.chip !== device.chip) return false;
  if (selector.pool && selector.pool !== device.pool) return false;
  return (selector.tags ?? []).every((t) => device.tags.includes(t));
}

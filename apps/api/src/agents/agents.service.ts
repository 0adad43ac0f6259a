import { Inject, Injectable } from '@nestjs/common';
import {
  canonicalMac,
  isUuid,
  type AgentDetailView,
  type AgentHeartbeatRequest,
  type AgentHeartbeatResponse,
  type ClaimRunRequest,
  type ClaimRunResponse,
  type RegisterAgentRequest,
  type RegisterAgentResponse,
  type ReportDevicesRequest,
  type ReportDevicesResponse,
  type AgentView,
} from '#contracts';
import { findTarget } from '#esp';
import { ApiError } from '../common/api-error.js';
import type { ApiConfig } from '../config/api-config.js';
import { Prisma, type PrismaClient } from '../db/generated/prisma/client.js';
import { API_CONFIG, PRISMA } from '../infra/tokens.js';
import { RunLifecycleService } from '../runs/run-lifecycle.service.js';
import { transitionDevice } from '../state/device-state.js';

type Tx = Prisma.TransactionClient;

/** The agent-facing api (libs/contracts agent-api.ts) and the people-facing agent views. */
@Injectable()
export class AgentsService {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    private readonly runs: RunLifecycleService,
  ) {}

  /** Upserts the agent by name; a (re)started agent is online from now. */
  async register(body: RegisterAgentRequest): Promise<RegisterAgentResponse> {
    const now = new Date();
    const data = {
      hostname: body.hostname,
      version: body.version,
      maxParallel: body.maxParallel,
      status: 'online' as const,
      lastHeartbeatAt: now,
      startedAt: now,
    };
    let agent: { id: string };
    try {
      agent = await this.prisma.agent.upsert({
        where: { name: body.name },
        create: { name: body.name, ...data },
        update: data,
        select: { id: true },
      });
    } catch (error) {
      // Two registrations of one name at the same moment: the loser updates the winner's row.
      if (!(error instanceof Prisma.PrismaClientKnownRequestError) || error.code !== 'P2002') throw error;
      agent = await this.prisma.agent.update({ where: { name: body.name }, data, select: { id: true } });
    }
    return { agentId: agent.id, heartbeatMs: this.config.agents.heartbeatMs };
  }

  /** Records the heartbeat; answers the runs it holds that were cancelled or ended by the api meanwhile. */
  async heartbeat(agentId: string, body: AgentHeartbeatRequest): Promise<AgentHeartbeatResponse> {
    const agent = await this.findAgent(agentId);
    await this.prisma.agent.update({
      where: { id: agent.id },
      data: { lastHeartbeatAt: new Date(), status: body.status },
    });
    if (agent.status === 'offline')
      // Back from the dead (a network blip): its boards are still attached, so they are usable again.
      await transitionDevice(
        this.prisma,
        { attachments: { some: { agentId: agent.id, detachedAt: null } } },
        'idle',
        { from: ['offline'], data: { lastSeenAt: new Date() } },
      );
    const ids = body.runningRunIds.filter((id) => isUuid(id));
    if (ids.length === 0) return { cancelRunIds: [], staleRunIds: [] };
    // A failed run the agent still lists was ended here (agent declared dead, board gone): its slot moved on.
    const ended = await this.prisma.run.findMany({
      where: { id: { in: ids }, agentId: agent.id, status: { in: ['cancelled', 'failed'] } },
      select: { id: true, status: true },
    });
    return {
      cancelRunIds: ended.filter((r) => r.status === 'cancelled').map((r) => r.id),
      staleRunIds: ended.filter((r) => r.status === 'failed').map((r) => r.id),
    };
  }

  /** An agent claims a run before flashing it (see RunLifecycleService.claimRun); 409 RUN_NOT_CLAIMABLE when refused. */
  async claimRun(agentId: string, runId: string, body: ClaimRunRequest): Promise<ClaimRunResponse> {
    const agent = await this.findAgent(agentId);
    if (!isUuid(runId))
      throw ApiError.validation(`Invalid claim: run id "${runId}" is not a UUID`, [
        { field: 'runId', message: 'must be a UUID' },
      ]);
    return this.runs.claimRun({ runId, agentId: agent.id, attempt: body.attempt });
  }

  /** Applies a device report: identities, attachments (moves, departures), states. */
  async reportDevices(agentId: string, body: ReportDevicesRequest): Promise<ReportDevicesResponse> {
    const agent = await this.findAgent(agentId);
    const problems: Array<{ field: string; message: string }> = [];
    const present = body.present.map((p, i) => {
      const mac = canonicalMac(p.identity.mac);
      if (!mac)
        problems.push({
          field: `present[${i}].identity.mac`,
          message: `"${p.identity.mac}" is not a MAC address`,
        });
      const chip = findTarget(p.identity.chip)?.name;
      if (!chip)
        problems.push({
          field: `present[${i}].identity.chip`,
          message: `"${p.identity.chip}" is not a known chip`,
        });
      return { ...p, mac: mac ?? '', chip: chip ?? p.identity.chip };
    });
    const ports = new Set<string>();
    present.forEach((p, i) => {
      if (ports.has(p.attachment.portPath))
        problems.push({
          field: `present[${i}].attachment.portPath`,
          message: `${p.attachment.portPath} is listed twice`,
        });
      ports.add(p.attachment.portPath);
    });
    if (problems.length)
      throw ApiError.validation(
        `Invalid device report: ${problems[0].field} ${problems[0].message}.`,
        problems,
      );

    const now = new Date();
    const devices: ReportDevicesResponse['devices'] = [];
    for (const p of present)
      devices.push(
        await this.retrying(() => this.prisma.$transaction((tx) => this.applyPresent(tx, agent.id, p, now))),
      );

    // Fixture cycles whose unit never reached the bootloader: running station campaigns record them.
    if (body.cycleFailures?.length)
      await this.prisma.fixtureFailure.createMany({
        data: body.cycleFailures.map((f) => ({
          agentId: agent.id,
          portPath: f.portPath,
          code: f.code,
          message: f.message,
          at: new Date(f.at),
        })),
      });

    const keepOpen = new Set(devices.map((d) => d.deviceId));
    const goneWhere: Prisma.AttachmentWhereInput[] = [];
    if (body.gone.length) goneWhere.push({ portPath: { in: body.gone } });
    if (body.complete) goneWhere.push({ deviceId: { notIn: [...keepOpen] } });
    if (goneWhere.length)
      await this.prisma.$transaction(async (tx) => {
        const closing = await tx.attachment.findMany({
          where: { agentId: agent.id, detachedAt: null, OR: goneWhere, deviceId: { notIn: [...keepOpen] } },
          select: { id: true, deviceId: true },
        });
        if (closing.length === 0) return;
        await tx.attachment.updateMany({
          where: { id: { in: closing.map((c) => c.id) } },
          data: { detachedAt: now },
        });
        // Busy boards stay busy (the scheduler ends their run); quarantined ones keep that mark.
        await transitionDevice(tx, { id: { in: closing.map((c) => c.deviceId) } }, 'offline', {
          from: ['idle'],
        });
      });
    return { devices };
  }

  private async applyPresent(
    tx: Tx,
    agentId: string,
    p: ReportDevicesRequest['present'][number] & { mac: string; chip: string },
    now: Date,
  ): Promise<ReportDevicesResponse['devices'][number]> {
    const id = p.identity;
    const identity = {
      chip: p.chip,
      chipRevision: id.chipRevision ?? null,
      chipDescription: id.chipDescription ?? null,
      features: id.features ?? [],
      crystalMhz: id.crystalMhz ?? null,
      flashJedecId: id.flashJedecId ?? null,
      flashSizeBytes: id.flashSizeBytes ?? null,
      lastSeenAt: now,
    };
    const existing = await tx.device.findUnique({ where: { mac: p.mac }, select: { id: true } });
    // A board seen again is usable again, unless it is flashing or was quarantined.
    if (existing) await transitionDevice(tx, { id: existing.id }, 'idle', { from: ['offline'] });
    const device = existing
      ? await tx.device.update({ where: { id: existing.id }, data: identity })
      : await tx.device.create({ data: { mac: p.mac, ...identity } });

    const a = p.attachment;
    const usb = {
      usbVid: a.usbVid ?? null,
      usbPid: a.usbPid ?? null,
      usbSerial: a.usbSerial ?? null,
      location: a.location ?? null,
      bridge: a.bridge ?? null,
    };
    const current = await tx.attachment.findFirst({
      where: { deviceId: device.id, detachedAt: null },
      orderBy: { firstSeenAt: 'desc' },
    });
    if (current && current.agentId === agentId && current.portPath === a.portPath) {
      await tx.attachment.update({ where: { id: current.id }, data: { ...usb, lastSeenAt: now } });
    } else {
      // The board moved (another port or another host): close every open stay and start a new one.
      await tx.attachment.updateMany({
        where: { deviceId: device.id, detachedAt: null },
        data: { detachedAt: now },
      });
      await tx.attachment.create({
        data: {
          deviceId: device.id,
          agentId,
          portPath: a.portPath,
          ...usb,
          firstSeenAt: now,
          lastSeenAt: now,
        },
      });
    }
    // Another board that was on this port is not there any more.
    const displaced = await tx.attachment.findMany({
      where: { agentId, portPath: a.portPath, detachedAt: null, deviceId: { not: device.id } },
      select: { id: true, deviceId: true },
    });
    if (displaced.length) {
      await tx.attachment.updateMany({
        where: { id: { in: displaced.map((d) => d.id) } },
        data: { detachedAt: now },
      });
      await transitionDevice(tx, { id: { in: displaced.map((d) => d.deviceId) } }, 'offline', {
        from: ['idle'],
      });
    }
    return {
      deviceId: device.id,
      mac: device.mac,
      state: device.state,
      resetSequence: device.resetSequence,
      bestBaud: device.bestBaud,
    };
  }

  /** Retries once on a unique-key race (two agents reporting a new board at once). */
  private async retrying<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (
        error instanceof Prisma.PrismaClientKnownRequestError &&
        (error.code === 'P2002' || error.code === 'P2034')
      )
        return work();
      throw error;
    }
  }

  private async findAgent(agentId: string): Promise<{ id: string; status: string }> {
    const agent = isUuid(agentId)
      ? await this.prisma.agent.findUnique({ where: { id: agentId }, select: { id: true, status: true } })
      : null;
    if (!agent) throw ApiError.notFound('Agent', agentId);
    return agent;
  }

  /** Every agent with the number of boards attached to it. */
  async list(): Promise<AgentView[]> {
    const [agents, counts] = await Promise.all([
      this.prisma.agent.findMany({ orderBy: { name: 'asc' } }),
      this.prisma.attachment.groupBy({ by: ['agentId'], where: { detachedAt: null }, _count: true }),
    ]);
    const byAgent = new Map(counts.map((c) => [c.agentId, c._count]));
    return agents.map((a) => this.view(a, byAgent.get(a.id) ?? 0));
  }

  /** One agent (by id or name) with the boards attached to it. */
  async get(idOrName: string): Promise<AgentDetailView> {
    const agent = await this.prisma.agent.findFirst({
      where: isUuid(idOrName) ? { id: idOrName } : { name: idOrName },
      include: {
        attachments: {
          where: { detachedAt: null },
          orderBy: { portPath: 'asc' },
          include: {
            device: {
              select: {
                id: true,
                mac: true,
                chip: true,
                label: true,
                pool: true,
                tags: true,
                state: true,
                currentRunId: true,
              },
            },
          },
        },
      },
    });
    if (!agent) throw ApiError.notFound('Agent', idOrName);
    return {
      ...this.view(agent, agent.attachments.length),
      devices: agent.attachments.map((a) => ({
        ...a.device,
        portPath: a.portPath,
        usbVid: a.usbVid,
        usbPid: a.usbPid,
        usbSerial: a.usbSerial,
        bridge: a.bridge,
        attachedSince: a.firstSeenAt.toISOString(),
        lastSeenAt: a.lastSeenAt.toISOString(),
      })),
    };
  }

  private view(a: Prisma.AgentGetPayload<object>, deviceCount: number): AgentView {
    return {
      id: a.id,
      name: a.name,
      hostname: a.hostname,
      version: a.version,
      status: a.status,
      maxParallel: a.maxParallel,
      lastHeartbeatAt: a.lastHeartbeatAt.toISOString(),
      startedAt: a.startedAt.toISOString(),
      deviceCount,
    };
  }
}

import { Inject, Injectable } from '@nestjs/common';
import {
  ApiErrorCode,
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
import type { AuthPrincipal } from '../auth/index.js';
import { ApiError } from '../common/api-error.js';
import { settleConflict, portLabel, type ConflictOutcome } from '../devices/device-conflicts.js';
import { FarmEventsService } from '../events/farm-events.js';
import type { ApiConfig } from '../config/api-config.js';
import { Prisma, type PrismaClient } from '../db/generated/prisma/client.js';
import { AGENT_QUEUE_URL, API_CONFIG, PRISMA } from '../infra/tokens.js';
import { RunLifecycleService } from '../runs/run-lifecycle.service.js';
import { transitionDevice } from '../state/device-state.js';

type Tx = Prisma.TransactionClient;

/** Tries of one transaction of a device report that keeps losing races before the report fails. */
const REPORT_ATTEMPTS = 4;

/** A present board of a report, its MAC and chip in canonical form. */
type CheckedPresent = ReportDevicesRequest['present'][number] & { mac: string; chip: string };

/** A stay's key: one board on one port (of the reporting agent). */
function stayKey(deviceId: string, portPath: string): string {
  return `${deviceId}\n${portPath}`;
}

/** The report's boards with canonical MACs and chips; 400 naming each bad field. */
function checkedReport(body: ReportDevicesRequest): CheckedPresent[] {
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
  return present;
}

/** The identity fields of a reported board, as stored on its device row. */
function identityData(p: CheckedPresent, now: Date) {
  const id = p.identity;
  return {
    chip: p.chip,
    chipRevision: id.chipRevision ?? null,
    chipDescription: id.chipDescription ?? null,
    features: id.features ?? [],
    crystalMhz: id.crystalMhz ?? null,
    flashJedecId: id.flashJedecId ?? null,
    flashSizeBytes: id.flashSizeBytes ?? null,
    lastSeenAt: now,
  };
}

/** The USB facts of a port, as stored on its attachment row. */
function usbData(a: CheckedPresent['attachment']) {
  return {
    usbVid: a.usbVid ?? null,
    usbPid: a.usbPid ?? null,
    usbSerial: a.usbSerial ?? null,
    location: a.location ?? null,
    bridge: a.bridge ?? null,
  };
}

/** The agent-facing api (libs/contracts agent-api.ts) and the people-facing agent views. */
@Injectable()
export class AgentsService {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(AGENT_QUEUE_URL) private readonly queueRedisUrl: string,
    private readonly runs: RunLifecycleService,
    private readonly farmEvents: FarmEventsService,
  ) {}

  /**
   * Upserts the agent by name; a (re)started agent is online from now. An agent token speaks for one
   * agent: the one it was created for, else the first it registers (then it is bound to it). A token
   * registering another agent's name, or a name another token speaks for, is refused (403 + an event).
   */
  async register(body: RegisterAgentRequest, principal: AuthPrincipal): Promise<RegisterAgentResponse> {
    await this.bindToken(principal, body.name);
    const now = new Date();
    const data = {
      hostname: body.hostname,
      version: body.version,
      maxParallel: body.maxParallel,
      status: 'online' as const,
      statusReason: null,
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
    return {
      agentId: agent.id,
      heartbeatMs: this.config.agents.heartbeatMs,
      queue: { redisUrl: this.queueRedisUrl },
    };
  }

  /** Binds an unbound agent token to `name`, or refuses a token that speaks for another agent. */
  private async bindToken(principal: AuthPrincipal, name: string): Promise<void> {
    if (principal.role !== 'agent') return; // an admin may act for any agent
    if (principal.agentName === name) return;
    if (principal.agentName !== null)
      return this.refuseIdentity(principal, name, `it speaks for agent "${principal.agentName}"`);
    const other = await this.prisma.apiToken.findFirst({
      where: { agentName: name, revokedAt: null, id: { not: principal.tokenId } },
      select: { name: true },
    });
    if (other)
      return this.refuseIdentity(principal, name, `agent "${name}" belongs to token "${other.name}"`);
    // Conditional: of two registrations racing with one unbound token, one name wins.
    const { count } = await this.prisma.apiToken.updateMany({
      where: { id: principal.tokenId, agentName: null },
      data: { agentName: name },
    });
    if (count === 1) return;
    const bound = await this.prisma.apiToken.findUnique({
      where: { id: principal.tokenId },
      select: { agentName: true },
    });
    if (bound?.agentName !== name)
      return this.refuseIdentity(principal, name, `it speaks for agent "${bound?.agentName ?? '?'}"`);
  }

  /** Refuses a token acting for an agent it does not speak for: a farm event, then 403 AGENT_IDENTITY_REFUSED. */
  private async refuseIdentity(
    principal: AuthPrincipal,
    agentName: string,
    why: string,
    agentId?: string,
  ): Promise<never> {
    const message = `Token "${principal.name}" may not act as agent "${agentName}": ${why}.`;
    await this.farmEvents.record({
      type: 'agent.identity-refused',
      severity: 'error',
      message,
      agentId: agentId ?? null,
      details: {
        token: principal.name,
        tokenId: principal.tokenId,
        agent: agentName,
        boundTo: principal.agentName,
      },
    });
    throw new ApiError(
      ApiErrorCode.AGENT_IDENTITY_REFUSED,
      `${message} Each agent needs its own token (flashfarm token create --name NAME --role agent --agent AGENT).`,
    );
  }

  /** Records the heartbeat; answers the runs it holds that were cancelled or ended by the api meanwhile. */
  async heartbeat(
    agentId: string,
    body: AgentHeartbeatRequest,
    principal: AuthPrincipal,
  ): Promise<AgentHeartbeatResponse> {
    const agent = await this.findAgent(agentId, principal);
    await this.prisma.agent.update({
      where: { id: agent.id },
      // queue_unreachable stays until the scheduler sees its worker on the farm's queue.
      data: {
        lastHeartbeatAt: new Date(),
        status: agent.status === 'queue_unreachable' ? 'queue_unreachable' : body.status,
      },
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
  async claimRun(
    agentId: string,
    runId: string,
    body: ClaimRunRequest,
    principal: AuthPrincipal,
  ): Promise<ClaimRunResponse> {
    const agent = await this.findAgent(agentId, principal);
    if (!isUuid(runId))
      throw ApiError.validation(`Invalid claim: run id "${runId}" is not a UUID`, [
        { field: 'runId', message: 'must be a UUID' },
      ]);
    return this.runs.claimRun({ runId, agentId: agent.id, attempt: body.attempt });
  }

  /**
   * Applies a device report: identities, attachments (moves, departures), states. A MAC that answers on
   * two live ports (two ports of this report, or a port of another live agent) holds its board in
   * `conflict`: the whole report is applied, then 409 DEVICE_CONFLICT names each such MAC and its ports.
   */
  async reportDevices(
    agentId: string,
    body: ReportDevicesRequest,
    principal: AuthPrincipal,
  ): Promise<ReportDevicesResponse> {
    const agent = await this.findAgent(agentId, principal);
    const present = checkedReport(body);
    // Every port each MAC of this report answers on: two of them is a conflict, not a move.
    const reportedPorts = new Map<string, Set<string>>();
    for (const p of present)
      reportedPorts.set(p.mac, (reportedPorts.get(p.mac) ?? new Set()).add(p.attachment.portPath));

    const now = new Date();
    const devices: ReportDevicesResponse['devices'] = [];
    const touched = new Set<string>();
    const kept = new Set<string>();
    for (const p of present) {
      const applied = await this.retrying(() =>
        this.prisma.$transaction((tx) => this.applyPresent(tx, agent.id, p, reportedPorts, now)),
      );
      applied.touched.forEach((id) => touched.add(id));
      if (!applied.device) continue; // refused by an operator: not this board
      devices.push(applied.device);
      kept.add(stayKey(applied.device.deviceId, p.attachment.portPath));
    }
    for (const id of await this.retrying(() => this.closeDeparted(agent.id, body, kept, now)))
      touched.add(id);

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

    const conflicts: ConflictOutcome[] = [];
    for (const deviceId of touched) {
      const outcome = await this.retrying(() =>
        this.prisma.$transaction((tx) => settleConflict(tx, deviceId, now)),
      );
      if (outcome.conflict && outcome.ports.some((p) => p.agentId === agent.id)) conflicts.push(outcome);
    }
    const states = new Map(
      (
        await this.prisma.device.findMany({
          where: { id: { in: devices.map((d) => d.deviceId) } },
          select: { id: true, state: true },
        })
      ).map((d) => [d.id, d.state]),
    );
    for (const d of devices) d.state = states.get(d.deviceId) ?? d.state;
    if (conflicts.length)
      throw new ApiError(
        ApiErrorCode.DEVICE_CONFLICT,
        `${conflicts.length === 1 ? 'A MAC' : `${conflicts.length} MACs`} of this report answer on more than one live port; ` +
          `${conflicts.map((c) => `${c.mac} on ${c.ports.map(portLabel).join(' and ')}`).join('; ')}. ` +
          'The boards are held in state conflict (nothing is flashed or reset) until one port goes away or an operator picks one (POST /devices/{mac}/resolve-conflict). The rest of the report was applied.',
        conflicts.map((c) => ({
          field: `mac ${c.mac}`,
          message: `answers on ${c.ports.map(portLabel).join(', ')}`,
          code: 'DEVICE_CONFLICT',
        })),
      );
    return { devices };
  }

  /**
   * Closes this agent's stays on ports reported gone (every stay not listed, with `complete`), lifts
   * operator refusals on ports that are empty now, and takes boards left without a port offline.
   * Returns the boards whose stays were closed.
   */
  private async closeDeparted(
    agentId: string,
    body: ReportDevicesRequest,
    kept: Set<string>,
    now: Date,
  ): Promise<string[]> {
    const gone = new Set(body.gone);
    const listedPorts = body.present.map((p) => p.attachment.portPath);
    if (gone.size === 0 && !body.complete) return [];
    return this.prisma.$transaction(async (tx) => {
      const open = await tx.attachment.findMany({
        where: { agentId, detachedAt: null },
        select: { id: true, deviceId: true, portPath: true },
      });
      const closing = open.filter(
        (o) => !kept.has(stayKey(o.deviceId, o.portPath)) && (body.complete || gone.has(o.portPath)),
      );
      // A refused clone is forgotten once its port is empty: what shows up there next is judged afresh.
      await tx.attachment.updateMany({
        where: {
          agentId,
          refusedAt: { not: null },
          OR: [
            { portPath: { in: [...gone] } },
            ...(body.complete ? [{ portPath: { notIn: listedPorts } }] : []),
          ],
        },
        data: { refusedAt: null },
      });
      if (closing.length === 0) return [];
      await tx.attachment.updateMany({
        where: { id: { in: closing.map((c) => c.id) } },
        data: { detachedAt: now },
      });
      // Busy boards stay busy (the scheduler ends their run); quarantined ones keep that mark; boards in
      // conflict are settled by the caller (one port left: idle).
      await transitionDevice(tx, { id: { in: closing.map((c) => c.deviceId) } }, 'offline', {
        from: ['idle'],
      });
      return closing.map((c) => c.deviceId);
    });
  }

  private async applyPresent(
    tx: Tx,
    agentId: string,
    p: CheckedPresent,
    reportedPorts: Map<string, Set<string>>,
    now: Date,
  ): Promise<{ device?: ReportDevicesResponse['devices'][number]; touched: string[] }> {
    const a = p.attachment;
    const identity = identityData(p, now);
    const existing = await tx.device.findUnique({ where: { mac: p.mac }, select: { id: true } });
    if (existing) {
      // An operator said the board on this port is not this device (a clone): ignored until the port is empty.
      const refused = await tx.attachment.count({
        where: { deviceId: existing.id, agentId, portPath: a.portPath, refusedAt: { not: null } },
      });
      if (refused) return { touched: [] };
      // A board seen again is usable again, unless it is flashing, quarantined or in conflict.
      await transitionDevice(tx, { id: existing.id }, 'idle', { from: ['offline'] });
    }
    const device = existing
      ? await tx.device.update({ where: { id: existing.id }, data: identity })
      : await tx.device.create({ data: { mac: p.mac, ...identity } });

    const usb = usbData(a);
    const open = await tx.attachment.findMany({
      where: { deviceId: device.id, detachedAt: null },
      select: { id: true, agentId: true, portPath: true, agent: { select: { status: true } } },
    });
    const here = open.find((o) => o.agentId === agentId && o.portPath === a.portPath);
    if (here) {
      await tx.attachment.update({ where: { id: here.id }, data: { ...usb, lastSeenAt: now } });
    } else {
      // The board moved when its other stays are gone: another port of this agent not in this report, or
      // an agent that is offline. A stay on a live agent, or on a port this report lists too, stays open
      // (a conflict, settled by the caller): a board never silently moves away from a live port.
      const moved = open.filter((o) =>
        o.agentId === agentId ? !reportedPorts.get(p.mac)?.has(o.portPath) : o.agent.status === 'offline',
      );
      if (moved.length)
        await tx.attachment.updateMany({
          where: { id: { in: moved.map((o) => o.id) } },
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
      device: {
        deviceId: device.id,
        mac: device.mac,
        state: device.state,
        resetSequence: device.resetSequence,
        bestBaud: device.bestBaud,
      },
      touched: [device.id, ...displaced.map((d) => d.deviceId)],
    };
  }

  /**
   * Runs a report's transaction again when it lost a race: a unique-key race (two agents reporting a
   * new board at once: P2002) or a deadlock or write conflict with another replica's scheduler or
   * liveness sweep, which PostgreSQL resolves by aborting one side (P2034). The work is idempotent (it
   * re-reads what it changes), so trying again is safe; a fourth loss in a row is an error.
   */
  private async retrying<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        const raced =
          error instanceof Prisma.PrismaClientKnownRequestError &&
          (error.code === 'P2002' || error.code === 'P2034');
        if (!raced || attempt >= REPORT_ATTEMPTS) throw error;
        // A short random pause, so the two sides of a deadlock do not meet again at once.
        await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
      }
    }
  }

  /** The agent the path names, when the calling token speaks for it (else 403 AGENT_IDENTITY_REFUSED). */
  private async findAgent(
    agentId: string,
    principal: AuthPrincipal,
  ): Promise<{ id: string; name: string; status: string }> {
    const agent = isUuid(agentId)
      ? await this.prisma.agent.findUnique({
          where: { id: agentId },
          select: { id: true, name: true, status: true },
        })
      : null;
    if (!agent) throw ApiError.notFound('Agent', agentId);
    if (principal.role === 'agent' && principal.agentName !== agent.name)
      await this.refuseIdentity(
        principal,
        agent.name,
        principal.agentName === null
          ? 'it has not registered any agent yet'
          : `it speaks for agent "${principal.agentName}"`,
        agent.id,
      );
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
      statusReason: a.statusReason,
      maxParallel: a.maxParallel,
      lastHeartbeatAt: a.lastHeartbeatAt.toISOString(),
      startedAt: a.startedAt.toISOString(),
      deviceCount,
    };
  }
}

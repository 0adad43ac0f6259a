import { Inject, Injectable } from '@nestjs/common';
import type { z } from 'zod';
import {
  ApiErrorCode,
  isUuid,
  type AttachmentView,
  type DeviceDetailView,
  type DevicePatch,
  type DeviceRunView,
  type DeviceView,
  type ListDevicesQuery,
  type Page,
  type ResolveConflictRequest,
} from '#contracts';
import { EspError, findTarget, formatResetSequence, parseResetSequence } from '#esp';
import { ApiError } from '../common/api-error.js';
import { Prisma, type PrismaClient } from '../db/generated/prisma/client.js';
import { PRISMA } from '../infra/tokens.js';
import { page } from '../common/page.js';
import { iso, runErrorCodeOf } from '../runs/run-snapshot.js';
import { deviceSelectorWhere, deviceWhereUnique } from './device-lookup.js';
import { transitionDevice } from '../state/device-state.js';
import { recordFarmEvent } from '../events/farm-events.js';
import { livePorts, portLabel } from './device-conflicts.js';

const ATTACHMENT_INCLUDE = {
  where: { detachedAt: null },
  take: 1,
  orderBy: { firstSeenAt: 'desc' as const },
  include: { agent: { select: { id: true, name: true, hostname: true, status: true } } },
};

type DeviceWithAttachment = Prisma.DeviceGetPayload<{ include: { attachments: typeof ATTACHMENT_INCLUDE } }>;

/** Devices: search, detail, history, settings, quarantine. */
@Injectable()
export class DevicesService {
  constructor(@Inject(PRISMA) private readonly prisma: PrismaClient) {}

  /** The device for an id or a MAC in any common spelling; 404 otherwise. */
  async resolve(
    idOrMac: string,
  ): Promise<{ id: string; mac: string; state: string; currentRunId: string | null }> {
    const where = deviceWhereUnique(idOrMac);
    const device = await this.prisma.device.findUnique({
      where,
      select: { id: true, mac: true, state: true, currentRunId: true },
    });
    if (!device) throw ApiError.notFound('Device', 'mac' in where ? where.mac : where.id);
    return device;
  }

  /** A filtered, sorted page of devices with the total count. */
  async list(query: ListDevicesQuery): Promise<Page<DeviceView>> {
    const { limit, offset } = query;
    const and: Prisma.DeviceWhereInput[] = [];
    if (query.chip) and.push({ chip: findTarget(query.chip)?.name ?? query.chip.toLowerCase() });
    if (query.pool || query.tag?.length) and.push(deviceSelectorWhere({ pool: query.pool, tags: query.tag }));
    if (query.state?.length) and.push({ state: { in: query.state } });
    if (query.agent) {
      const agent = isUuid(query.agent) ? { id: query.agent } : { name: query.agent };
      and.push({ attachments: { some: { detachedAt: null, agent } } });
    }
    if (query.search) {
      const text = query.search.trim();
      // "AA-BB-CC" or "aabbcc" find aa:bb:cc: compare without separators as well.
      const hex = text.replace(/[:.-]/g, '').toLowerCase();
      const or: Prisma.DeviceWhereInput[] = [
        { mac: { contains: text.toLowerCase().replace(/-/g, ':') } },
        { label: { contains: text, mode: 'insensitive' } },
      ];
      if (/^[0-9a-f]{2,12}$/.test(hex) && hex.length % 2 === 0)
        or.push({ mac: { contains: hex.match(/../g)!.join(':') } });
      and.push({ OR: or });
    }
    const where: Prisma.DeviceWhereInput = and.length ? { AND: and } : {};
    const sort = query.sort ?? 'mac';
    const field = sort.replace(/^-/, '') as keyof Prisma.DeviceOrderByWithRelationInput;
    const direction: Prisma.SortOrder = sort.startsWith('-') ? 'desc' : 'asc';
    // Nullable columns sort their nulls last either way, so "-lastRunAt" starts with the latest run.
    const nullable = field === 'label' || field === 'pool' || field === 'lastRunAt';
    const orderBy = [
      (nullable
        ? { [field]: { sort: direction, nulls: 'last' } }
        : { [field]: direction }) as Prisma.DeviceOrderByWithRelationInput,
      { id: 'asc' as const },
    ];
    const [rows, total] = await Promise.all([
      this.prisma.device.findMany({
        where,
        orderBy,
        skip: offset,
        take: limit,
        include: { attachments: ATTACHMENT_INCLUDE },
      }),
      this.prisma.device.count({ where }),
    ]);
    return page(
      rows.map((d) => this.view(d)),
      total,
      query,
    );
  }

  /** The listed view of each of these devices that exists (the farm stream sends them as they change). */
  async viewsOf(ids: string[]): Promise<DeviceView[]> {
    if (ids.length === 0) return [];
    const rows = await this.prisma.device.findMany({
      where: { id: { in: ids } },
      include: { attachments: ATTACHMENT_INCLUDE },
    });
    return rows.map((d) => this.view(d));
  }

  /** One device: identity, settings, current attachment and run counts. */
  async get(idOrMac: string): Promise<DeviceDetailView> {
    const { id } = await this.resolve(idOrMac);
    const [device, counts, attachments] = await Promise.all([
      this.prisma.device.findUniqueOrThrow({ where: { id }, include: { attachments: ATTACHMENT_INCLUDE } }),
      this.prisma.run.groupBy({ by: ['status'], where: { deviceId: id }, _count: true }),
      this.prisma.attachment.count({ where: { deviceId: id } }),
    ]);
    const byStatus = Object.fromEntries(counts.map((c) => [c.status, c._count]));
    return {
      ...this.view(device),
      notes: device.notes,
      chipRevision: device.chipRevision,
      chipDescription: device.chipDescription,
      features: device.features,
      crystalMhz: device.crystalMhz,
      flashJedecId: device.flashJedecId,
      flashSizeBytes: device.flashSizeBytes,
      resetSequence: device.resetSequence,
      bestBaud: device.bestBaud,
      consecutiveFailures: device.consecutiveFailures,
      quarantineReason: device.quarantineReason,
      quarantinedAt: iso(device.quarantinedAt),
      conflictReason: device.conflictReason,
      conflictSince: iso(device.conflictSince),
      currentRunId: device.currentRunId,
      createdAt: device.createdAt.toISOString(),
      counts: {
        runs: counts.reduce((n, c) => n + c._count, 0),
        succeeded: byStatus.succeeded ?? 0,
        failed: byStatus.failed ?? 0,
        cancelled: byStatus.cancelled ?? 0,
        attachments,
      },
    };
  }

  private view(d: DeviceWithAttachment): DeviceView {
    const a = d.attachments[0];
    return {
      id: d.id,
      mac: d.mac,
      chip: d.chip,
      state: d.state,
      pool: d.pool,
      tags: d.tags,
      label: d.label,
      flashSizeBytes: d.flashSizeBytes,
      lastRunStatus: d.lastRunStatus,
      lastRunAt: iso(d.lastRunAt),
      lastSeenAt: d.lastSeenAt.toISOString(),
      attachment: a
        ? {
            agentId: a.agent.id,
            agentName: a.agent.name,
            hostname: a.agent.hostname,
            agentStatus: a.agent.status,
            portPath: a.portPath,
            usbVid: a.usbVid,
            usbPid: a.usbPid,
            usbSerial: a.usbSerial,
            location: a.location,
            bridge: a.bridge,
            since: a.firstSeenAt.toISOString(),
            lastSeenAt: a.lastSeenAt.toISOString(),
          }
        : null,
    };
  }

  /** The board's runs, newest first. */
  async runs(idOrMac: string, window: { limit: number; offset: number }): Promise<Page<DeviceRunView>> {
    const { id } = await this.resolve(idOrMac);
    const [rows, total] = await Promise.all([
      this.prisma.run.findMany({
        where: { deviceId: id },
        orderBy: [{ queuedAt: 'desc' }, { id: 'desc' }],
        skip: window.offset,
        take: window.limit,
        include: {
          job: {
            select: {
              id: true,
              requestedBy: true,
              firmware: { select: { id: true, name: true, version: true } },
            },
          },
          agent: { select: { name: true } },
        },
      }),
      this.prisma.run.count({ where: { deviceId: id } }),
    ]);
    return page(
      rows.map((r) => ({
        id: r.id,
        jobId: r.jobId,
        slot: r.slot,
        attempt: r.attempt,
        status: r.status,
        stage: r.stage,
        errorCode: runErrorCodeOf(r.errorCode),
        errorMessage: r.errorMessage,
        baud: r.baud,
        bytesWritten: r.bytesWritten,
        agentName: r.agent?.name ?? null,
        portPath: r.portPath,
        firmware: r.job.firmware,
        requestedBy: r.job.requestedBy,
        queuedAt: r.queuedAt.toISOString(),
        startedAt: iso(r.startedAt),
        finishedAt: iso(r.finishedAt),
      })),
      total,
      window,
    );
  }

  /** Where the board has been: one row per (agent, port) stay, newest first. */
  async attachments(
    idOrMac: string,
    window: { limit: number; offset: number },
  ): Promise<Page<AttachmentView>> {
    const { id } = await this.resolve(idOrMac);
    const [rows, total] = await Promise.all([
      this.prisma.attachment.findMany({
        where: { deviceId: id },
        orderBy: [{ firstSeenAt: 'desc' }, { id: 'desc' }],
        skip: window.offset,
        take: window.limit,
        include: { agent: { select: { id: true, name: true, hostname: true } } },
      }),
      this.prisma.attachment.count({ where: { deviceId: id } }),
    ]);
    return page(
      rows.map((a) => ({
        id: a.id,
        agentId: a.agent.id,
        agentName: a.agent.name,
        hostname: a.agent.hostname,
        portPath: a.portPath,
        usbVid: a.usbVid,
        usbPid: a.usbPid,
        usbSerial: a.usbSerial,
        location: a.location,
        bridge: a.bridge,
        firstSeenAt: a.firstSeenAt.toISOString(),
        lastSeenAt: a.lastSeenAt.toISOString(),
        detachedAt: iso(a.detachedAt),
        current: a.detachedAt === null,
      })),
      total,
      window,
    );
  }

  /** Changes pool, tags, label, notes or reset sequence. */
  async update(idOrMac: string, body: z.output<typeof DevicePatch>): Promise<DeviceDetailView> {
    const { id } = await this.resolve(idOrMac);
    const data: Prisma.DeviceUpdateInput = {};
    if (body.pool !== undefined) data.pool = body.pool;
    if (body.tags !== undefined) data.tags = [...new Set(body.tags)];
    if (body.label !== undefined) data.label = body.label;
    if (body.notes !== undefined) data.notes = body.notes;
    if (body.resetSequence !== undefined) {
      if (body.resetSequence === null || body.resetSequence.trim() === '') data.resetSequence = null;
      else {
        try {
          data.resetSequence = formatResetSequence(parseResetSequence(body.resetSequence.trim()));
        } catch (error) {
          if (!(error instanceof EspError)) throw error;
          throw ApiError.validation(error.message, [{ field: 'resetSequence', message: error.message }]);
        }
      }
    }
    await this.prisma.device.update({ where: { id }, data });
    return this.get(id);
  }

  /** Takes a board out of service; refused while it is flashing. */
  async quarantine(idOrMac: string, reason: string): Promise<DeviceDetailView> {
    const device = await this.resolve(idOrMac);
    const now = new Date();
    const count = await transitionDevice(this.prisma, { id: device.id }, 'quarantined', {
      from: ['idle', 'offline', 'quarantined', 'conflict'],
      data: { quarantineReason: reason.trim(), quarantinedAt: now },
    });
    if (count === 0)
      throw new ApiError(
        ApiErrorCode.CONFLICT,
        `Device ${device.mac} is flashing run ${device.currentRunId ?? '(unknown)'}; cancel the job or quarantine it when the run ends.`,
      );
    return this.get(device.id);
  }

  /** Returns a quarantined board to service (idle where it is attached to an online agent, else offline). */
  async release(idOrMac: string): Promise<DeviceDetailView> {
    const device = await this.resolve(idOrMac);
    if (device.state !== 'quarantined') return this.get(device.id);
    const attached = await this.prisma.attachment.count({
      where: { deviceId: device.id, detachedAt: null, agent: { status: { not: 'offline' } } },
    });
    await transitionDevice(this.prisma, { id: device.id }, attached ? 'idle' : 'offline', {
      from: ['quarantined'],
      data: { quarantineReason: null, quarantinedAt: null, consecutiveFailures: 0 },
    });
    return this.get(device.id);
  }

  /**
   * Ends a MAC conflict by naming the port with the real board: the other ports' stays are closed and
   * refused (what answers there is ignored until its agent reports the port empty); the board is idle
   * again on the port kept. 409 when the board is not in conflict or the port is not one of its live ports.
   */
  async resolveConflict(
    idOrMac: string,
    keep: ResolveConflictRequest,
    by: string,
  ): Promise<DeviceDetailView> {
    const device = await this.resolve(idOrMac);
    const now = new Date();
    await this.prisma.$transaction(async (tx) => {
      const ports = await livePorts(tx, device.id);
      const current = await tx.device.findUniqueOrThrow({
        where: { id: device.id },
        select: { state: true },
      });
      if (current.state !== 'conflict')
        throw new ApiError(
          ApiErrorCode.CONFLICT,
          `Device ${device.mac} is ${current.state}, not in conflict: there is nothing to resolve.`,
        );
      const kept = ports.find(
        (p) => (p.agentId === keep.agent || p.agentName === keep.agent) && p.portPath === keep.portPath,
      );
      if (!kept)
        throw new ApiError(
          ApiErrorCode.CONFLICT,
          `${keep.agent}:${keep.portPath} is not a live port of device ${device.mac}; its live ports are ${ports.map(portLabel).join(', ') || 'none'}.`,
        );
      const refused = ports.filter((p) => p !== kept);
      await tx.attachment.updateMany({
        where: {
          deviceId: device.id,
          detachedAt: null,
          OR: refused.map((p) => ({ agentId: p.agentId, portPath: p.portPath })),
        },
        data: { detachedAt: now, refusedAt: now },
      });
      await transitionDevice(tx, { id: device.id }, 'idle', {
        from: ['conflict'],
        data: { conflictReason: null, conflictSince: null },
      });
      await recordFarmEvent(tx, {
        type: 'device.conflict-resolved',
        severity: 'info',
        message: `${by} kept MAC ${device.mac} on ${portLabel(kept)}; refused ${refused.map(portLabel).join(', ')} until the port is empty`,
        deviceId: device.id,
        mac: device.mac,
        agentId: kept.agentId,
        details: { by, kept, refused },
      });
    });
    return this.get(device.id);
  }
}

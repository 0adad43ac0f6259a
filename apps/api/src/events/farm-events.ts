/**
 * Farm events: what people watching the farm should know about and act on (a MAC answering on two
 * ports, a token acting for another agent, an agent whose run queue is unreachable). Append-only rows
 * (FarmEvent), listed newest first by GET /farm-events, and a warning in the api log.
 */
import { Controller, Get, Inject, Injectable, Logger } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  FarmEventPage,
  ListFarmEventsQuery,
  type FarmEventSeverity,
  type FarmEventType,
  type FarmEventView,
  type Page,
} from '#contracts';
import { READ_ROLES, Roles } from '../auth/index.js';
import { Answers, ValidQuery } from '../common/http-contract.js';
import { page } from '../common/page.js';
import type { Prisma, PrismaClient } from '../db/generated/prisma/client.js';
import { PRISMA } from '../infra/tokens.js';

/** One farm event to record. */
export interface FarmEventInput {
  type: FarmEventType;
  severity: FarmEventSeverity;
  message: string;
  agentId?: string | null;
  deviceId?: string | null;
  mac?: string | null;
  details?: Record<string, unknown>;
}

const logger = new Logger('farm-events');

/**
 * Records a farm event on `db` (a transaction client, so the event is stored with the change it
 * reports, or the api's client) and logs it.
 */
export async function recordFarmEvent(
  db: Pick<Prisma.TransactionClient, 'farmEvent'>,
  event: FarmEventInput,
): Promise<void> {
  await db.farmEvent.create({
    data: {
      type: event.type,
      severity: event.severity,
      message: event.message,
      agentId: event.agentId ?? null,
      deviceId: event.deviceId ?? null,
      mac: event.mac ?? null,
      details: (event.details ?? {}) as Prisma.InputJsonObject,
    },
  });
  const line = `${event.type}: ${event.message}`;
  if (event.severity === 'info') logger.log(line);
  else logger.warn(line);
}

/** Reads farm events for the api's views. */
@Injectable()
export class FarmEventsService {
  constructor(@Inject(PRISMA) private readonly prisma: PrismaClient) {}

  /** Records one event (outside any transaction). */
  record(event: FarmEventInput): Promise<void> {
    return recordFarmEvent(this.prisma, event);
  }

  /** Newest first, filtered by type, device or agent. */
  async list(query: ListFarmEventsQuery): Promise<Page<FarmEventView>> {
    const where: Prisma.FarmEventWhereInput = {
      ...(query.type ? { type: query.type } : {}),
      ...(query.deviceId ? { deviceId: query.deviceId } : {}),
      ...(query.agentId ? { agentId: query.agentId } : {}),
    };
    const [rows, total] = await Promise.all([
      this.prisma.farmEvent.findMany({
        where,
        orderBy: [{ at: 'desc' }, { id: 'desc' }],
        take: query.limit,
        skip: query.offset,
      }),
      this.prisma.farmEvent.count({ where }),
    ]);
    return page(
      rows.map((r) => ({
        id: r.id,
        at: r.at.toISOString(),
        type: r.type as FarmEventType,
        severity: r.severity as FarmEventSeverity,
        message: r.message,
        agentId: r.agentId,
        deviceId: r.deviceId,
        mac: r.mac,
        details: (r.details ?? {}) as Record<string, unknown>,
      })),
      total,
      query,
    );
  }
}

/** GET /farm-events. */
@ApiTags('farm-events')
@ApiBearerAuth()
@Controller('farm-events')
export class FarmEventsController {
  constructor(private readonly events: FarmEventsService) {}

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({
    summary: 'Farm events, newest first: MAC conflicts, refused agent identities, unreachable run queues',
  })
  @Answers(FarmEventPage)
  list(@ValidQuery(ListFarmEventsQuery) query: ListFarmEventsQuery): Promise<Page<FarmEventView>> {
    return this.events.list(query);
  }
}

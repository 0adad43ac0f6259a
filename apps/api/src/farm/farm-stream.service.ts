/**
 * GET /events: the farm stream. Every board, agent, job, run and campaign
 * change as it is stored, to every dashboard tab.
 *
 * Each event carries the whole current state of one thing (a DeviceView, an
 * AgentView…), so applying it twice is harmless and the latest one wins. Its
 * id is the server's clock in milliseconds. A client that reconnects with
 * Last-Event-ID gets `ready` with resumed: true and then the current state of
 * everything that changed since a little before that instant (RESUME_MARGIN_MS
 * covers transactions that committed late and replicas whose clocks differ);
 * one gone longer than RESUME_WINDOW_MS, or without an id, gets resumed: false
 * and reloads what it shows.
 */
import { Inject, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { FarmReadyEvent } from '#contracts';
import type { PrismaClient } from '../db/generated/prisma/client.js';
import { lastEventId } from '../events/sse.js';
import { SseStreams } from '../events/sse-streams.js';
import { PRISMA } from '../infra/tokens.js';
import { FarmChangesService, type FarmMessage } from './farm-changes.service.js';

/** How long a client may have been away and still resume instead of reloading. */
export const RESUME_WINDOW_MS = 15 * 60_000;
/** How far before the client's last event the replay starts. */
export const RESUME_MARGIN_MS = 30_000;

@Injectable()
export class FarmStreamService {
  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    private readonly streams: SseStreams,
    private readonly changes: FarmChangesService,
  ) {}

  /** Streams the farm's changes until the client leaves or the api stops. */
  async stream(request: Request, response: Response): Promise<void> {
    const since = resumePoint(lastEventId(request), Date.now());
    const stream = this.streams.start(request, response);
    const send = (message: FarmMessage): void => {
      if (!stream.isClosed) stream.send(message.event, message.data, String(Date.now()));
    };
    // Listen before reading, so nothing falls between the replay and the live changes.
    const held: FarmMessage[] = [];
    let holding = true;
    stream.onClose(
      this.changes.subscribe((message) => {
        if (holding) held.push(message);
        else send(message);
      }),
    );
    const ready: FarmReadyEvent = { resumed: since !== undefined, serverTime: new Date().toISOString() };
    stream.send('ready', ready, String(Date.now()));
    if (since !== undefined) for (const message of await this.changedSince(since)) send(message);
    holding = false;
    for (const message of held.splice(0)) send(message);
  }

  /** The current state of every board, agent, job and campaign that changed after `since`. */
  private async changedSince(since: Date): Promise<FarmMessage[]> {
    const [devices, agents, jobs, campaigns] = await Promise.all([
      this.prisma.device.findMany({
        where: {
          OR: [
            { updatedAt: { gte: since } },
            {
              attachments: {
                some: { OR: [{ firstSeenAt: { gte: since } }, { detachedAt: { gte: since } }] },
              },
            },
          ],
        },
        select: { id: true },
      }),
      this.prisma.agent.findMany({ where: { updatedAt: { gte: since } }, select: { id: true } }),
      this.prisma.job.findMany({
        where: {
          OR: [
            { status: { in: ['queued', 'running'] } },
            { createdAt: { gte: since } },
            { startedAt: { gte: since } },
            { finishedAt: { gte: since } },
          ],
        },
        select: { id: true },
      }),
      this.prisma.campaign.findMany({
        where: {
          OR: [
            { status: { in: ['running', 'paused'] } },
            { createdAt: { gte: since } },
            { finishedAt: { gte: since } },
          ],
        },
        select: { id: true },
      }),
    ]);
    const ids = (rows: Array<{ id: string }>) => rows.map((r) => r.id);
    return this.changes.read({
      devices: ids(devices),
      agents: ids(agents),
      jobs: ids(jobs),
      campaigns: ids(campaigns),
    });
  }
}

/** Where a reconnecting client resumes from: its last event's instant less the margin; undefined to reload. */
export function resumePoint(id: string | undefined, now: number): Date | undefined {
  if (!id || !/^\d{1,15}$/.test(id)) return undefined;
  const at = Number(id);
  if (at > now + RESUME_MARGIN_MS || now - at > RESUME_WINDOW_MS) return undefined;
  return new Date(at - RESUME_MARGIN_MS);
}

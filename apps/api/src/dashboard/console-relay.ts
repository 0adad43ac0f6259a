/**
 * A board's live console for the dashboard: switches the console on at the
 * agent holding the board (control channel), replays the recent text from the
 * board's capped console stream, then tails it, as Server-Sent Events. The
 * console is switched off when this replica's last viewer of the board leaves.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Redis } from 'ioredis';
import { agentControlChannel, deviceConsoleStream, isUuid, type AgentControlMessage } from '#contracts';
import { ApiError } from '../common/api-error.js';
import type { PrismaClient } from '../db/generated/prisma/client.js';
import { SseStreams } from '../events/sse-streams.js';
import { PRISMA, REDIS } from '../infra/tokens.js';

/** Console entries replayed to a new viewer. */
const CONSOLE_REPLAY_ENTRIES = 500;
/** How long one blocking read waits before it checks whether the viewer is still there. */
const CONSOLE_READ_BLOCK_MS = 2_000;
/** The "on" request is repeated this often, so a restarted agent resumes the console. */
const CONSOLE_KEEPALIVE_MS = 10_000;

@Injectable()
export class ConsoleRelay implements OnApplicationShutdown {
  private readonly logger = new Logger('console');
  private readonly viewers = new Map<string, number>();
  private readonly readers = new Set<Redis>();

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly streams: SseStreams,
  ) {}

  onApplicationShutdown(): void {
    for (const reader of this.readers) reader.disconnect();
  }

  /** GET /console/:deviceId/events */
  async stream(deviceId: string, request: Request, response: Response): Promise<void> {
    const device = isUuid(deviceId)
      ? await this.prisma.device.findUnique({
          where: { id: deviceId },
          select: {
            id: true,
            mac: true,
            attachments: { where: { detachedAt: null }, select: { agentId: true, portPath: true }, take: 1 },
          },
        })
      : null;
    if (!device) throw ApiError.notFound('Device', deviceId);
    const attachment = device.attachments[0];
    const sse = this.streams.start(request, response);
    sse.send('status', {
      deviceId,
      attached: Boolean(attachment),
      portPath: attachment?.portPath ?? null,
    });

    const reader = this.redis.duplicate();
    reader.on('error', () => {}); // the loop below ends the stream on a failed read
    this.readers.add(reader);
    const agentId = attachment?.agentId;
    const control = (enabled: boolean) =>
      agentId
        ? this.redis
            .publish(
              agentControlChannel(agentId, this.redis),
              JSON.stringify({ type: 'console', deviceId, enabled } satisfies AgentControlMessage),
            )
            .catch(() => 0)
        : Promise.resolve(0);
    this.viewers.set(deviceId, (this.viewers.get(deviceId) ?? 0) + 1);
    await control(true);
    const keepalive = setInterval(() => void control(true), CONSOLE_KEEPALIVE_MS);
    sse.onClose(() => {
      clearInterval(keepalive);
      const left = (this.viewers.get(deviceId) ?? 1) - 1;
      if (left > 0) this.viewers.set(deviceId, left);
      else {
        this.viewers.delete(deviceId);
        void control(false);
      }
      this.readers.delete(reader);
      reader.disconnect();
    });

    const key = deviceConsoleStream(deviceId);
    try {
      const recent = (await this.redis.xrevrange(key, '+', '-', 'COUNT', CONSOLE_REPLAY_ENTRIES)).reverse();
      let lastId = recent.length ? recent[recent.length - 1][0] : '$';
      for (const [id, fields] of recent) sse.send('console', entry(fields), id);
      while (!sse.isClosed) {
        const reply = await reader.call('XREAD', 'BLOCK', CONSOLE_READ_BLOCK_MS, 'STREAMS', key, lastId);
        for (const [id, fields] of streamEntries(reply)) {
          lastId = id;
          sse.send('console', entry(fields), id);
        }
      }
    } catch (error) {
      if (!sse.isClosed) {
        this.logger.warn(`console of ${deviceId}: ${error instanceof Error ? error.message : String(error)}`);
        sse.close();
      }
    }
  }
}

function entry(fields: string[]): { at: string | null; text: string } {
  const get = (name: string) => {
    const i = fields.indexOf(name);
    return i >= 0 && i % 2 === 0 ? fields[i + 1] : undefined;
  };
  return { at: get('at') ?? null, text: get('text') ?? '' };
}

/** Entries of the one stream in an XREAD reply (RESP2 nests [[key, entries]]; RESP3 flattens to [key, entries]). */
function streamEntries(reply: unknown): Array<[string, string[]]> {
  if (!Array.isArray(reply) || reply.length === 0) return [];
  if (typeof reply[0] === 'string') return (reply[1] as Array<[string, string[]]> | undefined) ?? [];
  return (reply[0] as [string, Array<[string, string[]]>] | undefined)?.[1] ?? [];
}

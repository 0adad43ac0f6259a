/**
 * Ends event streams whose token stopped being valid. The guard checks a token when a request
 * starts, and an event stream is one request that may stay open for days: without this, a revoked
 * or expired token kept receiving every board, job and log line until the client chose to leave.
 *
 * Two paths, both on every replica: the revoked-token channel ends a revoked token's streams as
 * soon as any replica revokes it, and every FLASHFARM_SSE_TOKEN_CHECK_MS the tokens of the open
 * streams are read again, which catches expiry, a revocation made on the database directly
 * (`flashfarm token revoke`), a deleted token, and a message lost while Redis was away.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { tokenRevokedChannel } from '../auth/index.js';
import type { PrismaClient } from '../db/generated/prisma/client.js';
import type { ApiConfig } from '../config/api-config.js';
import { API_CONFIG, PRISMA, REDIS } from '../infra/tokens.js';
import { SseStreams } from './sse-streams.js';

const REVOKED_TEXT = 'The bearer token has been revoked.';
const EXPIRED_TEXT = 'The bearer token has expired.';

@Injectable()
export class StreamCredentials implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('sse');
  private subscriber?: Redis;
  private timer?: NodeJS.Timeout;
  private checking = false;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly streams: SseStreams,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    const channel = tokenRevokedChannel(this.redis);
    const subscriber = this.redis.duplicate();
    subscriber.on('error', () => {}); // ioredis reconnects; the periodic check covers the gap
    subscriber.on('message', (from: string, tokenId: string) => {
      if (from === channel) this.end(new Set([tokenId]), REVOKED_TEXT);
    });
    await subscriber.subscribe(channel);
    this.subscriber = subscriber;
    // The interval is the longest an expired (or database-revoked) token's stream lives on.
    this.timer = setInterval(() => void this.check(), this.config.events.sseTokenCheckMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    this.subscriber?.disconnect();
  }

  /** Reads the tokens of the open streams and ends those of tokens revoked, expired or gone. */
  async check(now = new Date()): Promise<void> {
    const ids = this.streams.tokenIds();
    if (ids.size === 0 || this.checking) return;
    this.checking = true;
    try {
      const rows = await this.prisma.apiToken.findMany({
        where: { id: { in: [...ids] } },
        select: { id: true, revokedAt: true, expiresAt: true },
      });
      const found = new Map(rows.map((row) => [row.id, row]));
      const revoked = new Set<string>();
      const expired = new Set<string>();
      for (const id of ids) {
        const row = found.get(id);
        if (!row || row.revokedAt) revoked.add(id);
        else if (row.expiresAt && row.expiresAt.getTime() <= now.getTime()) expired.add(id);
      }
      this.end(revoked, REVOKED_TEXT);
      this.end(expired, EXPIRED_TEXT);
    } catch (error) {
      // Not fatal: the streams stay open until the next check reads the database again.
      this.logger.warn(
        `could not re-check the tokens of open event streams: ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      this.checking = false;
    }
  }

  private end(tokenIds: ReadonlySet<string>, reason: string): void {
    if (tokenIds.size === 0) return;
    const ended = this.streams.closeForTokens(tokenIds, reason);
    if (ended) this.logger.log(`ended ${ended} event stream(s): ${reason}`);
  }
}

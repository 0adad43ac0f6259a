import { Inject, Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { ApiErrorCode, isUuid } from '#contracts';
import { ApiError } from '../common/api-error.js';
import type { ApiConfig } from '../config/api-config.js';
import { Prisma, type PrismaClient } from '../db/generated/prisma/client.js';
import type { Redis } from 'ioredis';
import { API_CONFIG, PRISMA, REDIS } from '../infra/tokens.js';
import type { AuthPrincipal, Role } from './roles.js';
import { tokenRevokedChannel } from './token-revocations.js';
import { displayPrefix, generateTokenSecret, hashTokenSecret } from './token-secret.js';

/** Name of the admin token taken from FLASHFARM_ADMIN_TOKEN. */
export const BOOTSTRAP_ADMIN_NAME = 'bootstrap-admin';
/** lastUsedAt is written at most this often per token: a write per request would cost more than the request. */
export const LAST_USED_WRITE_INTERVAL_MS = 60_000;

/** A stored token as the store reads it (never the secret or its hash); the HTTP view is TokenView. */
export interface StoredToken {
  id: string;
  name: string;
  role: Role;
  prefix: string;
  agentName: string | null;
  createdBy: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

/** A newly created token: the only time the secret is shown. */
export interface CreatedToken extends StoredToken {
  secret: string;
}

/** Options of TokenStore.create. */
export interface CreateTokenOptions {
  name: string;
  role: Role;
  createdBy?: string;
  expiresAt?: Date;
  /** Role agent: the agent the token speaks for (else it is bound at its first registration). */
  agentName?: string;
}

const VIEW_SELECT = {
  id: true,
  name: true,
  role: true,
  prefix: true,
  agentName: true,
  createdBy: true,
  createdAt: true,
  lastUsedAt: true,
  expiresAt: true,
  revokedAt: true,
} as const;

/** Why a bearer secret was refused; worded for the caller. */
export type AuthFailure = 'unknown' | 'revoked' | 'expired';

/**
 * API tokens on a Prisma client, without Nest: the api's service and the
 * `flashfarm token` CLI both use it.
 */
export class TokenStore {
  private readonly lastUsedWritten = new Map<string, number>();

  constructor(private readonly prisma: PrismaClient) {}

  /** Creates a token with a fresh random secret. */
  async create(options: CreateTokenOptions): Promise<CreatedToken> {
    if (options.agentName !== undefined && options.role !== 'agent')
      throw ApiError.validation(`Only agent tokens speak for an agent; this one has role ${options.role}.`, [
        { field: 'agent', message: 'only with role agent' },
      ]);
    const secret = generateTokenSecret();
    const row = await this.prisma.apiToken.create({
      data: {
        name: options.name,
        role: options.role,
        tokenHash: hashTokenSecret(secret),
        prefix: displayPrefix(secret),
        createdBy: options.createdBy ?? null,
        expiresAt: options.expiresAt ?? null,
        agentName: options.agentName ?? null,
      },
      select: VIEW_SELECT,
    });
    return { ...row, secret };
  }

  /** Every token, newest first; revoked ones only when asked. */
  list(options: { includeRevoked?: boolean } = {}): Promise<StoredToken[]> {
    return this.prisma.apiToken.findMany({
      where: options.includeRevoked ? {} : { revokedAt: null },
      orderBy: { createdAt: 'desc' },
      select: VIEW_SELECT,
    });
  }

  /** Finds one token by id or by its display prefix (unambiguous prefixes only). */
  async find(idOrPrefix: string): Promise<StoredToken> {
    const key = idOrPrefix.trim();
    if (isUuid(key)) {
      const row = await this.prisma.apiToken.findUnique({ where: { id: key }, select: VIEW_SELECT });
      if (row) return row;
    }
    if (key.length >= 4) {
      const rows = await this.prisma.apiToken.findMany({
        where: { prefix: { startsWith: key } },
        select: VIEW_SELECT,
        take: 2,
      });
      if (rows.length === 1) return rows[0];
      if (rows.length > 1)
        throw new ApiError(
          ApiErrorCode.CONFLICT,
          `More than one token starts with "${key}"; give the token id instead.`,
        );
    }
    throw ApiError.notFound('Token', key);
  }

  /** Revokes a token (idempotent: revoking twice keeps the first time). */
  async revoke(idOrPrefix: string): Promise<StoredToken> {
    const token = await this.find(idOrPrefix);
    if (token.revokedAt) return token;
    return this.prisma.apiToken.update({
      where: { id: token.id },
      data: { revokedAt: new Date() },
      select: VIEW_SELECT,
    });
  }

  /** The principal of a bearer secret, or why it is refused. */
  async authenticate(secret: string, now = new Date()): Promise<AuthPrincipal | AuthFailure> {
    const row = await this.prisma.apiToken.findUnique({
      where: { tokenHash: hashTokenSecret(secret) },
      select: {
        id: true,
        name: true,
        role: true,
        agentName: true,
        revokedAt: true,
        expiresAt: true,
        lastUsedAt: true,
      },
    });
    if (!row) return 'unknown';
    if (row.revokedAt) return 'revoked';
    if (row.expiresAt && row.expiresAt.getTime() <= now.getTime()) return 'expired';
    this.touch(row.id, row.lastUsedAt, now);
    return { tokenId: row.id, name: row.name, role: row.role, agentName: row.agentName };
  }

  /**
   * Makes the configured admin secret valid as "bootstrap-admin" (role admin, not revoked) and
   * retires bootstrap tokens of earlier secrets, so rotating the variable rotates the token.
   */
  async upsertBootstrapAdmin(secret: string): Promise<void> {
    const tokenHash = hashTokenSecret(secret);
    await this.prisma.$transaction([
      this.prisma.apiToken.upsert({
        where: { tokenHash },
        create: {
          name: BOOTSTRAP_ADMIN_NAME,
          role: 'admin',
          tokenHash,
          prefix: displayPrefix(secret),
          createdBy: 'config',
        },
        update: { name: BOOTSTRAP_ADMIN_NAME, role: 'admin', revokedAt: null, expiresAt: null },
      }),
      this.prisma.apiToken.updateMany({
        where: {
          name: BOOTSTRAP_ADMIN_NAME,
          createdBy: 'config',
          tokenHash: { not: tokenHash },
          revokedAt: null,
        },
        data: { revokedAt: new Date() },
      }),
    ]);
  }

  private touch(id: string, lastUsedAt: Date | null, now: Date): void {
    const last = Math.max(lastUsedAt?.getTime() ?? 0, this.lastUsedWritten.get(id) ?? 0);
    if (now.getTime() - last < LAST_USED_WRITE_INTERVAL_MS) return;
    this.lastUsedWritten.set(id, now.getTime());
    // Not awaited: the request does not wait for bookkeeping. A failure is retried on a later request.
    this.prisma.apiToken.update({ where: { id }, data: { lastUsedAt: now } }).catch(() => {
      this.lastUsedWritten.delete(id);
    });
  }
}

/** The api's token service: the store on the api's database, plus the bootstrap admin at start. */
@Injectable()
export class TokensService extends TokenStore implements OnApplicationBootstrap {
  private readonly logger = new Logger('auth');

  constructor(
    @Inject(PRISMA) prisma: PrismaClient,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(REDIS) private readonly redis: Redis,
  ) {
    super(prisma);
  }

  /** Revokes a token and tells every replica, which ends the event streams it opened. */
  override async revoke(idOrPrefix: string): Promise<StoredToken> {
    const token = await super.revoke(idOrPrefix);
    try {
      // Also when it was revoked before: a replica that missed the first message ends its streams now.
      await this.redis.publish(tokenRevokedChannel(this.redis), token.id);
    } catch (error) {
      // The revocation is stored; each replica's periodic check ends the streams within seconds.
      this.logger.warn(
        `could not announce the revocation of token ${token.id}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    return token;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.config.adminToken) return;
    try {
      await this.upsertBootstrapAdmin(this.config.adminToken);
    } catch (error) {
      // Two replicas starting together race on the unique hash; the second attempt sees the row.
      if (!(error instanceof Prisma.PrismaClientKnownRequestError) || error.code !== 'P2002') throw error;
      await this.upsertBootstrapAdmin(this.config.adminToken);
    }
    this.logger.log(`Admin token from FLASHFARM_ADMIN_TOKEN is active as "${BOOTSTRAP_ADMIN_NAME}"`);
  }
}

import { Controller, Delete, Get, Param, Post } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { CreatedTokenView, ListTokensQuery, TokenList, TokenRequest, TokenView } from '#contracts';
import { ApiError } from '../common/api-error.js';
import { Answers, Problems, ValidBody, ValidQuery } from '../common/http-contract.js';
import { Principal, Roles, type AuthPrincipal } from './roles.js';
import { TokensService, type StoredToken } from './tokens.service.js';

const DAY_MS = 86_400_000;

/** A stored token as the api answers it. */
function tokenView(token: StoredToken): TokenView {
  return {
    id: token.id,
    name: token.name,
    role: token.role,
    prefix: token.prefix,
    agentName: token.agentName,
    createdBy: token.createdBy,
    createdAt: token.createdAt.toISOString(),
    lastUsedAt: token.lastUsedAt?.toISOString() ?? null,
    expiresAt: token.expiresAt?.toISOString() ?? null,
    revokedAt: token.revokedAt?.toISOString() ?? null,
  };
}

/** API tokens: admins create, list and revoke them. */
@ApiTags('auth')
@Roles('admin')
@Controller('tokens')
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  @Post()
  @ApiOperation({ summary: 'Create an API token; the answer holds the secret, shown only this once' })
  @Answers(CreatedTokenView, { status: 201 })
  async create(
    @ValidBody(TokenRequest, 'token') body: z.output<typeof TokenRequest>,
    @Principal() principal: AuthPrincipal,
  ): Promise<CreatedTokenView> {
    if (body.expiresAt && body.expiresInDays)
      throw ApiError.validation('Give expiresAt or expiresInDays, not both.', [
        { field: 'expiresAt', message: 'conflicts with expiresInDays' },
      ]);
    let expiresAt: Date | undefined;
    if (body.expiresAt) expiresAt = new Date(body.expiresAt);
    if (body.expiresInDays) expiresAt = new Date(Date.now() + body.expiresInDays * DAY_MS);
    if (expiresAt && expiresAt.getTime() <= Date.now())
      throw ApiError.validation('expiresAt is in the past.', [
        { field: 'expiresAt', message: 'must be in the future' },
      ]);
    const created = await this.tokens.create({
      name: body.name,
      role: body.role,
      createdBy: principal.name,
      expiresAt,
      ...(body.agent === undefined ? {} : { agentName: body.agent }),
    });
    return { ...tokenView(created), secret: created.secret };
  }

  @Get()
  @ApiOperation({ summary: 'List API tokens (never their secrets)' })
  @Answers(TokenList)
  async list(@ValidQuery(ListTokensQuery) query: ListTokensQuery): Promise<TokenView[]> {
    const includeRevoked = query.includeRevoked === 'true' || query.includeRevoked === '1';
    return (await this.tokens.list({ includeRevoked })).map(tokenView);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Revoke a token by id or display prefix; it stops working at once' })
  @Answers(TokenView)
  @Problems('NOT_FOUND', 'CONFLICT')
  async revoke(@Param('id') id: string): Promise<TokenView> {
    return tokenView(await this.tokens.revoke(id));
  }
}

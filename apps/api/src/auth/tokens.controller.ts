import { Body, Controller, Delete, Get, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { ApiError } from '../common/api-error.js';
import { CreateTokenDto, CreatedTokenDto, TokenViewDto } from './tokens.dto.js';
import { Principal, Roles, type AuthPrincipal } from './roles.js';
import { TokensService, type CreatedToken, type TokenView } from './tokens.service.js';

const DAY_MS = 86_400_000;

/** API tokens: admins create, list and revoke them. */
@ApiTags('auth')
@Roles('admin')
@Controller('tokens')
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  @Post()
  @ApiOperation({ summary: 'Create an API token; the answer holds the secret, shown only this once' })
  @ApiCreatedResponse({ type: CreatedTokenDto })
  async create(@Body() body: CreateTokenDto, @Principal() principal: AuthPrincipal): Promise<CreatedToken> {
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
    return this.tokens.create({ name: body.name, role: body.role, createdBy: principal.name, expiresAt });
  }

  @Get()
  @ApiOperation({ summary: 'List API tokens (never their secrets)' })
  @ApiQuery({ name: 'includeRevoked', required: false, type: Boolean })
  @ApiOkResponse({ type: [TokenViewDto] })
  list(@Query('includeRevoked') includeRevoked?: string): Promise<TokenView[]> {
    return this.tokens.list({ includeRevoked: includeRevoked === 'true' || includeRevoked === '1' });
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Revoke a token by id or display prefix; it stops working at once' })
  @ApiOkResponse({ type: TokenViewDto })
  revoke(@Param('id') id: string): Promise<TokenView> {
    return this.tokens.revoke(id);
  }
}

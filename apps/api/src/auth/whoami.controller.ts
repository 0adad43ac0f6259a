import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { WhoamiView } from '#contracts';
import { Answers } from '../common/http-contract.js';
import { ALL_ROLES, Principal, Roles, type AuthPrincipal } from './roles.js';
import { TokensService } from './tokens.service.js';

/** Who a token is: the dashboard shows it and offers only what the role may do. */
@ApiTags('auth')
@Controller('whoami')
export class WhoamiController {
  constructor(private readonly tokens: TokensService) {}

  @Get()
  @Roles(...ALL_ROLES)
  @ApiOperation({ summary: 'The calling token: its name, role and expiry' })
  @Answers(WhoamiView)
  async whoami(@Principal() principal: AuthPrincipal): Promise<WhoamiView> {
    const token = await this.tokens.find(principal.tokenId);
    return {
      tokenId: principal.tokenId,
      name: principal.name,
      role: principal.role,
      expiresAt: token.expiresAt?.toISOString() ?? null,
    };
  }
}

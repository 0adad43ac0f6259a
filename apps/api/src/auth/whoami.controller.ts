import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { WhoamiView } from '#contracts';
import { Answers } from '../common/http-contract.js';
import { AGENT_QUEUE_URL } from '../infra/tokens.js';
import { ALL_ROLES, Principal, Roles, type AuthPrincipal } from './roles.js';
import { TokensService } from './tokens.service.js';

/** Who a token is: the dashboard shows it and offers only what the role may do. */
@ApiTags('auth')
@Controller('whoami')
export class WhoamiController {
  constructor(
    private readonly tokens: TokensService,
    @Inject(AGENT_QUEUE_URL) private readonly queueRedisUrl: string,
  ) {}

  @Get()
  @Roles(...ALL_ROLES)
  @ApiOperation({
    summary: "The calling token: its name, role and expiry; for an agent token, the farm's queue connection",
  })
  @Answers(WhoamiView)
  async whoami(@Principal() principal: AuthPrincipal): Promise<WhoamiView> {
    const token = await this.tokens.find(principal.tokenId);
    return {
      tokenId: principal.tokenId,
      name: principal.name,
      role: principal.role,
      expiresAt: token.expiresAt?.toISOString() ?? null,
      // What registration would hand this agent: a host check can test the queue without joining the farm.
      ...(principal.role === 'agent' ? { queue: { redisUrl: this.queueRedisUrl } } : {}),
    };
  }
}

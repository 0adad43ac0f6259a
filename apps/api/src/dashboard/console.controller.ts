import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { READ_ROLES, Roles } from '../auth/index.js';
import { Answers, Problems } from '../common/http-contract.js';
import { ConsoleRelay } from './console-relay.js';

/** A board's live serial console (between runs), for the dashboard. */
@ApiTags('devices')
@ApiBearerAuth()
@Controller('console')
export class ConsoleController {
  constructor(private readonly relay: ConsoleRelay) {}

  @Get(':deviceId/events')
  @Roles(...READ_ROLES)
  @ApiOperation({
    summary: "A board's live console (Server-Sent Events): status, then console text",
    description:
      'Switches the console on at the agent holding the board while someone watches; replays the recent text first. A run takes the port over and the console resumes after it.',
  })
  @Answers(undefined, { produces: 'text/event-stream', description: 'The event stream' })
  @Problems('NOT_FOUND')
  async events(
    @Param('deviceId') deviceId: string,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    await this.relay.stream(deviceId, request, response);
  }
}

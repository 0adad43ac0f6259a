import { Controller, Get, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ChipList, type ChipView } from '#contracts';
import { CHIP_TARGETS } from '#esp';
import { READ_ROLES, Roles } from '../auth/index.js';
import { Answers } from '../common/http-contract.js';
import { FarmStreamService } from './farm-stream.service.js';

/** The whole farm at once, for the dashboard: its live changes and the chips it supports. */
@ApiTags('farm')
@ApiBearerAuth()
@Controller()
export class FarmController {
  constructor(private readonly stream: FarmStreamService) {}

  @Get('events')
  @Roles(...READ_ROLES)
  @ApiOperation({
    summary: 'Live farm changes (Server-Sent Events): device, agent, job, run, campaign',
    description:
      'Each event holds the current state of one thing (DeviceView, AgentView, FarmJobEvent, FarmRunEvent, CampaignView). ' +
      'The first event of a connection is `ready` (FarmReadyEvent). Every event id is the server time in ms: reconnect ' +
      'with it as Last-Event-ID (or ?lastEventId=) to get what changed meanwhile; `ready.resumed` false or a `resync` ' +
      'event means: reload what you show.',
  })
  @Answers(undefined, { produces: 'text/event-stream', description: 'The event stream' })
  async events(@Req() request: Request, @Res() response: Response): Promise<void> {
    await this.stream.stream(request, response);
  }

  @Get('chips')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'The chip families the farm can flash' })
  @Answers(ChipList)
  chips(): ChipView[] {
    return CHIP_TARGETS.map((t) => ({ name: t.name, displayName: t.displayName }));
  }
}

import { Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import { StationNextRequest, StationNextView, StationOperatorRequest, StationOperatorView } from '#contracts';
import { Roles } from '../auth/index.js';
import { Answers, Problems, ValidBody } from '../common/http-contract.js';
import { CampaignsService } from './campaigns.service.js';

/** A station is a station-mode campaign seen from the line: its fixture slots and their cycles. */
@ApiTags('campaigns')
@ApiBearerAuth()
@Controller('stations')
export class StationsController {
  constructor(private readonly campaigns: CampaignsService) {}

  @Post(':id/next')
  @HttpCode(202)
  @Roles('operator')
  @ApiOperation({
    summary: 'Next unit: start a fixture cycle now',
    description:
      'The station is a running station-mode campaign (its id). The agents probe the named slot (or every fixture slot) now; what answers is a new unit, the same board again a re-test, and a unit that does not reach the bootloader a failed unit with the reason.',
  })
  @Answers(StationNextView, { status: 202 })
  @Problems('NOT_FOUND', 'CAMPAIGN_STATE')
  next(
    @Param('id') id: string,
    @ValidBody(StationNextRequest, 'station next') body: z.output<typeof StationNextRequest>,
  ): Promise<StationNextView> {
    return this.campaigns.nextUnit(id, body.slot, body.operator);
  }

  @Post(':id/operator')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({
    summary: 'Set the operator at the station',
    description:
      'The name (1–64 characters, no control characters) is recorded as operatorName on the units the station takes from now on.',
  })
  @Answers(StationOperatorView)
  @Problems('NOT_FOUND', 'CAMPAIGN_STATE')
  operator(
    @Param('id') id: string,
    @ValidBody(StationOperatorRequest, 'station operator') body: z.output<typeof StationOperatorRequest>,
  ): Promise<StationOperatorView> {
    return this.campaigns.setOperator(id, body.operator);
  }
}

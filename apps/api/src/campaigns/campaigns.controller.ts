import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import { Principal, READ_ROLES, Roles, type AuthPrincipal } from '../auth/index.js';
import { ApiError } from '../common/api-error.js';
import { CampaignsService, MAX_UNIT_PAGE } from './campaigns.service.js';
import { unitCsvHeader, unitCsvRow } from './unit-record.js';

const pageSchema = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_UNIT_PAGE).default(50),
  offset: z.coerce.number().int().min(0).default(0),
  status: z.enum(['pending', 'flashing', 'succeeded', 'failed']).optional(),
});

function page(query: Record<string, unknown>) {
  const parsed = pageSchema.safeParse(query);
  if (!parsed.success)
    throw ApiError.validation(
      'Invalid query: limit, offset (whole numbers), status=pending|flashing|succeeded|failed',
    );
  return parsed.data;
}

/** Production campaigns: flash a pool once, or every board plugged into a station; per-unit records. */
@ApiTags('campaigns')
@ApiBearerAuth()
@Controller('campaigns')
export class CampaignsController {
  constructor(private readonly campaigns: CampaignsService) {}

  @Post()
  @Roles('operator')
  @ApiOperation({
    summary: 'Start a campaign',
    description:
      'mode "pool": every matching board online now is flashed once. mode "station": every matching board attached while the campaign runs is flashed once, as soon as it appears. The firmware decides the chip.',
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['name', 'firmwareId', 'mode'],
      properties: {
        name: { type: 'string', example: 'line-2 batch 2026-11-21' },
        firmwareId: { type: 'string', format: 'uuid' },
        mode: { type: 'string', enum: ['pool', 'station'] },
        selector: {
          type: 'object',
          properties: { pool: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } },
        },
        options: { type: 'object', description: 'Flash options, as for POST /jobs' },
      },
    },
  })
  create(@Body() body: Record<string, unknown>, @Principal() principal: AuthPrincipal | undefined) {
    return this.campaigns.create(body, principal?.name ?? 'unknown');
  }

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Campaigns, newest first, with live counters' })
  list(@Query() query: Record<string, unknown>) {
    const { limit, offset } = page(query);
    return this.campaigns.list({ limit, offset });
  }

  @Get(':id')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'A campaign with its counters (done, failed, in progress, units per hour)' })
  get(@Param('id') id: string) {
    return this.campaigns.get(id);
  }

  @Post(':id/pause')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Pause: no new unit starts; boards mid-flash finish' })
  pause(@Param('id') id: string) {
    return this.campaigns.control(id, 'pause');
  }

  @Post(':id/resume')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Resume a paused campaign' })
  resume(@Param('id') id: string) {
    return this.campaigns.control(id, 'resume');
  }

  @Post(':id/stop')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({
    summary: 'Stop for good: units not started are closed as CANCELLED; boards mid-flash finish',
  })
  stop(@Param('id') id: string) {
    return this.campaigns.control(id, 'stop');
  }

  @Post(':id/retry-failed')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Flash the failed units again (same unit rows: still once per board)' })
  retry(@Param('id') id: string) {
    return this.campaigns.retryFailed(id);
  }

  @Get(':id/units')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Per-unit traceability records (filter by status; limit/offset)' })
  units(@Param('id') id: string, @Query() query: Record<string, unknown>) {
    return this.campaigns.units(id, page(query));
  }

  @Get(':id/export.csv')
  @Roles(...READ_ROLES)
  @ApiProduces('text/csv')
  @ApiOperation({ summary: 'Every unit record as CSV: one row per unit, every field' })
  async csv(@Param('id') id: string, @Res() response: Response): Promise<void> {
    await this.campaigns.get(id); // 404 before the headers go out
    response.status(200).type('text/csv; charset=utf-8');
    response.setHeader('Content-Disposition', `attachment; filename="campaign-${id}.csv"`);
    response.write(`${unitCsvHeader()}\r\n`);
    for await (const record of this.campaigns.allRecords(id)) response.write(`${unitCsvRow(record)}\r\n`);
    response.end();
  }

  @Get(':id/export.json')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Every unit record as a JSON array' })
  async json(@Param('id') id: string, @Res() response: Response): Promise<void> {
    await this.campaigns.get(id);
    response.status(200).type('application/json; charset=utf-8');
    response.setHeader('Content-Disposition', `attachment; filename="campaign-${id}.json"`);
    response.write('[');
    let first = true;
    for await (const record of this.campaigns.allRecords(id)) {
      response.write(`${first ? '' : ','}\n${JSON.stringify(record)}`);
      first = false;
    }
    response.end('\n]\n');
  }
}

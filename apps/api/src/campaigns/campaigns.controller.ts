import { Controller, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { z } from 'zod';
import {
  ApiErrorCode,
  CampaignCsvView,
  CampaignPage,
  CampaignRequest,
  CampaignUnitsQuery,
  CampaignView,
  ListCampaignsQuery,
  RetriedUnitsView,
  UnitRecord,
  UnitRecordList,
  UnitRecordPage,
  type Page,
} from '#contracts';
import { Principal, READ_ROLES, Roles, type AuthPrincipal } from '../auth/index.js';
import { ApiError } from '../common/api-error.js';
import { Answers, Problems, ValidBody, ValidQuery } from '../common/http-contract.js';
import { CampaignsService } from './campaigns.service.js';
import { unitCsvHeader, unitCsvRow } from './unit-record.js';

/** Largest per-unit CSV accepted in one upload. */
export const MAX_UNIT_CSV_BYTES = 16 * 1024 * 1024;

/** The request body as UTF-8 text (the api parses only JSON bodies itself). */
async function bodyText(request: Request): Promise<string> {
  const type = request.headers['content-type'] ?? '';
  if (!/^(text\/csv|text\/plain)\b/i.test(type))
    throw ApiError.validation(
      `The CSV goes in the request body with Content-Type text/csv (got ${type ? `"${type.slice(0, 100)}"` : 'none'}).`,
      [{ field: 'content-type', message: 'use text/csv' }],
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_UNIT_CSV_BYTES)
      throw new ApiError(
        ApiErrorCode.PAYLOAD_TOO_LARGE,
        `The CSV is larger than ${MAX_UNIT_CSV_BYTES / 1024 / 1024} MiB; split it into several uploads.`,
      );
    chunks.push(chunk);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new ApiError(
      ApiErrorCode.INVALID_TEXT,
      'The CSV is not UTF-8 text; save it as UTF-8 and upload it again.',
    );
  }
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
  @Answers(CampaignView, { status: 201 })
  @Problems('NOT_FOUND', 'BOOT_CHECK_PATTERN_INVALID', 'UNIT_DATA_INVALID')
  create(
    @ValidBody(CampaignRequest, 'campaign') body: z.output<typeof CampaignRequest>,
    @Principal() principal: AuthPrincipal | undefined,
  ): Promise<CampaignView> {
    return this.campaigns.create(body, principal?.name ?? 'unknown');
  }

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Campaigns, newest first, with live counters' })
  @Answers(CampaignPage)
  list(@ValidQuery(ListCampaignsQuery) query: ListCampaignsQuery): Promise<Page<CampaignView>> {
    return this.campaigns.list(query);
  }

  @Get(':id')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'A campaign with its counters (done, failed, in progress, units per hour)' })
  @Answers(CampaignView)
  @Problems('NOT_FOUND')
  get(@Param('id') id: string): Promise<CampaignView> {
    return this.campaigns.get(id);
  }

  @Post(':id/pause')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Pause: no new unit starts; boards mid-flash finish' })
  @Answers(CampaignView)
  @Problems('NOT_FOUND', 'CAMPAIGN_STATE')
  pause(@Param('id') id: string): Promise<CampaignView> {
    return this.campaigns.control(id, 'pause');
  }

  @Post(':id/resume')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Resume a paused campaign' })
  @Answers(CampaignView)
  @Problems('NOT_FOUND', 'CAMPAIGN_STATE')
  resume(@Param('id') id: string): Promise<CampaignView> {
    return this.campaigns.control(id, 'resume');
  }

  @Post(':id/stop')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({
    summary: 'Stop for good: units not started are closed as CANCELLED; boards mid-flash finish',
  })
  @Answers(CampaignView)
  @Problems('NOT_FOUND', 'CAMPAIGN_STATE')
  stop(@Param('id') id: string): Promise<CampaignView> {
    return this.campaigns.control(id, 'stop');
  }

  @Post(':id/retry-failed')
  @HttpCode(200)
  @Roles('operator')
  @ApiOperation({ summary: 'Flash the failed units again (same unit rows: still once per board)' })
  @Answers(RetriedUnitsView)
  @Problems('NOT_FOUND', 'CAMPAIGN_STATE')
  retry(@Param('id') id: string): Promise<RetriedUnitsView> {
    return this.campaigns.retryFailed(id);
  }

  @Post(':id/csv')
  @HttpCode(201)
  @Roles('operator')
  @ApiOperation({
    summary: 'Upload per-unit CSV rows',
    description:
      'Body: a CSV (text/csv), first line the column names. With a `mac` column each row belongs to that board; without one, rows are taken in order, one per board, never twice. Columns whose name ends in ":secret" (or starts with "secret_", or listed in unitData.csv.secretColumns) are secrets: they reach only the unit\'s NVS data, never a log, an answer or an export. Every row is checked against the NVS recipe first; a refused upload stores nothing. A later upload adds rows.',
  })
  @ApiConsumes('text/csv')
  @ApiBody({ schema: { type: 'string', description: 'The CSV text' } })
  @Answers(CampaignCsvView, { status: 201 })
  @Problems('NOT_FOUND', 'CAMPAIGN_STATE', 'UNIT_DATA_INVALID', 'PAYLOAD_TOO_LARGE', 'CONFLICT')
  async uploadCsv(@Param('id') id: string, @Req() request: Request): Promise<CampaignCsvView> {
    await this.campaigns.get(id); // an unknown campaign is a 404 whatever the body
    return this.campaigns.uploadCsv(id, await bodyText(request));
  }

  @Get(':id/units')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Per-unit traceability records (filter by status; limit/offset)' })
  @Answers(UnitRecordPage)
  @Problems('NOT_FOUND')
  units(
    @Param('id') id: string,
    @ValidQuery(CampaignUnitsQuery) query: CampaignUnitsQuery,
  ): Promise<Page<UnitRecord>> {
    return this.campaigns.units(id, query);
  }

  @Get(':id/export.csv')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Every unit record as CSV: one row per unit, every field' })
  @Answers(undefined, { produces: 'text/csv', description: 'One header line, then one line per unit' })
  @Problems('NOT_FOUND')
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
  @Answers(UnitRecordList)
  @Problems('NOT_FOUND')
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

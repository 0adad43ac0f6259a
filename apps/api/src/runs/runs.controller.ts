import { Controller, Get, Param, Query, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiNotFoundResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { z } from 'zod';
import { ApiError } from '../common/api-error.js';
import { READ_ROLES, Roles } from '../auth/index.js';
import { LiveStreamsService } from './live-streams.service.js';
import { RunsService } from './runs.service.js';

const logQuerySchema = z.object({
  format: z.enum(['text', 'json']).optional(),
  afterSeq: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(100_000).default(100_000),
});

/** One attempt on one board: its record, its full log, its live events. */
@ApiTags('runs')
@ApiBearerAuth()
@Controller('runs')
export class RunsController {
  constructor(
    private readonly runs: RunsService,
    private readonly streams: LiveStreamsService,
  ) {}

  @Get(':id')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'A run: status, stage, board, agent, error, regions, timings' })
  @ApiNotFoundResponse({ description: 'Unknown run' })
  get(@Param('id') id: string) {
    return this.runs.get(id);
  }

  @Get(':id/log')
  @Roles(...READ_ROLES)
  @ApiProduces('text/plain', 'application/json')
  @ApiOperation({
    summary: "The run's log in seq order",
    description:
      'text/plain by default (one line per entry: time, level, stage, text); JSON (seq, ts, level, stage, text) with ?format=json or Accept: application/json. Page with afterSeq and limit.',
  })
  async log(
    @Param('id') id: string,
    @Query() query: Record<string, unknown>,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const parsed = logQuerySchema.safeParse(query);
    if (!parsed.success)
      throw ApiError.validation('Invalid query: format=text|json, afterSeq and limit are whole numbers');
    const { format, afterSeq, limit } = parsed.data;
    const json = format ? format === 'json' : (request.headers.accept ?? '').includes('application/json');
    const { lastLogSeq, lines } = await this.runs.log(id, afterSeq, limit);
    if (json) {
      response.status(200).json({ runId: id, lastLogSeq, lines });
      return;
    }
    response.status(200).type('text/plain; charset=utf-8');
    response.send(
      lines
        .map((l) => `${l.ts} ${l.level.toUpperCase().padEnd(5)} ${l.stage ? `[${l.stage}] ` : ''}${l.text}\n`)
        .join(''),
    );
  }

  @Get(':id/events')
  @Roles(...READ_ROLES)
  @ApiProduces('text/event-stream')
  @ApiOperation({
    summary: 'Live run events (Server-Sent Events): run, progress, log, end',
    description:
      'Resumable: log events carry their seq as id; send it back as Last-Event-ID (or ?lastEventId=).',
  })
  async events(@Param('id') id: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    await this.streams.streamRun(id, request, response);
  }
}

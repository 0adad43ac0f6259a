import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { RunLogQuery, RunLogView, RunView } from '#contracts';
import { READ_ROLES, Roles } from '../auth/index.js';
import { Answers, Problems, ValidQuery } from '../common/http-contract.js';
import { LiveStreamsService } from './live-streams.service.js';
import { RunsService } from './runs.service.js';

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
  @Answers(RunView)
  @Problems('NOT_FOUND')
  get(@Param('id') id: string): Promise<RunView> {
    return this.runs.get(id);
  }

  @Get(':id/log')
  @Roles(...READ_ROLES)
  @ApiOperation({
    summary: "The run's log in seq order",
    description:
      'text/plain by default (one line per entry: time, level, stage, text); JSON (seq, ts, level, stage, text) with ?format=json or Accept: application/json. Page with afterSeq and limit.',
  })
  @Answers(RunLogView, {
    orText: 'text/plain',
    description:
      'text/plain: one line per entry (time, level, stage, text); JSON with ?format=json or Accept: application/json',
  })
  @Problems('NOT_FOUND')
  async log(
    @Param('id') id: string,
    @ValidQuery(RunLogQuery) query: RunLogQuery,
    @Req() request: Request,
    @Res() response: Response,
  ): Promise<void> {
    const { format, afterSeq, limit } = query;
    const json = format ? format === 'json' : (request.headers.accept ?? '').includes('application/json');
    const { lastLogSeq, lines } = await this.runs.log(id, afterSeq, limit);
    if (json) {
      response.status(200).json({ runId: id, lastLogSeq, lines } satisfies RunLogView);
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
  @ApiOperation({
    summary: 'Live run events (Server-Sent Events): run, progress, log, end',
    description:
      'Resumable: log events carry their seq as id; send it back as Last-Event-ID (or ?lastEventId=).',
  })
  @Answers(undefined, { produces: 'text/event-stream', description: 'The event stream' })
  @Problems('VALIDATION_FAILED', 'NOT_FOUND')
  async events(@Param('id') id: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    await this.streams.streamRun(id, request, response);
  }
}

import { Controller, Get, Headers, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiHeader, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { z } from 'zod';
import { CancelJobRequest, JobPage, JobRequest, JobView, ListJobsQuery, type Page } from '#contracts';
import { Principal, READ_ROLES, Roles, type AuthPrincipal } from '../auth/index.js';
import { ApiError } from '../common/api-error.js';
import { Answers, Problems, ValidBody, ValidQuery } from '../common/http-contract.js';
import { LiveStreamsService } from '../runs/live-streams.service.js';
import { newJob } from './job-request.js';
import { JobsService } from './jobs.service.js';

/** Flash jobs: what CI pipelines and production lines ask the farm to do. */
@ApiTags('jobs')
@ApiBearerAuth()
@Controller('jobs')
export class JobsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly streams: LiveStreamsService,
  ) {}

  @Post()
  @Roles('ci', 'operator')
  @ApiOperation({ summary: 'Create a flash job (one run per targeted board)' })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'Retrying with the same key and body returns the same job. Keys are per token: another token sending the same key gets its own job.',
  })
  @Answers(JobView, { status: 201, description: 'The job, with its queued runs' })
  @Answers(JobView, { description: 'The job this idempotency key already created' })
  @Problems(
    'NOT_FOUND',
    'IDEMPOTENCY_CONFLICT',
    'DEVICE_QUARANTINED',
    'CHIP_MISMATCH',
    'NO_MATCHING_DEVICE',
    'BOOT_CHECK_PATTERN_INVALID',
  )
  async create(
    @ValidBody(JobRequest, 'job') body: z.output<typeof JobRequest>,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Principal() principal: AuthPrincipal | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<JobView> {
    const job = newJob(body, idempotencyKey);
    if (!job.ok)
      throw ApiError.validation(
        `Invalid job: ${job.problems.map((p) => `${p.field} ${p.message}`).join('; ')}`,
        job.problems,
      );
    const result = await this.jobs.create(job.job, principal?.name ?? 'unknown', {
      tokenId: principal?.tokenId,
    });
    response.status(result.created ? 201 : 200);
    return result.job;
  }

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({
    summary: 'List jobs, newest first (filter by status, firmwareId, requestedBy; limit/offset)',
  })
  @Answers(JobPage)
  list(@ValidQuery(ListJobsQuery) query: ListJobsQuery): Promise<Page<JobView>> {
    return this.jobs.list(query);
  }

  @Get(':id')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: "A job with each slot's latest attempt and attempt history" })
  @Answers(JobView)
  @Problems('NOT_FOUND')
  get(@Param('id') id: string): Promise<JobView> {
    return this.jobs.get(id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Roles('ci', 'operator')
  @ApiOperation({ summary: 'Cancel a job: waiting runs end now, runs on a board are aborted by their agent' })
  @Answers(JobView)
  @Problems('NOT_FOUND', 'JOB_NOT_CANCELLABLE')
  cancel(
    @Param('id') id: string,
    @ValidBody(CancelJobRequest, 'cancel request') body: z.output<typeof CancelJobRequest>,
    @Principal() principal: AuthPrincipal | undefined,
  ): Promise<JobView> {
    return this.jobs.cancel(id, body.reason ?? `cancelled by ${principal?.name ?? 'unknown'}`);
  }

  @Get(':id/events')
  @Roles(...READ_ROLES)
  @ApiOperation({
    summary: 'Live job events (Server-Sent Events): job, run, progress, log, end',
    description:
      'Resumable: log events carry the stored line id; send it back as Last-Event-ID (or ?lastEventId=) to continue after it.',
  })
  @Answers(undefined, { produces: 'text/event-stream', description: 'The event stream' })
  @Problems('VALIDATION_FAILED', 'NOT_FOUND')
  async events(@Param('id') id: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    await this.streams.streamJob(id, request, response);
  }
}

import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiHeader,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
  ApiUnprocessableEntityResponse,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';

/** The OpenAPI schema object type, as ApiBody takes it. */
type SchemaObject = Extract<Parameters<typeof ApiBody>[0], { schema?: unknown }>['schema'] & object;
import { z } from 'zod';
import { ApiError } from '../common/api-error.js';
import { Principal, READ_ROLES, Roles, type AuthPrincipal } from '../auth/index.js';
import { LiveStreamsService } from '../runs/live-streams.service.js';
import {
  MAX_SELECTOR_COUNT,
  SUPPORTED_CONSOLE_BAUDS,
  SUPPORTED_FLASH_BAUDS,
  parseCreateJobRequest,
} from './job-request.js';
import { JobsService, MAX_PAGE_SIZE, type JobView } from './jobs.service.js';

const selectorSchema: SchemaObject = {
  type: 'object',
  properties: {
    chip: { type: 'string', example: 'esp32' },
    pool: { type: 'string', example: 'line-2' },
    tags: { type: 'array', items: { type: 'string' }, example: ['usb-c'] },
  },
};

const CREATE_JOB_BODY: SchemaObject = {
  type: 'object',
  required: ['firmwareId', 'target'],
  properties: {
    firmwareId: { type: 'string', format: 'uuid' },
    target: {
      description:
        'One board (`{ device: <id or MAC> }`), N boards of a selector (`{ selector, count }`, count 1..' +
        `${MAX_SELECTOR_COUNT}` +
        '), or every matching board online now (`{ all: selector }`). The firmware decides the chip. ' +
        'A quarantined board is refused (409 DEVICE_QUARANTINED). A pinned board that is unplugged, ' +
        'whose agent is down, or that is quarantined after submission is waited for up to ' +
        'FLASHFARM_PINNED_REQUEUE_WAIT_MS; if it is not back (or released) by then, the run fails ' +
        'with DEVICE_GONE (or NO_USABLE_DEVICE for a quarantined board).',
      oneOf: [
        { type: 'object', required: ['device'], properties: { device: { type: 'string' } } },
        {
          type: 'object',
          required: ['selector', 'count'],
          properties: {
            selector: selectorSchema,
            count: { type: 'integer', minimum: 1, maximum: MAX_SELECTOR_COUNT },
          },
        },
        { type: 'object', required: ['all'], properties: { all: selectorSchema } },
      ],
    },
    options: {
      type: 'object',
      properties: {
        verify: { type: 'boolean', default: true },
        eraseAll: { type: 'boolean', default: false },
        baud: { type: 'integer', enum: [...SUPPORTED_FLASH_BAUDS] },
        skipUnchanged: { type: 'boolean', default: false },
        flashMode: { type: 'string', enum: ['keep', 'qio', 'qout', 'dio', 'dout'] },
        flashFreq: { type: 'string', example: '80m' },
        flashSize: { type: 'string', example: '4MB' },
        bootCheck: {
          type: 'object',
          required: ['pattern', 'timeoutMs'],
          properties: {
            pattern: {
              type: 'string',
              description: 'JavaScript regular expression',
              example: 'app_main\\(\\) started',
            },
            timeoutMs: { type: 'integer', minimum: 100, maximum: 120000 },
            baud: { type: 'integer', enum: [...SUPPORTED_CONSOLE_BAUDS] },
          },
        },
      },
    },
    priority: {
      type: 'integer',
      default: 0,
      description: 'Higher runs first; equal priorities run in creation order.',
    },
    idempotencyKey: { type: 'string', description: 'Same as the Idempotency-Key header.' },
  },
};

const listQuerySchema = z.object({
  status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']).optional(),
  firmwareId: z.string().trim().min(1).optional(),
  requestedBy: z.string().trim().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

const cancelSchema = z.object({ reason: z.string().trim().min(1).max(500).optional() }).strict();

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
  @ApiBody({ schema: CREATE_JOB_BODY })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description: 'Retrying with the same key and body returns the same job',
  })
  @ApiCreatedResponse({ description: 'The job, with its queued runs' })
  @ApiOkResponse({ description: 'The job this idempotency key already created' })
  @ApiNotFoundResponse({ description: 'Unknown firmware or device' })
  @ApiConflictResponse({
    description:
      'IDEMPOTENCY_CONFLICT: the key was used with another request. DEVICE_QUARANTINED: the pinned ' +
      'device is quarantined (the message gives the reason); release it with POST ' +
      '/devices/{idOrMac}/release, or target a selector. Nothing is stored.',
  })
  @ApiUnprocessableEntityResponse({ description: 'Chip mismatch, or no device matches an "all" target' })
  async create(
    @Body() body: Record<string, unknown>,
    @Headers('idempotency-key') idempotencyKey: string | undefined,
    @Principal() principal: AuthPrincipal | undefined,
    @Res({ passthrough: true }) response: Response,
  ): Promise<JobView> {
    const parsed = parseCreateJobRequest(body, idempotencyKey);
    if (!parsed.ok)
      throw ApiError.validation(
        `Invalid job: ${parsed.problems.map((p) => `${p.field} ${p.message}`).join('; ')}`,
        parsed.problems,
      );
    const result = await this.jobs.create(parsed.request, principal?.name ?? 'unknown');
    response.status(result.created ? 201 : 200);
    return result.job;
  }

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({
    summary: 'List jobs, newest first (filter by status, firmwareId, requestedBy; limit/offset)',
  })
  async list(@Query() query: Record<string, unknown>) {
    const parsed = listQuerySchema.safeParse(query);
    if (!parsed.success)
      throw ApiError.validation(
        'Invalid query',
        parsed.error.issues.map((i) => ({ field: i.path.join('.') || 'query', message: i.message })),
      );
    return this.jobs.list(parsed.data);
  }

  @Get(':id')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: "A job with each slot's latest attempt and attempt history" })
  @ApiNotFoundResponse({ description: 'Unknown job' })
  get(@Param('id') id: string): Promise<JobView> {
    return this.jobs.get(id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @Roles('ci', 'operator')
  @ApiOperation({ summary: 'Cancel a job: waiting runs end now, runs on a board are aborted by their agent' })
  @ApiConflictResponse({ description: 'JOB_NOT_CANCELLABLE: the job already ended' })
  cancel(
    @Param('id') id: string,
    @Body() body: Record<string, unknown> | undefined,
    @Principal() principal: AuthPrincipal | undefined,
  ): Promise<JobView> {
    const parsed = cancelSchema.safeParse(body ?? {});
    if (!parsed.success)
      throw ApiError.validation('Invalid cancel request: only "reason" (string) is accepted');
    return this.jobs.cancel(id, parsed.data.reason ?? `cancelled by ${principal?.name ?? 'unknown'}`);
  }

  @Get(':id/events')
  @Roles(...READ_ROLES)
  @ApiProduces('text/event-stream')
  @ApiOperation({
    summary: 'Live job events (Server-Sent Events): job, run, progress, log, end',
    description:
      'Resumable: log events carry the stored line id; send it back as Last-Event-ID (or ?lastEventId=) to continue after it.',
  })
  async events(@Param('id') id: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    await this.streams.streamJob(id, request, response);
  }
}

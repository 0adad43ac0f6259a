import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { PublicWhen, READ_ROLES, Roles } from '../auth/index.js';
import { Answers } from '../common/http-contract.js';
import { MetricsService } from './metrics.service.js';

/** Prometheus scrape endpoint. */
@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  @Roles(...READ_ROLES)
  @PublicWhen((config) => config.metricsPublic)
  @Header('Cache-Control', 'no-store')
  @ApiOperation({
    summary:
      'Prometheus metrics: runs by status and error code, queue depth, devices, agents, flash durations and bytes',
    description: 'Needs a viewer (or higher) token unless FLASHFARM_METRICS_PUBLIC=true.',
  })
  @Answers(undefined, { produces: 'text/plain', description: 'Prometheus text exposition format' })
  async scrape(@Res() response: Response): Promise<void> {
    const text = await this.metrics.render();
    response.setHeader('Content-Type', this.metrics.contentType);
    response.send(text);
  }
}

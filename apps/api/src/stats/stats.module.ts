import { Module } from '@nestjs/common';
import { StatsController } from './stats.controller.js';
import { StatsService } from './stats.service.js';

/** GET /stats/...: trends, failure rates and yield from the hourly and daily run counts. */
@Module({
  controllers: [StatsController],
  providers: [StatsService],
})
export class StatsModule {}

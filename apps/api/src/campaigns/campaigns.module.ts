import { Module } from '@nestjs/common';
import { RunsModule } from '../runs/runs.module.js';
import { SchedulerModule } from '../scheduler/scheduler.module.js';
import { JobsService } from '../jobs/jobs.service.js';
import { CampaignsController } from './campaigns.controller.js';
import { CampaignsService } from './campaigns.service.js';
import { SerialAllocator } from './serial-allocator.js';
import { CsvRows } from './csv-rows.js';
import { StationsController } from './stations.controller.js';
import { WebhooksModule } from '../webhooks/webhooks.module.js';

/**
 * Production campaigns. Units become ordinary one-device jobs (JobsService is
 * stateless, so this module holds its own instance over the same modules).
 */
@Module({
  imports: [RunsModule, SchedulerModule, WebhooksModule],
  controllers: [CampaignsController, StationsController],
  providers: [JobsService, CampaignsService, SerialAllocator, CsvRows],
  exports: [CampaignsService],
})
export class CampaignsModule {}

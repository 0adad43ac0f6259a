import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/agents.module.js';
import { CampaignsModule } from '../campaigns/campaigns.module.js';
import { DevicesModule } from '../devices/devices.module.js';
import { FarmChangesService } from './farm-changes.service.js';
import { FarmController } from './farm.controller.js';
import { FarmStreamService } from './farm-stream.service.js';

/** The farm stream (GET /events) and the supported chips, for the dashboard. */
@Module({
  imports: [AgentsModule, DevicesModule, CampaignsModule],
  controllers: [FarmController],
  providers: [FarmChangesService, FarmStreamService],
})
export class FarmModule {}

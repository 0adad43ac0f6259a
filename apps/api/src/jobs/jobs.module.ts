import { Module } from '@nestjs/common';
import { RunsModule } from '../runs/runs.module.js';
import { SchedulerModule } from '../scheduler/scheduler.module.js';
import { JobsController } from './jobs.controller.js';
import { JobsService } from './jobs.service.js';

/** Flash jobs: creation, listing, cancel, live events. */
@Module({
  imports: [RunsModule, SchedulerModule],
  controllers: [JobsController],
  providers: [JobsService],
})
export class JobsModule {}

import { Module } from '@nestjs/common';
import { AgentsModule } from '../agents/index.js';
import { RunsModule } from '../runs/runs.module.js';
import { Dispatcher } from './dispatcher.js';
import { SchedulerService } from './scheduler.service.js';
import { UnitRegionsSource } from './unit-regions-source.js';

/** Binding runs to boards, dispatch to agent queues, recovery of lost runs. */
@Module({
  imports: [RunsModule, AgentsModule],
  providers: [Dispatcher, SchedulerService, UnitRegionsSource],
  exports: [Dispatcher, SchedulerService, UnitRegionsSource],
})
export class SchedulerModule {}

import { Module } from '@nestjs/common';
import { AgentEventsConsumer } from '../events/agent-events.consumer.js';
import { RunLifecycleService } from './run-lifecycle.service.js';
import { RunsController } from './runs.controller.js';
import { RunsService } from './runs.service.js';

/** Runs: their lifecycle from agent events (the stream consumer lives here because it only feeds this service), reads and logs. */
@Module({
  controllers: [RunsController],
  providers: [RunLifecycleService, RunsService, AgentEventsConsumer],
  exports: [RunLifecycleService],
})
export class RunsModule {}

import { Module } from '@nestjs/common';
import { AgentEventsConsumer } from './agent-events.consumer.js';
import { LiveStreamsService } from './live-streams.service.js';
import { RecoveryGate } from './recovery-gate.js';
import { RunLifecycleService } from './run-lifecycle.service.js';
import { RunsController } from './runs.controller.js';
import { RunsService } from './runs.service.js';

/**
 * Runs: their lifecycle from agent events (the stream consumer lives here because it only feeds
 * this service), reads and logs, and the live streams of runs and jobs (a job's stream is its runs').
 */
@Module({
  controllers: [RunsController],
  providers: [RunLifecycleService, RunsService, AgentEventsConsumer, LiveStreamsService, RecoveryGate],
  exports: [RunLifecycleService, LiveStreamsService, AgentEventsConsumer, RecoveryGate],
})
export class RunsModule {}

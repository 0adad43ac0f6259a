import { Module } from '@nestjs/common';
import { RunsModule } from '../runs/runs.module.js';
import { AgentLivenessService } from './agent-liveness.service.js';
import { AgentsController } from './agents.controller.js';
import { AgentsService } from './agents.service.js';

/** Agents: registration, heartbeats, device reports, run claims, liveness. */
@Module({
  imports: [RunsModule],
  controllers: [AgentsController],
  providers: [AgentsService, AgentLivenessService],
  exports: [AgentsService, AgentLivenessService],
})
export class AgentsModule {}

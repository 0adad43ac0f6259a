import { Module } from '@nestjs/common';
import { AgentLivenessService } from './agent-liveness.service.js';
import { AgentsController } from './agents.controller.js';
import { AgentsService } from './agents.service.js';

/** Agents: registration, heartbeats, device reports, liveness. */
@Module({
  controllers: [AgentsController],
  providers: [AgentsService, AgentLivenessService],
  exports: [AgentsService, AgentLivenessService],
})
export class AgentsModule {}

import { Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  AgentDetailView,
  AgentHeartbeatRequest,
  AgentHeartbeatResponse,
  AgentList,
  AgentView,
  ClaimRunRequest,
  ClaimRunResponse,
  RegisterAgentRequest,
  RegisterAgentResponse,
  ReportDevicesRequest,
  ReportDevicesResponse,
} from '#contracts';
import { READ_ROLES, Roles } from '../auth/index.js';
import { Answers, Problems, ValidBody } from '../common/http-contract.js';
import { AgentsService } from './agents.service.js';

/** The agent-facing contract (role agent) and the people-facing agent views. */
@ApiTags('agents')
@ApiBearerAuth()
@Controller('agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @Post('register')
  @Roles('agent')
  @HttpCode(200)
  @ApiOperation({ summary: 'An agent announces itself at start-up (idempotent by name)' })
  @Answers(RegisterAgentResponse)
  register(
    @ValidBody(RegisterAgentRequest, 'registration') body: RegisterAgentRequest,
  ): Promise<RegisterAgentResponse> {
    return this.agents.register(body);
  }

  @Post(':id/heartbeat')
  @Roles('agent')
  @HttpCode(200)
  @ApiOperation({ summary: 'Heartbeat; the answer lists held runs that were cancelled or ended by the api' })
  @Answers(AgentHeartbeatResponse)
  @Problems('NOT_FOUND')
  heartbeat(
    @Param('id') id: string,
    @ValidBody(AgentHeartbeatRequest, 'heartbeat') body: AgentHeartbeatRequest,
  ): Promise<AgentHeartbeatResponse> {
    return this.agents.heartbeat(id, body);
  }

  @Post(':id/runs/:runId/claim')
  @Roles('agent')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Claim a run taken from the queue before touching its board',
    description:
      "Moves the run to running when it is still this agent's live attempt (dispatched, or running here already after a restart), its job is not cancelled and its board is still bound to it. Otherwise 409 RUN_NOT_CLAIMABLE with the reason (ended, a newer attempt owns the slot, job cancelled — the run is then ended as cancelled — bound elsewhere): the agent drops the run without flashing and reports nothing for it.",
  })
  @Answers(ClaimRunResponse)
  @Problems('NOT_FOUND', 'RUN_NOT_CLAIMABLE')
  claimRun(
    @Param('id') id: string,
    @Param('runId') runId: string,
    @ValidBody(ClaimRunRequest, 'claim') body: ClaimRunRequest,
  ): Promise<ClaimRunResponse> {
    return this.agents.claimRun(id, runId, body);
  }

  @Post(':id/devices')
  @Roles('agent')
  @HttpCode(200)
  @ApiOperation({
    summary: 'The boards this agent holds: identities, ports, departures',
    description:
      'Boards are matched by MAC; a board on another port or host gets a new attachment and its old one is closed. `gone` ports close their attachment (board offline unless busy); `complete: true` also takes every other board of this agent offline.',
  })
  @Answers(ReportDevicesResponse)
  @Problems('NOT_FOUND')
  reportDevices(
    @Param('id') id: string,
    @ValidBody(ReportDevicesRequest, 'device report') body: ReportDevicesRequest,
  ): Promise<ReportDevicesResponse> {
    return this.agents.reportDevices(id, body);
  }

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Agents with status, version, last heartbeat and attached board count' })
  @Answers(AgentList)
  list(): Promise<AgentView[]> {
    return this.agents.list();
  }

  @Get(':id')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'One agent (by id or name) with its attached boards' })
  @Answers(AgentDetailView)
  @Problems('NOT_FOUND')
  get(@Param('id') id: string): Promise<AgentDetailView> {
    return this.agents.get(id);
  }
}

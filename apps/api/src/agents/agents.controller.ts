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
import { Principal, READ_ROLES, Roles, type AuthPrincipal } from '../auth/index.js';
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
  @ApiOperation({
    summary: 'An agent announces itself at start-up (idempotent by name); the answer names its queue',
    description:
      'An agent token speaks for one agent: the one named at its creation, else the first it registers. Registering another name with it, or a name another token speaks for, is refused with 403 AGENT_IDENTITY_REFUSED (and a farm event).',
  })
  @Answers(RegisterAgentResponse)
  @Problems('AGENT_IDENTITY_REFUSED')
  register(
    @ValidBody(RegisterAgentRequest, 'registration') body: RegisterAgentRequest,
    @Principal() principal: AuthPrincipal,
  ): Promise<RegisterAgentResponse> {
    return this.agents.register(body, principal);
  }

  @Post(':id/heartbeat')
  @Roles('agent')
  @HttpCode(200)
  @ApiOperation({ summary: 'Heartbeat; the answer lists held runs that were cancelled or ended by the api' })
  @Answers(AgentHeartbeatResponse)
  @Problems('NOT_FOUND', 'AGENT_IDENTITY_REFUSED')
  heartbeat(
    @Param('id') id: string,
    @ValidBody(AgentHeartbeatRequest, 'heartbeat') body: AgentHeartbeatRequest,
    @Principal() principal: AuthPrincipal,
  ): Promise<AgentHeartbeatResponse> {
    return this.agents.heartbeat(id, body, principal);
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
  @Problems('NOT_FOUND', 'RUN_NOT_CLAIMABLE', 'AGENT_IDENTITY_REFUSED')
  claimRun(
    @Param('id') id: string,
    @Param('runId') runId: string,
    @ValidBody(ClaimRunRequest, 'claim') body: ClaimRunRequest,
    @Principal() principal: AuthPrincipal,
  ): Promise<ClaimRunResponse> {
    return this.agents.claimRun(id, runId, body, principal);
  }

  @Post(':id/devices')
  @Roles('agent')
  @HttpCode(200)
  @ApiOperation({
    summary: 'The boards this agent holds: identities, ports, departures',
    description:
      'Boards are matched by MAC; a board on another port of this agent, or from an offline agent, gets a new attachment and its old one is closed. A MAC that answers on two live ports (two ports of this report, or a port of another live agent) is not moved: the board is held in state conflict and the answer is 409 DEVICE_CONFLICT naming the ports (the rest of the report is applied). `gone` ports close their attachment (board offline unless busy); `complete: true` also takes every other board of this agent offline.',
  })
  @Answers(ReportDevicesResponse)
  @Problems('NOT_FOUND', 'AGENT_IDENTITY_REFUSED', 'DEVICE_CONFLICT')
  reportDevices(
    @Param('id') id: string,
    @ValidBody(ReportDevicesRequest, 'device report') body: ReportDevicesRequest,
    @Principal() principal: AuthPrincipal,
  ): Promise<ReportDevicesResponse> {
    return this.agents.reportDevices(id, body, principal);
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

import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type {
  AgentHeartbeatResponse,
  ClaimRunResponse,
  RegisterAgentResponse,
  ReportDevicesResponse,
} from '#contracts';
import { READ_ROLES, Roles } from '../auth/index.js';
import {
  AgentDto,
  ClaimRunDto,
  ClaimRunResponseDto,
  HeartbeatDto,
  HeartbeatResponseDto,
  RegisterAgentDto,
  RegisterAgentResponseDto,
  ReportDevicesDto,
  ReportDevicesResponseDto,
} from './agents.dto.js';
import { AgentsService } from './agents.service.js';

/** The agent-facing contract (role agent) and the people-facing agent views. */
@ApiTags('agents')
@Controller('agents')
export class AgentsController {
  constructor(private readonly agents: AgentsService) {}

  @Post('register')
  @Roles('agent')
  @HttpCode(200)
  @ApiOperation({ summary: 'An agent announces itself at start-up (idempotent by name)' })
  @ApiCreatedResponse({ type: RegisterAgentResponseDto })
  @ApiOkResponse({ type: RegisterAgentResponseDto })
  register(@Body() body: RegisterAgentDto): Promise<RegisterAgentResponse> {
    return this.agents.register(body);
  }

  @Post(':id/heartbeat')
  @Roles('agent')
  @HttpCode(200)
  @ApiOperation({ summary: 'Heartbeat; the answer lists held runs that were cancelled or ended by the api' })
  @ApiOkResponse({ type: HeartbeatResponseDto })
  heartbeat(@Param('id') id: string, @Body() body: HeartbeatDto): Promise<AgentHeartbeatResponse> {
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
  @ApiOkResponse({ type: ClaimRunResponseDto })
  @ApiBadRequestResponse({
    description: 'VALIDATION_FAILED: the run id is not a UUID or attempt is not a whole number ≥ 1',
  })
  @ApiNotFoundResponse({ description: 'Unknown agent' })
  @ApiConflictResponse({
    description: 'RUN_NOT_CLAIMABLE: the api no longer wants this agent to flash the run',
  })
  claimRun(
    @Param('id') id: string,
    @Param('runId') runId: string,
    @Body() body: ClaimRunDto,
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
  @ApiOkResponse({ type: ReportDevicesResponseDto })
  reportDevices(@Param('id') id: string, @Body() body: ReportDevicesDto): Promise<ReportDevicesResponse> {
    return this.agents.reportDevices(id, body);
  }

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Agents with status, version, last heartbeat and attached board count' })
  @ApiOkResponse({ type: [AgentDto] })
  list() {
    return this.agents.list();
  }

  @Get(':id')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'One agent (by id or name) with its attached boards' })
  @ApiOkResponse({ type: AgentDto })
  get(@Param('id') id: string) {
    return this.agents.get(id);
  }
}

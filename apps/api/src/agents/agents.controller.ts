import { Body, Controller, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { AgentHeartbeatResponse, RegisterAgentResponse, ReportDevicesResponse } from '#contracts';
import { READ_ROLES, Roles } from '../auth/index.js';
import {
  AgentDto,
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
  @ApiOperation({ summary: 'Heartbeat; the answer lists held runs that were cancelled' })
  @ApiOkResponse({ type: HeartbeatResponseDto })
  heartbeat(@Param('id') id: string, @Body() body: HeartbeatDto): Promise<AgentHeartbeatResponse> {
    return this.agents.heartbeat(id, body);
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

import { Controller, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { z } from 'zod';
import {
  AttachmentPage,
  DeviceDetailView,
  DeviceHistoryQuery,
  DevicePage,
  DevicePatch,
  DeviceRunPage,
  ListDevicesQuery,
  QuarantineRequest,
  ResolveConflictRequest,
  type AttachmentView,
  type DeviceRunView,
  type DeviceView,
  type Page,
} from '#contracts';
import { Principal, READ_ROLES, Roles, type AuthPrincipal } from '../auth/index.js';
import { Answers, Problems, ValidBody, ValidQuery } from '../common/http-contract.js';
import { DevicesService } from './devices.service.js';

/** The boards of the farm, by id or MAC (any common spelling). */
@ApiTags('devices')
@ApiBearerAuth()
@Controller('devices')
export class DevicesController {
  constructor(private readonly devices: DevicesService) {}

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({
    summary:
      'Search devices (chip, pool, tags, state, agent, MAC/label text), sorted and paginated with a total',
  })
  @Answers(DevicePage)
  list(@ValidQuery(ListDevicesQuery) query: ListDevicesQuery): Promise<Page<DeviceView>> {
    return this.devices.list(query);
  }

  @Get(':idOrMac')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'One device: identity, settings, current attachment, run counts' })
  @Answers(DeviceDetailView)
  @Problems('NOT_FOUND')
  get(@Param('idOrMac') idOrMac: string): Promise<DeviceDetailView> {
    return this.devices.get(idOrMac);
  }

  @Get(':idOrMac/runs')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: "The board's flash runs, newest first" })
  @Answers(DeviceRunPage)
  @Problems('NOT_FOUND')
  runs(
    @Param('idOrMac') idOrMac: string,
    @ValidQuery(DeviceHistoryQuery) page: DeviceHistoryQuery,
  ): Promise<Page<DeviceRunView>> {
    return this.devices.runs(idOrMac, page);
  }

  @Get(':idOrMac/attachments')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Where the board has been plugged in: host, port, USB serial, first/last seen' })
  @Answers(AttachmentPage)
  @Problems('NOT_FOUND')
  attachments(
    @Param('idOrMac') idOrMac: string,
    @ValidQuery(DeviceHistoryQuery) page: DeviceHistoryQuery,
  ): Promise<Page<AttachmentView>> {
    return this.devices.attachments(idOrMac, page);
  }

  @Patch(':idOrMac')
  @Roles('admin', 'operator')
  @ApiOperation({ summary: 'Change pool, tags, label, notes or the custom reset sequence' })
  @Answers(DeviceDetailView)
  @Problems('NOT_FOUND')
  update(
    @Param('idOrMac') idOrMac: string,
    @ValidBody(DevicePatch, 'device change') body: z.output<typeof DevicePatch>,
  ): Promise<DeviceDetailView> {
    return this.devices.update(idOrMac, body);
  }

  @Post(':idOrMac/quarantine')
  @Roles('admin', 'operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Take the board out of service with a reason (409 while it is flashing)' })
  @Answers(DeviceDetailView)
  @Problems('NOT_FOUND', 'CONFLICT')
  quarantine(
    @Param('idOrMac') idOrMac: string,
    @ValidBody(QuarantineRequest, 'quarantine request') body: z.output<typeof QuarantineRequest>,
  ): Promise<DeviceDetailView> {
    return this.devices.quarantine(idOrMac, body.reason);
  }

  @Post(':idOrMac/release')
  @Roles('admin', 'operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Return a quarantined board to service (failure count reset)' })
  @Answers(DeviceDetailView)
  @Problems('NOT_FOUND')
  release(@Param('idOrMac') idOrMac: string): Promise<DeviceDetailView> {
    return this.devices.release(idOrMac);
  }

  @Post(':idOrMac/resolve-conflict')
  @Roles('admin', 'operator')
  @HttpCode(200)
  @ApiOperation({
    summary: 'End a MAC conflict: name the port with the real board; the other ports are refused',
    description:
      'For a board in state conflict (its MAC answers on two live ports). The stays on the other ports are closed and refused: what answers there with this MAC is ignored until its agent reports the port empty. 409 CONFLICT when the board is not in conflict or the port is not one of its live ports.',
  })
  @Answers(DeviceDetailView)
  @Problems('NOT_FOUND', 'CONFLICT')
  resolveConflict(
    @Param('idOrMac') idOrMac: string,
    @ValidBody(ResolveConflictRequest, 'conflict resolution') body: ResolveConflictRequest,
    @Principal() principal: AuthPrincipal,
  ): Promise<DeviceDetailView> {
    return this.devices.resolveConflict(idOrMac, body, principal.name);
  }
}

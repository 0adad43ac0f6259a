import { Body, Controller, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { READ_ROLES, Roles } from '../auth/index.js';
import {
  AttachmentPageDto,
  DevicePageDto,
  DeviceRunPageDto,
  DeviceDto,
  ListDevicesQuery,
  PageQuery,
  QuarantineDto,
  UpdateDeviceDto,
} from './devices.dto.js';
import { DevicesService } from './devices.service.js';

/** The boards of the farm, by id or MAC (any common spelling). */
@ApiTags('devices')
@Controller('devices')
export class DevicesController {
  constructor(private readonly devices: DevicesService) {}

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({
    summary:
      'Search devices (chip, pool, tags, state, agent, MAC/label text), sorted and paginated with a total',
  })
  @ApiOkResponse({ type: DevicePageDto })
  list(@Query() query: ListDevicesQuery) {
    return this.devices.list(query);
  }

  @Get(':idOrMac')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'One device: identity, settings, current attachment, run counts' })
  @ApiOkResponse({ type: DeviceDto })
  get(@Param('idOrMac') idOrMac: string) {
    return this.devices.get(idOrMac);
  }

  @Get(':idOrMac/runs')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: "The board's flash runs, newest first" })
  @ApiOkResponse({ type: DeviceRunPageDto })
  runs(@Param('idOrMac') idOrMac: string, @Query() page: PageQuery) {
    return this.devices.runs(idOrMac, { limit: page.limit ?? 50, offset: page.offset ?? 0 });
  }

  @Get(':idOrMac/attachments')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'Where the board has been plugged in: host, port, USB serial, first/last seen' })
  @ApiOkResponse({ type: AttachmentPageDto })
  attachments(@Param('idOrMac') idOrMac: string, @Query() page: PageQuery) {
    return this.devices.attachments(idOrMac, { limit: page.limit ?? 50, offset: page.offset ?? 0 });
  }

  @Patch(':idOrMac')
  @Roles('admin', 'operator')
  @ApiOperation({ summary: 'Change pool, tags, label, notes or the custom reset sequence' })
  @ApiOkResponse({ type: DeviceDto })
  update(@Param('idOrMac') idOrMac: string, @Body() body: UpdateDeviceDto) {
    return this.devices.update(idOrMac, body);
  }

  @Post(':idOrMac/quarantine')
  @Roles('admin', 'operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Take the board out of service with a reason (409 while it is flashing)' })
  @ApiOkResponse({ type: DeviceDto })
  quarantine(@Param('idOrMac') idOrMac: string, @Body() body: QuarantineDto) {
    return this.devices.quarantine(idOrMac, body.reason);
  }

  @Post(':idOrMac/release')
  @Roles('admin', 'operator')
  @HttpCode(200)
  @ApiOperation({ summary: 'Return a quarantined board to service (failure count reset)' })
  @ApiOkResponse({ type: DeviceDto })
  release(@Param('idOrMac') idOrMac: string) {
    return this.devices.release(idOrMac);
  }
}

import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';

/** Body of POST /agents/register (RegisterAgentRequest). */
export class RegisterAgentDto {
  @ApiProperty({ description: 'Stable agent name (defaults to the hostname on the agent side)' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  name!: string;

  @ApiProperty() @IsString() @MaxLength(255) hostname!: string;
  @ApiProperty() @IsString() @MaxLength(100) version!: string;

  @ApiProperty({ minimum: 1, maximum: 256 })
  @IsInt()
  @Min(1)
  @Max(256)
  maxParallel!: number;
}

/** Answer to register. */
export class RegisterAgentResponseDto {
  @ApiProperty({ format: 'uuid' }) agentId!: string;
  @ApiProperty({ description: 'Send a heartbeat this often' }) heartbeatMs!: number;
}

/** Body of POST /agents/:id/heartbeat (AgentHeartbeatRequest). */
export class HeartbeatDto {
  @ApiProperty({ enum: ['online', 'draining'] })
  @IsIn(['online', 'draining'], { message: 'status must be online or draining' })
  status!: 'online' | 'draining';

  @ApiProperty({ type: [String], description: 'Runs this agent is executing right now' })
  @IsArray()
  @ArrayMaxSize(1024)
  @IsString({ each: true })
  runningRunIds!: string[];
}

/** Answer to a heartbeat. */
export class HeartbeatResponseDto {
  @ApiProperty({
    type: [String],
    description: 'Runs to abort: cancelled while the control message may have been missed',
  })
  cancelRunIds!: string[];

  @ApiProperty({
    type: [String],
    description:
      'Listed runs the api has ended meanwhile (agent declared dead, board gone): a newer attempt owns their slot',
  })
  staleRunIds!: string[];
}

/** Body of POST /agents/:id/runs/:runId/claim (ClaimRunRequest). */
export class ClaimRunDto {
  @ApiProperty({ minimum: 1, maximum: 1_000_000, description: 'The attempt the queued payload carries' })
  @IsInt()
  @Min(1)
  @Max(1_000_000)
  attempt!: number;
}

/** Answer to a successful claim. */
export class ClaimRunResponseDto {
  @ApiProperty({ format: 'uuid' }) runId!: string;
  @ApiProperty() attempt!: number;
  @ApiProperty({ enum: ['running'] }) status!: 'running';
}

/** DeviceIdentity: what the agent read from the board's silicon. */
export class DeviceIdentityDto {
  @ApiProperty({ example: 'aa:bb:cc:dd:ee:ff' }) @IsString() @MaxLength(32) mac!: string;
  @ApiProperty({ example: 'esp32s3' }) @IsString() @MinLength(1) @MaxLength(32) chip!: string;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) @Max(10_000) chipRevision?: number;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) chipDescription?: string;
  @ApiPropertyOptional({ type: [String] })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @IsString({ each: true })
  features?: string[];
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) @Max(1000) crystalMhz?: number;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) @Max(0xffffff) flashJedecId?: number;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) flashSizeBytes?: number;
}

/** PortAttachment: where the board is plugged in. */
export class PortAttachmentDto {
  @ApiProperty({ example: '/dev/ttyUSB0' }) @IsString() @MinLength(1) @MaxLength(500) portPath!: string;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) @Max(0xffff) usbVid?: number;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(0) @Max(0xffff) usbPid?: number;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) usbSerial?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(200) location?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() @MaxLength(100) bridge?: string;
}

/** One board on one port. */
export class PresentDeviceDto {
  @ApiProperty({ type: DeviceIdentityDto })
  @ValidateNested()
  @Type(() => DeviceIdentityDto)
  identity!: DeviceIdentityDto;

  @ApiProperty({ type: PortAttachmentDto })
  @ValidateNested()
  @Type(() => PortAttachmentDto)
  attachment!: PortAttachmentDto;
}

/** Body of POST /agents/:id/devices (ReportDevicesRequest). */
export class ReportDevicesDto {
  @ApiProperty({ type: [PresentDeviceDto] })
  @IsArray()
  @ArrayMaxSize(1024)
  @ValidateNested({ each: true })
  @Type(() => PresentDeviceDto)
  present!: PresentDeviceDto[];

  @ApiProperty({ type: [String], description: 'Ports whose board disappeared' })
  @IsArray()
  @ArrayMaxSize(1024)
  @IsString({ each: true })
  gone!: string[];

  @ApiProperty({ description: "true when present is the agent's complete list" })
  @IsBoolean()
  complete!: boolean;
}

/** One device in the answer to a device report. */
export class ReportedDeviceDto {
  @ApiProperty({ format: 'uuid' }) deviceId!: string;
  @ApiProperty() mac!: string;
  @ApiProperty({ enum: ['idle', 'busy', 'offline', 'quarantined'] }) state!: string;
  @ApiProperty({ nullable: true, type: String }) resetSequence!: string | null;
  @ApiProperty({ nullable: true, type: Number }) bestBaud!: number | null;
}

/** Answer to a device report. */
export class ReportDevicesResponseDto {
  @ApiProperty({ type: [ReportedDeviceDto] }) devices!: ReportedDeviceDto[];
}

/** An agent as people see it. */
export class AgentDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() hostname!: string;
  @ApiProperty() version!: string;
  @ApiProperty({ enum: ['online', 'draining', 'offline'] }) status!: string;
  @ApiProperty() maxParallel!: number;
  @ApiProperty() lastHeartbeatAt!: Date;
  @ApiProperty() startedAt!: Date;
  @ApiProperty({ description: 'Boards currently attached' }) deviceCount!: number;
  @ApiPropertyOptional({
    description: 'With GET /agents/:id: the attached boards and their ports',
    type: 'array',
    items: { type: 'object' },
  })
  devices?: unknown[];
}

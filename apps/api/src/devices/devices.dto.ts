import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { PageQueryOf } from '../common/page-query.js';
import { Transform } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
  ValidateIf,
} from 'class-validator';

/** Device states. */
export const DEVICE_STATES = ['idle', 'busy', 'offline', 'quarantined'] as const;
/** Fields GET /devices can sort by; a leading "-" sorts descending. */
export const DEVICE_SORT_FIELDS = [
  'mac',
  'chip',
  'state',
  'label',
  'pool',
  'lastSeenAt',
  'lastRunAt',
  'createdAt',
] as const;

const asArray = ({ value }: { value: unknown }): unknown =>
  value === undefined
    ? undefined
    : (Array.isArray(value) ? value : [value])
        .flatMap((v) => String(v).split(','))
        .map((v) => v.trim())
        .filter(Boolean);

/** Query of GET /devices. */
export class ListDevicesQuery extends PageQueryOf(500) {
  @ApiPropertyOptional({ description: 'Chip family (esp32, esp32s3, ...)' })
  @IsOptional()
  @IsString()
  chip?: string;

  @ApiPropertyOptional() @IsOptional() @IsString() pool?: string;

  @ApiPropertyOptional({
    type: [String],
    description: 'Repeatable (tag=a&tag=b) or comma-separated; a device must carry every tag',
  })
  @IsOptional()
  @Transform(asArray)
  @IsArray()
  @IsString({ each: true })
  tag?: string[];

  @ApiPropertyOptional({ type: [String], enum: DEVICE_STATES, description: 'Repeatable or comma-separated' })
  @IsOptional()
  @Transform(asArray)
  @IsArray()
  @IsIn(DEVICE_STATES, { each: true, message: `state must be one of: ${DEVICE_STATES.join(', ')}` })
  state?: Array<(typeof DEVICE_STATES)[number]>;

  @ApiPropertyOptional({ description: 'Agent id or name holding the board now' })
  @IsOptional()
  @IsString()
  agent?: string;

  @ApiPropertyOptional({ description: 'Part of the MAC (any separator) or of the label' })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  search?: string;

  @ApiPropertyOptional({
    description: `Sort field, "-" prefix for descending: ${DEVICE_SORT_FIELDS.join(', ')}`,
    default: 'mac',
  })
  @IsOptional()
  @IsIn([...DEVICE_SORT_FIELDS, ...DEVICE_SORT_FIELDS.map((f) => `-${f}`)], {
    message: `sort must be one of: ${DEVICE_SORT_FIELDS.join(', ')} (prefix "-" for descending)`,
  })
  sort?: string;
}

/** Query of the paginated history routes. */
export class PageQuery extends PageQueryOf(500) {}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;

/** Body of PATCH /devices/:idOrMac. null clears a field. */
export class UpdateDeviceDto {
  @ApiPropertyOptional({
    nullable: true,
    type: String,
    description: 'Pool name (letters, digits, . _ : / -)',
  })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  @MaxLength(100)
  @Matches(NAME_RE, {
    message: 'pool must start with a letter or digit and use only letters, digits and . _ : / -',
  })
  pool?: string | null;

  @ApiPropertyOptional({ type: [String], description: 'Replaces the tag list' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(64)
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  @Matches(NAME_RE, {
    each: true,
    message: 'each tag must start with a letter or digit and use only letters, digits and . _ : / -',
  })
  tags?: string[];

  @ApiPropertyOptional({ nullable: true, type: String })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  @MaxLength(200)
  label?: string | null;

  @ApiPropertyOptional({ nullable: true, type: String })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  @MaxLength(10_000)
  notes?: string | null;

  @ApiPropertyOptional({
    nullable: true,
    type: String,
    description:
      'Custom reset sequence, e.g. D0|R1|W100|D1|R0|W50|D0 (D/R: DTR/RTS 0 or 1, U<dtr>,<rts>, W<ms>); null for automatic',
  })
  @IsOptional()
  @ValidateIf((_o, v) => v !== null)
  @IsString()
  @MaxLength(500)
  resetSequence?: string | null;
}

/** Body of POST /devices/:idOrMac/quarantine. */
export class QuarantineDto {
  @ApiProperty({ description: 'Why the board is taken out of service' })
  @IsString()
  @MinLength(1, { message: 'reason must not be empty' })
  @MaxLength(1000)
  reason!: string;
}

/** A device as listed. */
export class DeviceDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() mac!: string;
  @ApiProperty() chip!: string;
  @ApiProperty({ enum: DEVICE_STATES }) state!: string;
  @ApiProperty({ nullable: true, type: String }) pool!: string | null;
  @ApiProperty({ type: [String] }) tags!: string[];
  @ApiProperty({ nullable: true, type: String }) label!: string | null;
  @ApiPropertyOptional({
    description: 'Where the board is now: agent, port, USB identity',
    type: 'object',
    additionalProperties: true,
  })
  attachment?: unknown;
}

/** A page of devices. */
export class DevicePageDto {
  @ApiProperty({ type: [DeviceDto] }) items!: DeviceDto[];
  @ApiProperty() total!: number;
  @ApiProperty() limit!: number;
  @ApiProperty() offset!: number;
}

/** One run in a device's history. */
export class DeviceRunDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) jobId!: string;
  @ApiProperty() slot!: number;
  @ApiProperty() attempt!: number;
  @ApiProperty({ enum: ['queued', 'dispatched', 'running', 'succeeded', 'failed', 'cancelled'] })
  status!: string;
  @ApiProperty({ nullable: true, type: String }) stage!: string | null;
  @ApiProperty({ nullable: true, type: String }) errorCode!: string | null;
  @ApiProperty({ nullable: true, type: String }) errorMessage!: string | null;
  @ApiProperty({ nullable: true, type: Number }) baud!: number | null;
  @ApiProperty() bytesWritten!: number;
  @ApiProperty({ nullable: true, type: String }) agentName!: string | null;
  @ApiProperty({ nullable: true, type: String }) portPath!: string | null;
  @ApiProperty({ description: 'id, name, version', type: 'object', additionalProperties: true })
  firmware!: unknown;
  @ApiProperty() requestedBy!: string;
  @ApiProperty() queuedAt!: Date;
  @ApiProperty({ nullable: true, type: Date }) startedAt!: Date | null;
  @ApiProperty({ nullable: true, type: Date }) finishedAt!: Date | null;
}

/** A page of a device's runs. */
export class DeviceRunPageDto {
  @ApiProperty({ type: [DeviceRunDto] }) items!: DeviceRunDto[];
  @ApiProperty() total!: number;
  @ApiProperty() limit!: number;
  @ApiProperty() offset!: number;
}

/** One stay of a board on a port. */
export class AttachmentDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) agentId!: string;
  @ApiProperty() agentName!: string;
  @ApiProperty() hostname!: string;
  @ApiProperty() portPath!: string;
  @ApiProperty({ nullable: true, type: Number }) usbVid!: number | null;
  @ApiProperty({ nullable: true, type: Number }) usbPid!: number | null;
  @ApiProperty({ nullable: true, type: String }) usbSerial!: string | null;
  @ApiProperty({ nullable: true, type: String }) location!: string | null;
  @ApiProperty({ nullable: true, type: String }) bridge!: string | null;
  @ApiProperty() firstSeenAt!: Date;
  @ApiProperty() lastSeenAt!: Date;
  @ApiProperty({ nullable: true, type: Date, description: 'null while the board is still there' })
  detachedAt!: Date | null;
  @ApiProperty() current!: boolean;
}

/** A page of a device's attachments. */
export class AttachmentPageDto {
  @ApiProperty({ type: [AttachmentDto] }) items!: AttachmentDto[];
  @ApiProperty() total!: number;
  @ApiProperty() limit!: number;
  @ApiProperty() offset!: number;
}

import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { PageQueryOf } from '../common/page-query.js';
import { IsIn, IsOptional, IsString, MaxLength } from 'class-validator';

/** Text fields of POST /firmware (the files travel as multipart file fields). */
export class UploadFirmwareDto {
  @ApiPropertyOptional({
    description: 'Display name; defaults to the app descriptor project name',
    maxLength: 200,
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  name?: string;

  @ApiPropertyOptional({ description: 'Version; defaults to the app descriptor version', maxLength: 200 })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  version?: string;

  @ApiPropertyOptional({
    description: 'Expected chip (esp32, esp32s3, esp32c3, ...); images for another chip are refused',
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  chip?: string;

  @ApiPropertyOptional({
    description:
      'With "files": JSON list placing each uploaded file, e.g. [{"offset":"0x1000","file":"bootloader.bin"},{"offset":"0x8000","file":"partition-table.bin"},{"offset":"0x10000","file":"app.bin"}]',
  })
  @IsOptional()
  @IsString()
  parts?: string;

  @ApiPropertyOptional({
    description: 'With a single raw part in "file": its flash offset (0x10000 or 65536)',
  })
  @IsOptional()
  @IsString()
  offset?: string;
}

/** Query of GET /firmware. */
export class ListFirmwareQuery extends PageQueryOf(200) {
  @ApiPropertyOptional({ description: 'Only firmware for this chip' })
  @IsOptional()
  @IsString()
  chip?: string;

  @ApiPropertyOptional({ description: 'Name contains this text (case-insensitive)' })
  @IsOptional()
  @IsString()
  name?: string;

  @ApiPropertyOptional({ enum: ['merged', 'parts', 'idf_bundle'] })
  @IsOptional()
  @IsIn(['merged', 'parts', 'idf_bundle'], { message: 'kind must be one of: merged, parts, idf_bundle' })
  kind?: 'merged' | 'parts' | 'idf_bundle';
}

/** One part of a firmware. */
export class FirmwarePartDto {
  @ApiProperty({ description: 'Flash offset in bytes' }) offset!: number;
  @ApiProperty() size!: number;
  @ApiProperty({ description: 'SHA-256 of the bytes (hex); also the download ETag' }) sha256!: string;
  @ApiProperty() md5!: string;
  @ApiProperty({ enum: ['bootloader', 'partition_table', 'app', 'ota_data', 'data', 'merged'] })
  role!: string;
  @ApiProperty() fileName!: string;
  @ApiProperty({ description: 'Download path, relative to the api base URL' }) path!: string;
}

class FlashSettingsDto {
  @ApiProperty({ nullable: true, type: String }) mode!: string | null;
  @ApiProperty({ nullable: true, type: String }) size!: string | null;
  @ApiProperty({ nullable: true, type: String }) freq!: string | null;
}

/** A stored firmware. */
export class FirmwareDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({
    description:
      'SHA-256 over the parts in offset order, one line each: "0x<offset in hex>:<part SHA-256>\\n". Same parts at the same offsets, same firmware.',
  })
  sha256!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ nullable: true, type: String }) version!: string | null;
  @ApiProperty({ nullable: true, type: String }) projectName!: string | null;
  @ApiProperty({ nullable: true, type: String }) idfVersion!: string | null;
  @ApiProperty() chip!: string;
  @ApiProperty({ enum: ['merged', 'parts', 'idf_bundle'] }) kind!: string;
  @ApiProperty({ type: FlashSettingsDto }) flash!: FlashSettingsDto;
  @ApiProperty() totalBytes!: number;
  @ApiProperty({ nullable: true, type: String }) createdBy!: string | null;
  @ApiProperty() createdAt!: Date;
  @ApiProperty() partCount!: number;
  @ApiPropertyOptional({ type: [FirmwarePartDto] }) parts?: FirmwarePartDto[];
  @ApiPropertyOptional({
    description: 'Validation summary: source files, app descriptor, partition table, flash needed, warnings',
    type: 'object',
    additionalProperties: true,
  })
  metadata?: unknown;
}

/** A page of firmware. */
export class FirmwarePageDto {
  @ApiProperty({ type: [FirmwareDto] }) items!: FirmwareDto[];
  @ApiProperty() total!: number;
  @ApiProperty() limit!: number;
  @ApiProperty() offset!: number;
}

import {
  Body,
  Controller,
  Delete,
  Get,
  Headers,
  HttpCode,
  Param,
  Post,
  Res,
  UploadedFiles,
  UseInterceptors,
} from '@nestjs/common';
import { AnyFilesInterceptor } from '@nestjs/platform-express';
import { ApiBearerAuth, ApiBody, ApiConsumes, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { z } from 'zod';
import {
  FirmwareDetailView,
  FirmwarePage,
  FirmwareUploadFields,
  FirmwareUploadQuery,
  ListFirmwareQuery,
  ApiErrorCode,
  type FirmwareView,
  type Page,
} from '#contracts';
import { Principal, READ_ROLES, Roles, type AuthPrincipal } from '../auth/index.js';
import { Answers, Problems, ValidQuery, parseInput } from '../common/http-contract.js';
import { formText } from '../common/text-guard.middleware.js';
import { ApiError } from '../common/api-error.js';
import { FirmwareService, type UploadedFile } from './firmware.service.js';
import { UploadLimitInterceptor } from './upload-limit.interceptor.js';

const UPLOAD_DESCRIPTION = `Upload firmware as multipart/form-data, in one of three forms:

1. **Merged image**: \`file\` = the output of \`esptool merge-bin\` (bootloader, partition table and app in one file). It is split along its partition table.
2. **Set of parts**: several \`files\` plus \`parts\`, a JSON list placing each file by name:
   \`[{"offset":"0x1000","file":"bootloader.bin"},{"offset":"0x8000","file":"partition-table.bin"},{"offset":"0x10000","file":"app.bin"}]\`.
   A single raw part can also be sent as \`file\` with \`offset\`.
3. **ESP-IDF build bundle**: \`file\` (or \`bundle\`) = a .zip or .tar.gz holding \`flasher_args.json\` and the files it names (e.g. \`cd build && zip -r ../bundle.zip flasher_args.json bootloader partition_table *.bin\`).

Optional fields: \`name\`, \`version\`, \`chip\` (the expected chip).

Every part is validated (image magic and segments, checksum and appended SHA-256, one chip, app descriptor, a bootloader image where the ROM loads it, a partition table at 0x8000 with its MD5, no overlapping partitions and an app partition, app partition sizes, 4 KiB alignment, overlaps, size limit). \`?force=true\` (admin, operator) stores a firmware that would not boot on purpose, with its problems kept as warnings. A refused upload answers 400 VALIDATION_FAILED (form), 413 PAYLOAD_TOO_LARGE or 422 FIRMWARE_INVALID, with \`details\` listing each problem and its code; nothing is stored. The same parts at the same offsets give the same firmware: 200 with the existing record instead of 201.`;

/** The multipart form of POST /firmware: the text fields of the contract and the file fields. */
const UPLOAD_FORM = {
  type: 'object',
  properties: {
    ...(z.toJSONSchema(FirmwareUploadFields, { target: 'draft-2020-12', io: 'input' }).properties ?? {}),
    file: {
      type: 'string',
      format: 'binary',
      description: 'Merged image, one part (with offset) or a bundle',
    },
    bundle: { type: 'string', format: 'binary', description: '.zip or .tar.gz ESP-IDF bundle' },
    files: {
      type: 'array',
      items: { type: 'string', format: 'binary' },
      description: 'Parts, placed by "parts"',
    },
  },
};

/** Firmware intake, listing, download and deletion. */
@ApiTags('firmware')
@ApiBearerAuth()
@Controller('firmware')
export class FirmwareController {
  constructor(private readonly firmware: FirmwareService) {}

  @Post()
  @Roles('admin', 'ci', 'operator')
  @UseInterceptors(UploadLimitInterceptor, AnyFilesInterceptor())
  @ApiOperation({
    summary: 'Upload firmware (merged image, parts, or ESP-IDF bundle)',
    description: UPLOAD_DESCRIPTION,
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({ schema: UPLOAD_FORM })
  @Answers(FirmwareDetailView, { status: 201, description: 'Stored' })
  @Answers(FirmwareDetailView, { description: 'The same firmware was already stored' })
  @Problems('VALIDATION_FAILED', 'PAYLOAD_TOO_LARGE', 'FIRMWARE_INVALID', 'FORBIDDEN')
  async upload(
    @ValidQuery(FirmwareUploadQuery) query: FirmwareUploadQuery,
    @UploadedFiles() files: UploadedFile[] | undefined,
    @Body() body: unknown,
    @Principal() principal: AuthPrincipal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<FirmwareDetailView> {
    const form = Object.fromEntries(
      Object.entries((body ?? {}) as Record<string, unknown>).map(([k, v]) => [
        formText(k, 'form (a field name)'),
        typeof v === 'string'
          ? formText(v, `form.${k}`)
          : Array.isArray(v)
            ? v.map((x: unknown) => (typeof x === 'string' ? formText(x, `form.${k}`) : x))
            : v,
      ]),
    );
    const uploaded = (files ?? []).map((f) => ({
      ...f,
      originalname: formText(f.originalname, `the name of file "${f.fieldname}"`),
    }));
    const force = query.force === 'true';
    if (force && principal.role !== 'admin' && principal.role !== 'operator')
      throw new ApiError(
        ApiErrorCode.FORBIDDEN,
        `force=true stores firmware that would not boot; only admin and operator tokens may ask for it, and this one is ${principal.role}.`,
      );
    const fields = parseInput(FirmwareUploadFields, form, 'upload form');
    const result = await this.firmware.upload(uploaded, fields, principal.name, { force });
    response.status(result.created ? 201 : 200);
    return result.firmware;
  }

  @Get()
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'List firmware, newest first' })
  @Answers(FirmwarePage)
  list(@ValidQuery(ListFirmwareQuery) query: ListFirmwareQuery): Promise<Page<FirmwareView>> {
    return this.firmware.list(query);
  }

  @Get(':id')
  @Roles(...READ_ROLES)
  @ApiOperation({ summary: 'One firmware with its parts, app descriptor and validation summary' })
  @Answers(FirmwareDetailView)
  @Problems('NOT_FOUND')
  get(@Param('id') id: string): Promise<FirmwareDetailView> {
    return this.firmware.get(id);
  }

  @Get(':id/parts/:sha256')
  @Roles('agent', ...READ_ROLES)
  @ApiOperation({ summary: 'The bytes of one part (agents download here); ETag is the SHA-256' })
  @Answers(undefined, { produces: 'application/octet-stream', description: 'The part bytes' })
  @Answers(undefined, { status: 304, description: 'If-None-Match named this part: the bytes are unchanged' })
  @Problems('NOT_FOUND')
  async part(
    @Param('id') id: string,
    @Param('sha256') sha256: string,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() response: Response,
  ): Promise<void> {
    const part = await this.firmware.openPart(id, sha256);
    const etag = `"${sha256}"`;
    response.setHeader('ETag', etag);
    response.setHeader('Cache-Control', 'private, max-age=31536000, immutable');
    if (ifNoneMatch && ifNoneMatch.split(',').some((t) => t.trim() === etag || t.trim() === sha256)) {
      part.stream.destroy();
      response.status(304).end();
      return;
    }
    response.setHeader('Content-Type', 'application/octet-stream');
    response.setHeader('Content-Length', String(part.size));
    response.setHeader(
      'Content-Disposition',
      `attachment; filename="${part.fileName.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
    );
    part.stream.on('error', () => response.destroy());
    part.stream.pipe(response);
  }

  @Delete(':id')
  @Roles('admin', 'operator')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a firmware no job references (409 FIRMWARE_IN_USE otherwise)' })
  @Answers(undefined, { status: 204, description: 'Deleted, with part files no other firmware uses' })
  @Problems('NOT_FOUND', 'FIRMWARE_IN_USE')
  delete(@Param('id') id: string): Promise<void> {
    return this.firmware.delete(id);
  }
}

import crypto from 'node:crypto';
import type fs from 'node:fs';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { findTarget, validateFirmwareSet, type FirmwareSetSummary } from '#esp';
import {
  ApiErrorCode,
  firmwarePartPath,
  isUuid,
  type FirmwareUploadFields,
  type FirmwareDetailView,
  type FirmwareView,
  type ListFirmwareQuery,
  type Page,
  type ProblemDetail,
} from '#contracts';
import { ApiError } from '../common/api-error.js';
import { page } from '../common/page.js';
import { recordId } from '../common/record-id.js';
import type { ApiConfig } from '../config/api-config.js';
import { Prisma, type PrismaClient } from '../db/generated/prisma/client.js';
import type { PartRole } from '../db/generated/prisma/enums.js';
import { API_CONFIG, PRISMA } from '../infra/tokens.js';
import { FirmwareStore } from './firmware-store.js';
import { readUploadForm, refusal, type UploadInput } from './upload-form.js';

/** One uploaded file as multer hands it over. */
export interface UploadedFile {
  fieldname: string;
  originalname: string;
  size: number;
  buffer: Buffer;
}

/** A problem of an upload with its own code (the form's or the image parser's). */
type CodedProblem = ProblemDetail & { code: string };

const FIELD_CHARS = 200;

function stripExtension(name: string): string {
  return name.replace(/\.(tar\.gz|tgz|zip|bin)$/i, '') || name;
}

const hexOffset = (n: number) => `0x${n.toString(16)}`;

/** Checks the text fields (name, version, chip); returns the requested chip, if any. */
function checkFormFields(fields: FirmwareUploadFields): string | undefined {
  const formProblems: CodedProblem[] = [];
  for (const key of ['name', 'version', 'chip'] as const) {
    const v = fields[key];
    if (v !== undefined && (v.trim() === '' || v.length > FIELD_CHARS))
      formProblems.push({
        field: key,
        code: 'INVALID_FIELD',
        message: `${key} must be 1 to ${FIELD_CHARS} characters.`,
      });
  }
  const chip = fields.chip?.trim();
  if (chip && !findTarget(chip))
    formProblems.push({
      field: 'chip',
      code: 'CHIP_UNKNOWN',
      message: `chip "${chip}" is not a supported chip (esp8266, esp32, esp32s2, esp32s3, esp32c2, esp32c3, esp32c6, esp32h2, esp32p4).`,
    });
  if (formProblems.length) throw formError(formProblems[0].message, formProblems);
  return chip;
}

/** Firmware intake (validation, content-addressed storage, dedupe), listing, download and deletion. */
@Injectable()
export class FirmwareService implements OnModuleInit {
  readonly store: FirmwareStore;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {
    this.store = new FirmwareStore(config.firmwareDir);
  }

  /** Clears temporary files an earlier process left behind when it died mid-upload. */
  async onModuleInit(): Promise<void> {
    await this.store.clearStaleIncoming();
  }

  /** Validates and stores an upload; `created` is false when the same firmware already existed. */
  async upload(
    files: UploadedFile[],
    fields: FirmwareUploadFields,
    createdBy: string,
    options: { force?: boolean } = {},
  ): Promise<{ created: boolean; firmware: FirmwareDetailView }> {
    const chip = checkFormFields(fields);
    const total = files.reduce((n, f) => n + f.size, 0);
    if (total > this.config.maxUploadBytes)
      throw new ApiError(
        ApiErrorCode.PAYLOAD_TOO_LARGE,
        `The upload is ${total} bytes; the limit is ${this.config.maxUploadBytes} bytes (FLASHFARM_MAX_UPLOAD_MB).`,
      );

    const input = await readUploadForm(files, fields, { chip, maxUploadBytes: this.config.maxUploadBytes });
    const result = validateFirmwareSet(input.parts, {
      chip: chip ?? input.chip,
      maxTotalBytes: this.config.maxUploadBytes,
      allowUnbootable: options.force === true,
    });
    if (!result.ok) throw refusal(result.problems);
    const summary = result.summary;
    const parts = summary.parts.map((p) => ({
      ...p,
      data: input.parts.find((x) => x.offset === p.offset)!.data,
      role: this.roleOf(p, summary),
    }));
    const setSha = crypto
      .createHash('sha256')
      .update(parts.map((p) => `${hexOffset(p.offset)}:${p.sha256}\n`).join(''))
      .digest('hex');
    const existing = await this.prisma.firmware.findUnique({
      where: { sha256: setSha },
      select: { id: true },
    });
    if (existing) {
      // The bytes are at hand: put back any part file lost from the store since the first upload.
      await this.restoreMissing(parts);
      return { created: false, firmware: await this.get(existing.id) };
    }
    const row = this.firmwareRow({ setSha, fields, input, summary, warnings: result.warnings, createdBy });
    return this.storeNew(setSha, parts, row);
  }

  /** The database row of a new firmware: names from the form, else from the app, else from the file. */
  private firmwareRow(a: {
    setSha: string;
    fields: FirmwareUploadFields;
    input: UploadInput;
    summary: FirmwareSetSummary;
    warnings: Array<{ message: string }>;
    createdBy: string;
  }): Omit<Prisma.FirmwareCreateInput, 'parts'> {
    const { fields, input, summary } = a;
    return {
      sha256: a.setSha,
      name: fields.name?.trim() || summary.app?.projectName || stripExtension(input.sourceName),
      version: fields.version?.trim() || summary.app?.version || null,
      projectName: summary.app?.projectName ?? null,
      idfVersion: summary.app?.idfVersion ?? null,
      chip: summary.chip,
      kind: input.kind,
      flashMode: summary.flash?.mode ?? input.flashSettings?.mode ?? null,
      flashSize: summary.flash?.size ?? input.flashSettings?.size ?? null,
      flashFreq: summary.flash?.freq ?? input.flashSettings?.freq ?? null,
      totalBytes: summary.totalBytes,
      createdBy: a.createdBy,
      metadata: {
        source: input.source,
        app: summary.app ?? null,
        partitions: summary.partitions ?? null,
        flashBytesNeeded: summary.flashBytesNeeded,
        warnings: a.warnings.map((w) => w.message),
        ...(input.flasherArgs ? { flasherArgs: input.flasherArgs } : {}),
      } as Prisma.InputJsonValue,
    };
  }

  /** Stages the part files, inserts the row, then commits the files (or discards them). */
  private async storeNew(
    setSha: string,
    parts: Array<Omit<FirmwareSetSummary['parts'][number], 'role'> & { data: Uint8Array; role: PartRole }>,
    row: Omit<Prisma.FirmwareCreateInput, 'parts'>,
  ): Promise<{ created: boolean; firmware: FirmwareDetailView }> {
    const staged = await this.store.stage(parts);
    let id: string;
    try {
      const created = await this.prisma.firmware.create({
        data: {
          ...row,
          parts: {
            create: parts.map((p) => ({
              offset: p.offset,
              size: p.size,
              sha256: p.sha256,
              md5: p.md5,
              role: p.role,
              fileName: p.name,
            })),
          },
        },
        select: { id: true },
      });
      id = created.id;
    } catch (error) {
      await staged.discard();
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
        // The same firmware was uploaded concurrently: answer with that one.
        const winner = await this.prisma.firmware.findUnique({
          where: { sha256: setSha },
          select: { id: true },
        });
        if (winner) return { created: false, firmware: await this.get(winner.id) };
      }
      throw error;
    }
    await staged.commit();
    // A concurrent delete of another firmware sharing a part may have removed its file after we
    // decided not to stage it; put such bytes back.
    await this.restoreMissing(parts);
    return { created: true, firmware: await this.get(id) };
  }

  private async restoreMissing(parts: ReadonlyArray<{ sha256: string; data: Uint8Array }>): Promise<void> {
    const missing = [];
    for (const p of parts) if (!(await this.store.has(p.sha256))) missing.push(p);
    if (missing.length) await (await this.store.stage(missing)).commit();
  }

  private roleOf(part: FirmwareSetSummary['parts'][number], summary: FirmwareSetSummary): PartRole {
    switch (part.role) {
      case 'bootloader':
        return 'bootloader';
      case 'partition-table':
        return 'partition_table';
      case 'app':
        return 'app';
      case 'data': {
        const entry = summary.partitions?.find((e) => e.offset === part.offset);
        return entry?.typeName === 'data' && entry.subtypeName === 'ota' ? 'ota_data' : 'data';
      }
    }
  }

  /** One firmware with its parts and validation summary. */
  async get(id: string): Promise<FirmwareDetailView> {
    const row = await this.prisma.firmware.findUnique({
      where: { id: recordId('Firmware', id) },
      include: { parts: { orderBy: { offset: 'asc' } } },
    });
    if (!row) throw ApiError.notFound('Firmware', id);
    return {
      ...this.view(row, row.parts.length),
      parts: row.parts.map((p) => ({
        offset: p.offset,
        size: p.size,
        sha256: p.sha256,
        md5: p.md5,
        role: p.role,
        fileName: p.fileName,
        path: firmwarePartPath(row.id, p.sha256),
      })),
      metadata: row.metadata as Record<string, unknown>,
    };
  }

  /** A page of firmware, newest first. */
  async list(query: ListFirmwareQuery): Promise<Page<FirmwareView>> {
    const where: Prisma.FirmwareWhereInput = {
      ...(query.chip ? { chip: findTarget(query.chip)?.name ?? query.chip } : {}),
      ...(query.name ? { name: { contains: query.name, mode: 'insensitive' } } : {}),
      ...(query.kind ? { kind: query.kind } : {}),
    };
    const [rows, total] = await Promise.all([
      this.prisma.firmware.findMany({
        where,
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        skip: query.offset,
        take: query.limit,
        include: { _count: { select: { parts: true } } },
      }),
      this.prisma.firmware.count({ where }),
    ]);
    return page(
      rows.map((r) => this.view(r, r._count.parts)),
      total,
      query,
    );
  }

  private view(row: Prisma.FirmwareGetPayload<object>, partCount: number): FirmwareView {
    return {
      id: row.id,
      sha256: row.sha256,
      name: row.name,
      version: row.version,
      projectName: row.projectName,
      idfVersion: row.idfVersion,
      chip: row.chip,
      kind: row.kind,
      flash: { mode: row.flashMode, size: row.flashSize, freq: row.flashFreq },
      totalBytes: row.totalBytes,
      createdBy: row.createdBy,
      createdAt: row.createdAt.toISOString(),
      partCount,
    };
  }

  /** The bytes of one part of one firmware. */
  async openPart(
    id: string,
    sha256: string,
  ): Promise<{ stream: fs.ReadStream; size: number; fileName: string }> {
    if (!isUuid(id) || !/^[0-9a-f]{64}$/.test(sha256))
      throw ApiError.notFound('Firmware part', `${id}/${sha256}`);
    const part = await this.prisma.firmwarePart.findFirst({
      where: { firmwareId: id, sha256 },
      select: { size: true, fileName: true },
    });
    if (!part) throw ApiError.notFound('Firmware part', `${id}/${sha256}`);
    const stream = this.store.openRead(sha256);
    if (!stream)
      throw new ApiError(
        ApiErrorCode.INTERNAL,
        `The bytes of part ${sha256} are missing from the firmware store.`,
      );
    return { stream, size: part.size, fileName: part.fileName };
  }

  /** Deletes a firmware no job references, and the part files no other firmware uses. */
  async delete(id: string): Promise<void> {
    const row = await this.prisma.firmware.findUnique({
      where: { id: recordId('Firmware', id) },
      select: { id: true, parts: { select: { sha256: true } } },
    });
    if (!row) throw ApiError.notFound('Firmware', id);
    const jobs = await this.prisma.job.groupBy({ by: ['status'], where: { firmwareId: id }, _count: true });
    if (jobs.length) {
      const total = jobs.reduce((n, j) => n + j._count, 0);
      const active = jobs
        .filter((j) => j.status === 'queued' || j.status === 'running')
        .reduce((n, j) => n + j._count, 0);
      throw new ApiError(
        ApiErrorCode.FIRMWARE_IN_USE,
        `Firmware ${id} is referenced by ${total} job${total === 1 ? '' : 's'} (${active} still queued or running); the farm keeps firmware that has flash records.`,
      );
    }
    try {
      await this.prisma.firmware.delete({ where: { id } });
    } catch (error) {
      // A job created between the check and the delete: the foreign key refuses.
      if (
        error instanceof Prisma.PrismaClientKnownRequestError &&
        (error.code === 'P2003' || error.code === 'P2014')
      )
        throw new ApiError(ApiErrorCode.FIRMWARE_IN_USE, `Firmware ${id} is referenced by a job.`);
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2025')
        throw ApiError.notFound('Firmware', id);
      throw error;
    }
    const hashes = [...new Set(row.parts.map((p) => p.sha256))];
    const stillUsed = await this.prisma.firmwarePart.findMany({
      where: { sha256: { in: hashes } },
      select: { sha256: true },
      distinct: ['sha256'],
    });
    const keep = new Set(stillUsed.map((p) => p.sha256));
    for (const sha of hashes) if (!keep.has(sha)) await this.store.remove(sha);
  }
}

/** 400 VALIDATION_FAILED for the form itself; details carry a code per problem. */
function formError(message: string, details: CodedProblem[]): ApiError {
  return ApiError.validation(message, details);
}

import crypto from 'node:crypto';
import type fs from 'node:fs';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import {
  findTarget,
  ImageError,
  parseImage,
  splitMergedImage,
  validateFirmwareSet,
  type FirmwarePart,
  type FirmwareSetSummary,
  type ImageProblem,
  IMAGE_MAGIC,
} from '#esp';
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
import type { FirmwareKind, PartRole } from '../db/generated/prisma/enums.js';
import { API_CONFIG, PRISMA } from '../infra/tokens.js';
import { archiveKind, BundleError, readIdfBundle } from './bundle.js';
import { FirmwareStore } from './firmware-store.js';

/** One uploaded file as multer hands it over. */
export interface UploadedFile {
  fieldname: string;
  originalname: string;
  size: number;
  buffer: Buffer;
}

/** A problem of an upload with its own code (the form's or the image parser's). */
type CodedProblem = ProblemDetail & { code: string };

/** Upper bound on unpacked bundle size, relative to the upload limit: room for ELF and map files. */
const BUNDLE_UNPACKED_FACTOR = 8;
const OFFSET_RE = /^(0x[0-9a-f]{1,8}|\d{1,10})$/i;
const FIELD_CHARS = 200;

function parseOffset(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string' || !OFFSET_RE.test(value.trim())) return undefined;
  const t = value.trim();
  const n = /^0x/i.test(t) ? Number.parseInt(t.slice(2), 16) : Number(t);
  return n <= 0xffffffff ? n : undefined;
}

function stripExtension(name: string): string {
  return name.replace(/\.(tar\.gz|tgz|zip|bin)$/i, '') || name;
}

const hexOffset = (n: number) => `0x${n.toString(16)}`;

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
  ): Promise<{ created: boolean; firmware: FirmwareDetailView }> {
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

    const total = files.reduce((n, f) => n + f.size, 0);
    if (total > this.config.maxUploadBytes)
      throw new ApiError(
        ApiErrorCode.PAYLOAD_TOO_LARGE,
        `The upload is ${total} bytes; the limit is ${this.config.maxUploadBytes} bytes (FLASHFARM_MAX_UPLOAD_MB).`,
      );

    const input = await this.collectParts(files, fields, chip);
    const expectedChip = chip ?? input.chip;
    const result = validateFirmwareSet(input.parts, {
      chip: expectedChip,
      maxTotalBytes: this.config.maxUploadBytes,
    });
    if (!result.ok) throw this.invalid(result.problems);
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

    const staged = await this.store.stage(parts);
    let id: string;
    try {
      const row = await this.prisma.firmware.create({
        data: {
          sha256: setSha,
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
          createdBy,
          metadata: {
            source: input.source,
            app: summary.app ?? null,
            partitions: summary.partitions ?? null,
            flashBytesNeeded: summary.flashBytesNeeded,
            warnings: result.warnings.map((w) => w.message),
            ...(input.flasherArgs ? { flasherArgs: input.flasherArgs } : {}),
          } as Prisma.InputJsonValue,
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
      id = row.id;
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

  private invalid(
    problems: ImageProblem[] | Array<{ code: string; message: string; part?: string }>,
  ): ApiError {
    const details: CodedProblem[] = problems.map((p) => ({
      field: p.part ?? 'firmware',
      code: p.code,
      message: p.message,
    }));
    const more =
      details.length > 1 ? ` (and ${details.length - 1} more problem${details.length > 2 ? 's' : ''})` : '';
    return new ApiError(
      ApiErrorCode.FIRMWARE_INVALID,
      `The firmware was refused: ${details[0].message}${more}`,
      details,
    );
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

  private async collectParts(
    files: UploadedFile[],
    fields: FirmwareUploadFields,
    chip: string | undefined,
  ): Promise<{
    kind: FirmwareKind;
    parts: FirmwarePart[];
    sourceName: string;
    source: Record<string, unknown>;
    chip?: string;
    flashSettings?: { mode?: string; size?: string; freq?: string };
    flasherArgs?: Record<string, unknown>;
  }> {
    const fieldNames = [...new Set(files.map((f) => f.fieldname))];
    const unknown = fieldNames.filter((n) => !['file', 'files', 'files[]', 'bundle'].includes(n));
    if (unknown.length)
      throw formError(
        `Unknown file field ${unknown.map((n) => `"${n}"`).join(', ')}: use "file" (merged image, bundle or one part with "offset"), "files" with "parts", or "bundle".`,
        unknown.map((n) => ({ field: n, code: 'UNKNOWN_FIELD', message: 'not a file field of this form' })),
      );
    if (files.length === 0)
      throw formError(
        'No firmware file in the request: send multipart/form-data with "file" (a merged image or an ESP-IDF bundle), "bundle", or "files" plus a "parts" list.',
        [{ field: 'file', code: 'MISSING_FILE', message: 'required' }],
      );
    const single = files.filter((f) => f.fieldname === 'file' || f.fieldname === 'bundle');
    const many = files.filter((f) => f.fieldname === 'files' || f.fieldname === 'files[]');
    if (single.length && many.length)
      throw formError('Send either "file"/"bundle" or "files" with "parts", not both.', [
        { field: 'files', code: 'CONFLICTING_FIELDS', message: 'conflicts with "file"' },
      ]);
    if (single.length > 1)
      throw formError('Only one "file" (or "bundle") per upload; use "files" with "parts" for several.', [
        { field: 'file', code: 'TOO_MANY_FILES', message: 'one file expected' },
      ]);

    if (single.length === 1) {
      const file = single[0];
      const data = new Uint8Array(file.buffer.buffer, file.buffer.byteOffset, file.buffer.byteLength);
      const source = { form: file.fieldname, files: [{ name: file.originalname, size: file.size }] };
      if (file.fieldname === 'bundle' || archiveKind(data)) {
        if (fields.offset !== undefined || fields.parts !== undefined)
          throw formError('A bundle names its own offsets; drop "offset" and "parts".', [
            {
              field: fields.offset !== undefined ? 'offset' : 'parts',
              code: 'CONFLICTING_FIELDS',
              message: 'not used with a bundle',
            },
          ]);
        try {
          const bundle = await readIdfBundle(data, {
            maxUnpackedBytes: this.config.maxUploadBytes * BUNDLE_UNPACKED_FACTOR,
          });
          if (chip && bundle.args.chip && findTarget(chip)?.name !== bundle.args.chip)
            throw this.invalid([
              {
                code: 'CHIP_MISMATCH',
                message: `flasher_args.json builds for ${bundle.args.chip}, but chip "${chip}" was requested.`,
                part: bundle.argsPath,
              },
            ]);
          return {
            kind: 'idf_bundle',
            parts: bundle.files.map((f) => ({ name: f.path, offset: f.offset, data: f.data })),
            sourceName: file.originalname,
            source,
            chip: bundle.args.chip,
            flashSettings: bundle.args.flashSettings,
            flasherArgs: {
              path: bundle.argsPath,
              chip: bundle.args.chip ?? null,
              flashSettings: bundle.args.flashSettings,
            },
          };
        } catch (error) {
          if (error instanceof BundleError) {
            if (error.status === 413)
              throw new ApiError(
                ApiErrorCode.PAYLOAD_TOO_LARGE,
                error.problems[0].message,
                error.problems.map((p) => ({ field: p.file ?? 'bundle', code: p.code, message: p.message })),
              );
            throw this.invalid(error.problems.map((p) => ({ ...p, part: p.file })));
          }
          throw error;
        }
      }
      if (fields.parts !== undefined)
        throw formError('"parts" goes with "files"; a single "file" takes "offset".', [
          { field: 'parts', code: 'CONFLICTING_FIELDS', message: 'use "files" for a set of parts' },
        ]);
      if (fields.offset !== undefined) {
        const offset = parseOffset(fields.offset);
        if (offset === undefined)
          throw formError(`offset "${fields.offset}" is not a flash offset like 0x10000.`, [
            { field: 'offset', code: 'BAD_OFFSET', message: 'must be a hex (0x10000) or decimal offset' },
          ]);
        return {
          kind: 'parts',
          parts: [{ name: file.originalname, offset, data }],
          sourceName: file.originalname,
          source,
        };
      }
      if (data[0] === IMAGE_MAGIC) {
        let kind: string | undefined;
        try {
          kind = parseImage(data, { verify: false }).kind;
        } catch {
          kind = undefined;
        }
        if (kind === 'app' && !this.looksMerged(data))
          throw formError(
            `${file.originalname} is a single application image: give its flash offset in "offset" (usually 0x10000), or upload a merged image or a bundle.`,
            [
              {
                field: 'offset',
                code: 'OFFSET_REQUIRED',
                message: 'required for a single application image',
              },
            ],
          );
      }
      try {
        const parts = splitMergedImage(data, { chip });
        return { kind: 'merged', parts, sourceName: file.originalname, source };
      } catch (error) {
        if (error instanceof ImageError)
          throw this.invalid(error.problems.map((p) => ({ ...p, part: p.part ?? file.originalname })));
        throw error;
      }
    }

    // A set of parts: "files" plus the "parts" list saying where each goes.
    if (fields.offset !== undefined)
      throw formError('"offset" goes with a single "file"; for "files" give "parts".', [
        { field: 'offset', code: 'CONFLICTING_FIELDS', message: 'use "parts" with "files"' },
      ]);
    if (fields.parts === undefined)
      throw formError(
        'A set of "files" needs "parts": a JSON list like [{"offset":"0x1000","file":"bootloader.bin"},{"offset":"0x8000","file":"partition-table.bin"},{"offset":"0x10000","file":"app.bin"}].',
        [{ field: 'parts', code: 'MISSING_FIELD', message: 'required with "files"' }],
      );
    let manifest: unknown;
    try {
      manifest = JSON.parse(fields.parts);
    } catch {
      manifest = undefined;
    }
    if (!Array.isArray(manifest) || manifest.length === 0)
      throw formError('"parts" must be a non-empty JSON list of {"offset","file"} objects.', [
        { field: 'parts', code: 'BAD_PARTS', message: 'not a JSON list of {offset, file}' },
      ]);
    const problems: CodedProblem[] = [];
    const byName = new Map<string, UploadedFile>();
    for (const f of many) {
      if (byName.has(f.originalname))
        problems.push({
          field: 'files',
          code: 'DUPLICATE_FILE',
          message: `Two uploaded files are named "${f.originalname}".`,
        });
      byName.set(f.originalname, f);
    }
    const used = new Set<string>();
    const parts: FirmwarePart[] = [];
    manifest.forEach((entry: unknown, i) => {
      const e = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
      const offset = parseOffset(e.offset);
      const name = typeof e.file === 'string' ? e.file : undefined;
      if (offset === undefined)
        problems.push({
          field: `parts[${i}].offset`,
          code: 'BAD_OFFSET',
          message: `parts[${i}].offset must be a flash offset like "0x10000".`,
        });
      if (!name) {
        problems.push({
          field: `parts[${i}].file`,
          code: 'MISSING_FIELD',
          message: `parts[${i}].file must name an uploaded file.`,
        });
        return;
      }
      const file = byName.get(name);
      if (!file) {
        problems.push({
          field: `parts[${i}].file`,
          code: 'MISSING_FILE',
          message: `parts[${i}] names "${name}", but no uploaded file has that name.`,
        });
        return;
      }
      if (used.has(name))
        problems.push({
          field: `parts[${i}].file`,
          code: 'DUPLICATE_FILE',
          message: `"${name}" is listed twice in parts.`,
        });
      used.add(name);
      if (offset !== undefined)
        parts.push({
          name,
          offset,
          data: new Uint8Array(file.buffer.buffer, file.buffer.byteOffset, file.buffer.byteLength),
        });
    });
    for (const name of byName.keys())
      if (!used.has(name))
        problems.push({
          field: 'files',
          code: 'UNLISTED_FILE',
          message: `Uploaded file "${name}" is not listed in parts.`,
        });
    if (problems.length) throw formError(problems[0].message, problems);
    return {
      kind: 'parts',
      parts,
      sourceName: many[0].originalname,
      source: { form: 'files', files: many.map((f) => ({ name: f.originalname, size: f.size })) },
    };
  }

  /** A merged image of a chip whose bootloader sits at 0 also starts with an image; it has a partition table too. */
  private looksMerged(data: Uint8Array): boolean {
    return data.length > 0x8000 + 2 && data[0x8000] === 0xaa && data[0x8001] === 0x50;
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

/**
 * Reading a firmware upload form into (offset, bytes) parts, before the parts
 * are validated as a set: which file fields were sent, then one of three
 * shapes — an ESP-IDF bundle, a single file (one part at "offset", or a
 * merged image), or "files" with a "parts" list. Every refusal names the field
 * and the way to send it right.
 */
import {
  findTarget,
  ImageError,
  parseImage,
  splitMergedImage,
  type FirmwarePart,
  type ImageProblem,
  IMAGE_MAGIC,
} from '#esp';
import { ApiErrorCode, type FirmwareUploadFields, type ProblemDetail } from '#contracts';
import { ApiError } from '../common/api-error.js';
import type { FirmwareKind } from '../db/generated/prisma/enums.js';
import { archiveKind, BundleError, readIdfBundle } from './bundle.js';
import type { UploadedFile } from './firmware.service.js';

/** A problem of an upload with its own code (the form's or the image parser's). */
export type CodedProblem = ProblemDetail & { code: string };

/** Upper bound on unpacked bundle size, relative to the upload limit: room for ELF and map files. */
const BUNDLE_UNPACKED_FACTOR = 8;
const OFFSET_RE = /^(0x[0-9a-f]{1,8}|\d{1,10})$/i;
const FILE_FIELDS = ['file', 'files', 'files[]', 'bundle'];

/** The parts of an upload and where they came from. */
export interface UploadInput {
  kind: FirmwareKind;
  parts: FirmwarePart[];
  sourceName: string;
  source: Record<string, unknown>;
  chip?: string;
  flashSettings?: { mode?: string; size?: string; freq?: string };
  flasherArgs?: Record<string, unknown>;
}

/** What reading a form needs besides the form. */
export interface UploadLimits {
  /** The chip the form asks for, already checked to be known. */
  chip: string | undefined;
  maxUploadBytes: number;
}

/** Reads the form's files into parts; throws the api's validation or refusal error otherwise. */
export async function readUploadForm(
  files: UploadedFile[],
  fields: FirmwareUploadFields,
  limits: UploadLimits,
): Promise<UploadInput> {
  checkFileFields(files);
  const single = files.filter((f) => f.fieldname === 'file' || f.fieldname === 'bundle');
  if (single.length === 0) return readPartSet(files, fields);
  const file = single[0];
  const data = bytesOf(file);
  const source = { form: file.fieldname, files: [{ name: file.originalname, size: file.size }] };
  if (file.fieldname === 'bundle' || archiveKind(data)) return readBundle(file, data, source, fields, limits);
  return readSingleFile(file, data, source, fields, limits.chip);
}

/** The 422 answer for a firmware that parsed but is not acceptable, listing every problem. */
export function refusal(
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

/** Known file fields only, at least one file, and one shape: "file"/"bundle" alone or "files". */
function checkFileFields(files: UploadedFile[]): void {
  const fieldNames = [...new Set(files.map((f) => f.fieldname))];
  const unknown = fieldNames.filter((n) => !FILE_FIELDS.includes(n));
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
}

/** An ESP-IDF build bundle: flasher_args.json names the parts and their offsets. */
async function readBundle(
  file: UploadedFile,
  data: Uint8Array,
  source: Record<string, unknown>,
  fields: FirmwareUploadFields,
  limits: UploadLimits,
): Promise<UploadInput> {
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
      maxUnpackedBytes: limits.maxUploadBytes * BUNDLE_UNPACKED_FACTOR,
      maxEntryBytes: limits.maxUploadBytes,
    });
    const { chip } = limits;
    if (chip && bundle.args.chip && findTarget(chip)?.name !== bundle.args.chip)
      throw refusal([
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
    if (!(error instanceof BundleError)) throw error;
    if (error.status === 413)
      throw new ApiError(
        ApiErrorCode.PAYLOAD_TOO_LARGE,
        error.problems[0].message,
        error.problems.map((p) => ({ field: p.file ?? 'bundle', code: p.code, message: p.message })),
      );
    throw refusal(error.problems.map((p) => ({ ...p, part: p.file })));
  }
}

/** One file: a single part at "offset", or a merged flash image split at its partition table. */
function readSingleFile(
  file: UploadedFile,
  data: Uint8Array,
  source: Record<string, unknown>,
  fields: FirmwareUploadFields,
  chip: string | undefined,
): UploadInput {
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
  if (data[0] === IMAGE_MAGIC && imageKind(data) === 'app' && !looksMerged(data))
    throw formError(
      `${file.originalname} is a single application image: give its flash offset in "offset" (usually 0x10000), or upload a merged image or a bundle.`,
      [{ field: 'offset', code: 'OFFSET_REQUIRED', message: 'required for a single application image' }],
    );
  try {
    const parts = splitMergedImage(data, { chip });
    return { kind: 'merged', parts, sourceName: file.originalname, source };
  } catch (error) {
    if (error instanceof ImageError)
      throw refusal(error.problems.map((p) => ({ ...p, part: p.part ?? file.originalname })));
    throw error;
  }
}

/** A set of parts: "files" plus the "parts" list saying where each goes. */
function readPartSet(files: UploadedFile[], fields: FirmwareUploadFields): UploadInput {
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
  for (const f of files) {
    if (byName.has(f.originalname))
      problems.push({
        field: 'files',
        code: 'DUPLICATE_FILE',
        message: `Two uploaded files are named "${f.originalname}".`,
      });
    byName.set(f.originalname, f);
  }
  const parts = matchManifest(manifest, byName, problems);
  if (problems.length) throw formError(problems[0].message, problems);
  return {
    kind: 'parts',
    parts,
    sourceName: files[0].originalname,
    source: { form: 'files', files: files.map((f) => ({ name: f.originalname, size: f.size })) },
  };
}

/** Each manifest entry to its uploaded file; every file listed exactly once. */
function matchManifest(
  manifest: unknown[],
  byName: Map<string, UploadedFile>,
  problems: CodedProblem[],
): FirmwarePart[] {
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
    if (offset !== undefined) parts.push({ name, offset, data: bytesOf(file) });
  });
  for (const name of byName.keys())
    if (!used.has(name))
      problems.push({
        field: 'files',
        code: 'UNLISTED_FILE',
        message: `Uploaded file "${name}" is not listed in parts.`,
      });
  return parts;
}

function bytesOf(file: UploadedFile): Uint8Array {
  return new Uint8Array(file.buffer.buffer, file.buffer.byteOffset, file.buffer.byteLength);
}

function imageKind(data: Uint8Array): string | undefined {
  try {
    return parseImage(data, { verify: false }).kind;
  } catch {
    return undefined;
  }
}

/** A merged image of a chip whose bootloader sits at 0 also starts with an image; it has a partition table too. */
function looksMerged(data: Uint8Array): boolean {
  return data.length > 0x8000 + 2 && data[0x8000] === 0xaa && data[0x8001] === 0x50;
}

function parseOffset(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string' || !OFFSET_RE.test(value.trim())) return undefined;
  const t = value.trim();
  const n = /^0x/i.test(t) ? Number.parseInt(t.slice(2), 16) : Number(t);
  return n <= 0xffffffff ? n : undefined;
}

function formError(message: string, details: CodedProblem[]): ApiError {
  return ApiError.validation(message, details);
}

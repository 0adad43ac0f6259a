import { findTarget } from '../targets/registry.js';
import { flashSizeBytes } from '../targets/flash-tables.js';
import type { ChipName, ChipTarget } from '../targets/types.js';
import type { AppDescriptor } from './app-descriptor.js';
import { md5Hex, sha256Hex } from './digest.js';
import { IMAGE_MAGIC, parseImage, type EspImage } from './parser.js';
import {
  DEFAULT_PARTITION_TABLE_OFFSET,
  isAppPartition,
  looksLikePartitionTable,
  parsePartitionTable,
  PARTITION_ENTRY_BYTES,
  PARTITION_TABLE_MAX_BYTES,
  readPartitionEntries,
  type PartitionEntry,
  type PartitionTable,
} from './partition-table.js';
import { hex, ImageError, type ImageProblem } from './problems.js';
import type { FirmwarePart } from './writer.js';

/** Flash sector: every part must start on one. */
export const SECTOR_BYTES = 0x1000;
/** Default upper bound for the sum of all parts (the largest common flash is 16 MB; allow 32 MiB). */
export const DEFAULT_MAX_TOTAL_BYTES = 32 * 1024 * 1024;
/** Where ESP-IDF's default partition tables start the first app partition (factory or ota_0). */
const DEFAULT_APP_OFFSET = 0x10000;

/** What a part is for. */
export type PartRole = 'bootloader' | 'partition-table' | 'app' | 'data';

/** One validated part. */
export interface PartSummary {
  name: string;
  offset: number;
  size: number;
  role: PartRole;
  sha256: string;
  md5: string;
  /** Label of the partition the part lies in, when a table was given. */
  partition?: string;
  /** For images: the header facts. */
  image?: Pick<
    EspImage,
    'chip' | 'kind' | 'flashMode' | 'flashSize' | 'flashFreq' | 'segmentCount' | 'entry'
  >;
}

/** The structured description of a valid firmware set. */
export interface FirmwareSetSummary {
  chip: ChipName;
  chipDisplayName: string;
  /** Flash settings from the bootloader header. */
  flash?: { mode?: string; size?: string; freq?: string };
  parts: PartSummary[];
  /** The app descriptor of the first app (lowest offset). */
  app?: Pick<
    AppDescriptor,
    'projectName' | 'version' | 'idfVersion' | 'compileDate' | 'compileTime' | 'secureVersion'
  >;
  partitions?: PartitionEntry[];
  /** End of the highest part: the flash the set needs. */
  flashBytesNeeded: number;
  totalBytes: number;
}

/** A non-fatal remark about a firmware set. */
export interface FirmwareWarning {
  message: string;
  part?: string;
  offset?: number;
}

/** Result of validateFirmwareSet: a summary, or every problem found. */
export type FirmwareSetResult =
  | { ok: true; summary: FirmwareSetSummary; warnings: FirmwareWarning[] }
  | { ok: false; problems: ImageProblem[]; warnings: FirmwareWarning[] };

/** Options of validateFirmwareSet. */
export interface ValidateFirmwareSetOptions {
  /** The chip the job or upload asks for; images for another chip are refused. */
  // A plain string: the value comes straight from an upload form or job, and unknown names are reported.
  chip?: string;
  /** The board's flash size in bytes, when known; otherwise the bootloader header's size is used. */
  flashSizeBytes?: number;
  maxTotalBytes?: number;
  /**
   * Store a set that would not boot on purpose (a test of the board's recovery, a deliberately broken
   * image): the problems of UNBOOTABLE_CODES become warnings. Layout, chip and size problems stay.
   */
  allowUnbootable?: boolean;
}

/** Problems that mean "the board would not boot this", which allowUnbootable turns into warnings. */
export const UNBOOTABLE_CODES: ReadonlySet<string> = new Set([
  'BOOTLOADER_INVALID',
  'BAD_PARTITION_TABLE',
  'MISSING_APP',
  'BAD_CHECKSUM',
  'BAD_SHA256',
]);

interface Classified {
  part: FirmwarePart & { name: string };
  role: PartRole;
  image?: EspImage;
  table?: PartitionTable;
}

function sizeText(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(2)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

/** What the checks of one firmware set share: the parts by offset, and what they found so far. */
interface SetCheck {
  named: Array<FirmwarePart & { name: string }>;
  options: ValidateFirmwareSetOptions;
  requested: ChipTarget | undefined;
  problems: ImageProblem[];
  warnings: FirmwareWarning[];
}

type ImagePart = Classified & { image: EspImage };

const at = (p: { name: string; offset: number }) => `${p.name} at ${hex(p.offset)}`;

/**
 * Checks a set of (offset, bytes) parts the way the api must before accepting an upload: alignment,
 * overlaps, one chip across all images (and the requested one), bootloader offset, partition table,
 * an app present, apps fitting their partitions, flash and total size. Returns a summary or every
 * problem found.
 */
export function validateFirmwareSet(
  parts: readonly FirmwarePart[],
  options: ValidateFirmwareSetOptions = {},
): FirmwareSetResult {
  const problems: ImageProblem[] = [];
  const warnings: FirmwareWarning[] = [];
  const requested = options.chip === undefined ? undefined : findTarget(options.chip);
  if (options.chip !== undefined && !requested)
    problems.push({ code: 'CHIP_UNKNOWN', message: `Unknown chip "${options.chip}" requested.` });
  if (parts.length === 0)
    return {
      ok: false,
      problems: [{ code: 'NOT_AN_IMAGE', message: 'The firmware has no parts.' }],
      warnings,
    };
  const named = parts
    .map((p, i) => ({ ...p, name: p.name ?? `part ${i + 1}` }))
    .sort((a, b) => a.offset - b.offset);
  const check: SetCheck = { named, options, requested, problems, warnings };

  checkLayout(check);
  const classified = classifyParts(check);
  const images = classified.filter((c): c is ImagePart => c.image !== undefined);
  const target = checkChips(check, images);
  const bootloader = checkBootloader(check, classified, target);
  const headerFlashBytes = bootloader?.image?.flashSize
    ? flashSizeBytes(bootloader.image.flashSize)
    : undefined;
  const flashBytes = options.flashSizeBytes ?? headerFlashBytes;
  const table = readPartitionTable(check, classified, flashBytes);
  checkApps(check, classified, table);
  checkAppPresent(check, classified, images, target, table);
  checkFlashSize(check, flashBytes);
  // Only when nothing else explains it: a set with no valid image already says so.
  if (!target && problems.length === 0)
    problems.push({
      code: 'CHIP_UNKNOWN',
      message: 'No image in the firmware names its chip and no chip was requested.',
    });

  if (options.allowUnbootable) {
    // Kept as warnings, so the stored record still says what is wrong with it.
    for (const p of problems.filter((x) => UNBOOTABLE_CODES.has(x.code)))
      warnings.push({ message: `${p.code}: ${p.message}`, part: p.part, offset: p.offset });
    problems.splice(0, problems.length, ...problems.filter((x) => !UNBOOTABLE_CODES.has(x.code)));
  }
  if (problems.length || !target) return { ok: false, problems, warnings };
  return { ok: true, warnings, summary: summarize(named, classified, images, target, bootloader, table) };
}

/** Empty parts, sector alignment, overlaps, total size. */
function checkLayout({ named, options, problems }: SetCheck): void {
  for (const p of named) {
    if (p.data.length === 0)
      problems.push({ code: 'EMPTY_PART', message: `${at(p)} is empty.`, part: p.name, offset: p.offset });
    if (p.offset < 0 || p.offset % SECTOR_BYTES !== 0)
      problems.push({
        code: 'UNALIGNED_OFFSET',
        message: `${at(p)} does not start on a 4 KiB flash sector boundary.`,
        part: p.name,
        offset: p.offset,
      });
  }
  for (let i = 1; i < named.length; i++) {
    const prev = named[i - 1];
    const cur = named[i];
    if (cur.offset < prev.offset + prev.data.length)
      problems.push({
        code: 'OVERLAP',
        message: `${prev.name} (${hex(prev.offset)}..${hex(prev.offset + prev.data.length)}) overlaps ${at(cur)}.`,
        part: cur.name,
        offset: cur.offset,
      });
  }
  const total = totalBytes(named);
  const maxTotal = options.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES;
  if (total > maxTotal)
    problems.push({
      code: 'TOO_LARGE',
      message: `The firmware is ${sizeText(total)}; the limit is ${sizeText(maxTotal)}.`,
    });
}

function totalBytes(parts: ReadonlyArray<{ data: Uint8Array }>): number {
  return parts.reduce((n, p) => n + p.data.length, 0);
}

/** Images by their magic, partition tables by theirs, everything else is data. */
function classifyParts({ named, requested, problems, warnings }: SetCheck): Classified[] {
  const classified = named.map((part): Classified => {
    if (part.data[0] === IMAGE_MAGIC) {
      try {
        const image = parseImage(part.data, {
          name: part.name,
          chip: requested?.name === 'esp8266' ? requested : undefined,
        });
        for (const w of image.warnings)
          warnings.push({ message: `${at(part)}: ${w}`, part: part.name, offset: part.offset });
        return { part, role: image.kind === 'bootloader' ? 'bootloader' : 'app', image };
      } catch (err) {
        if (!(err instanceof ImageError)) throw err;
        problems.push(
          ...err.problems.map((p) => ({
            ...p,
            message: `${at(part)}: ${p.message}`,
            part: part.name,
            offset: part.offset,
          })),
        );
        return { part, role: 'app' };
      }
    }
    if (looksLikePartitionTable(part.data)) return { part, role: 'partition-table' };
    return { part, role: 'data' };
  });
  if (!classified.some((c) => c.image) && !problems.some((p) => p.part !== undefined))
    problems.push({
      code: 'NOT_AN_IMAGE',
      message: `No part is an ESP firmware image (magic 0xe9): ${named.map((p) => at(p)).join(', ')}.`,
    });
  return classified;
}

/** One chip for the whole set, and the requested one; returns the chip the set is for. */
function checkChips({ requested, problems }: SetCheck, images: ImagePart[]): ChipTarget | undefined {
  const first = images[0];
  for (const c of images.slice(1)) {
    if (first && c.image.chip !== first.image.chip) {
      const a = findTarget(c.image.chip)!.displayName;
      const b = findTarget(first.image.chip)!.displayName;
      problems.push({
        code: 'MIXED_CHIPS',
        message: `Part ${at(c.part)} is an ${a} image but ${first.part.name} is for ${b}.`,
        part: c.part.name,
        offset: c.part.offset,
      });
    }
  }
  if (requested && first && first.image.chip !== requested.name) {
    const culprit = images.find((c) => c.image.chip !== requested.name)!;
    problems.push({
      code: 'CHIP_MISMATCH',
      message: `The firmware is for ${findTarget(culprit.image.chip)!.displayName} (${at(culprit.part)}), but ${requested.displayName} was requested.`,
      part: culprit.part.name,
      offset: culprit.part.offset,
    });
  }
  return requested ?? (first ? findTarget(first.image.chip) : undefined);
}

/** Bootloaders sit at the chip's bootloader offset, and no app does; returns the bootloader. */
function checkBootloader(
  { problems }: SetCheck,
  classified: Classified[],
  target: ChipTarget | undefined,
): Classified | undefined {
  const bootloaders = classified.filter((c) => c.role === 'bootloader');
  if (target) {
    for (const b of bootloaders)
      if (b.part.offset !== target.bootloaderOffset)
        problems.push({
          code: 'BOOTLOADER_OFFSET',
          message: `${b.part.name} is a bootloader at ${hex(b.part.offset)}, but ${target.displayName} boots from ${hex(target.bootloaderOffset)}.`,
          part: b.part.name,
          offset: b.part.offset,
        });
    const atBootOffset = classified.find((c) => c.part.offset === target.bootloaderOffset);
    // Not an image where the ROM loads the bootloader from: the board would not start at all.
    if (
      atBootOffset &&
      atBootOffset.role !== 'bootloader' &&
      !atBootOffset.image &&
      atBootOffset.part.data[0] !== IMAGE_MAGIC
    )
      problems.push({
        code: 'BOOTLOADER_INVALID',
        message: `${at(atBootOffset.part)} is where ${target.displayName} loads its bootloader from, but it is not an image: it starts with ${hex(atBootOffset.part.data[0] ?? 0, 2)}, not the magic byte 0xe9. Upload the bootloader.bin of the build (or leave that offset out to keep the board's bootloader).`,
        part: atBootOffset.part.name,
        offset: atBootOffset.part.offset,
      });
    if (atBootOffset?.image?.kind === 'app')
      problems.push({
        code: 'BOOTLOADER_OFFSET',
        message: `${at(atBootOffset.part)} is an application, but ${target.displayName} expects its bootloader there.`,
        part: atBootOffset.part.name,
        offset: atBootOffset.part.offset,
      });
  }
  return bootloaders.find((b) => target && b.part.offset === target.bootloaderOffset) ?? bootloaders[0];
}

/** Parses the one partition table (a second one is a problem). */
function readPartitionTable(
  { problems }: SetCheck,
  classified: Classified[],
  flashBytes: number | undefined,
): PartitionTable | undefined {
  let table: PartitionTable | undefined;
  for (const c of classified.filter((x) => x.role === 'partition-table')) {
    if (table) {
      problems.push({
        code: 'BAD_PARTITION_TABLE',
        message: `${at(c.part)} is a second partition table.`,
        part: c.part.name,
        offset: c.part.offset,
      });
      continue;
    }
    try {
      table = parsePartitionTable(c.part.data, {
        name: c.part.name,
        tableOffset: c.part.offset,
        flashSizeBytes: flashBytes,
      });
      c.table = table;
    } catch (err) {
      if (!(err instanceof ImageError)) throw err;
      problems.push(...err.problems.map((p) => ({ ...p, part: c.part.name, offset: c.part.offset })));
    }
  }
  const notTable = classified.find(
    (c) => c.part.offset === DEFAULT_PARTITION_TABLE_OFFSET && c.role === 'data',
  );
  if (!table && notTable)
    problems.push({
      code: 'BAD_PARTITION_TABLE',
      message: `${at(notTable.part)} is where the bootloader reads the partition table, but it holds no table (no entry starts with the magic bytes 0xaa 0x50): the bootloader would find nothing to boot. Upload partition-table.bin of the build there.`,
      part: notTable.part.name,
      offset: notTable.part.offset,
    });
  const tablePart = classified.find((c) => c.table === table);
  if (table && tablePart && !table.entries.some(isAppPartition))
    problems.push({
      code: 'BAD_PARTITION_TABLE',
      message: `${at(tablePart.part)} lists no app partition (factory, ota_N or test): the bootloader would find nothing to boot.`,
      part: tablePart.part.name,
      offset: tablePart.part.offset,
    });
  return table;
}

/** Each app starts an app partition and fits in it. */
function checkApps(
  { problems }: SetCheck,
  classified: Classified[],
  table: PartitionTable | undefined,
): void {
  if (!table) return;
  for (const c of classified) {
    if (c.role !== 'app' || !c.image) continue;
    const slot = table.entries.find((e) => e.offset === c.part.offset && isAppPartition(e));
    if (!slot) {
      problems.push({
        code: 'APP_NOT_IN_PARTITION',
        message: `${at(c.part)} is an application, but the partition table has no app partition starting there.`,
        part: c.part.name,
        offset: c.part.offset,
      });
    } else if (c.part.data.length > slot.size) {
      problems.push({
        code: 'APP_TOO_BIG_FOR_PARTITION',
        message: `${at(c.part)} is ${sizeText(c.part.data.length)}, but partition "${slot.label}" holds ${sizeText(slot.size)}.`,
        part: c.part.name,
        offset: c.part.offset,
      });
    }
  }
}

/**
 * A bootloader and a partition table alone leave the board with nothing to boot: such an upload is
 * nearly always a build's bootloader sent without the app beside it. A part that failed to parse
 * counts as the app (its own problem is reported). ESP8266 without a partition table is exempt when
 * a raw part lies beside the image: a NONOS SDK build puts the application's IRAM code in the v1
 * image at 0x0, which reads like a bootloader, and its flash-mapped code in a raw file.
 */
function checkAppPresent(
  { named, problems }: SetCheck,
  classified: Classified[],
  images: ImagePart[],
  target: ChipTarget | undefined,
  table: PartitionTable | undefined,
): void {
  if (images.length === 0 || classified.some((c) => c.role === 'app')) return;
  // The NONOS layout has the raw flash-mapped code beside the image; an image alone is a bootloader.
  if (target?.name === 'esp8266' && !table && classified.some((c) => c.role === 'data')) return;
  const slot = table?.entries.find(isAppPartition);
  const where = slot
    ? `${hex(slot.offset)} (partition "${slot.label}")`
    : `${hex(DEFAULT_APP_OFFSET)} (the default app partition)`;
  problems.push({
    code: 'MISSING_APP',
    message: `The firmware has no application image, only ${named.map((p) => at(p)).join(', ')}: a board flashed with it has nothing to boot. Add the app binary from the same build (build/<project>.bin) at ${where}, or upload the whole build (flasher_args.json) or a merged image.`,
  });
}

/** Every part ends inside the flash (the board's, or the size the bootloader header declares). */
function checkFlashSize({ named, options, problems }: SetCheck, flashBytes: number | undefined): void {
  if (flashBytes === undefined) return;
  for (const p of named)
    if (p.offset + p.data.length > flashBytes)
      problems.push({
        code: 'EXCEEDS_FLASH_SIZE',
        message: `${at(p)} ends at ${hex(p.offset + p.data.length)}, beyond the ${sizeText(flashBytes)} flash${options.flashSizeBytes === undefined ? ' the bootloader header declares' : ''}.`,
        part: p.name,
        offset: p.offset,
      });
}

/** The summary of a valid set. */
function summarize(
  named: Array<{ offset: number; data: Uint8Array }>,
  classified: Classified[],
  images: ImagePart[],
  target: ChipTarget,
  bootloader: Classified | undefined,
  table: PartitionTable | undefined,
): FirmwareSetSummary {
  const partitionOf = (offset: number) =>
    table?.entries.find((e) => offset >= e.offset && offset < e.offset + e.size);
  const desc = images.find((c) => c.image.kind === 'app' && c.image.appDescriptor)?.image.appDescriptor;
  return {
    chip: target.name,
    chipDisplayName: target.displayName,
    flash: bootloader?.image
      ? {
          mode: bootloader.image.flashMode,
          size: bootloader.image.flashSize,
          freq: bootloader.image.flashFreq,
        }
      : undefined,
    parts: classified.map((c) => ({
      name: c.part.name,
      offset: c.part.offset,
      size: c.part.data.length,
      role: c.role,
      sha256: sha256Hex(c.part.data),
      md5: md5Hex(c.part.data),
      partition: c.role === 'partition-table' ? undefined : partitionOf(c.part.offset)?.label,
      image: c.image && {
        chip: c.image.chip,
        kind: c.image.kind,
        flashMode: c.image.flashMode,
        flashSize: c.image.flashSize,
        flashFreq: c.image.flashFreq,
        segmentCount: c.image.segmentCount,
        entry: c.image.entry,
      },
    })),
    app: desc && {
      projectName: desc.projectName,
      version: desc.version,
      idfVersion: desc.idfVersion,
      compileDate: desc.compileDate,
      compileTime: desc.compileTime,
      secureVersion: desc.secureVersion,
    },
    partitions: table?.entries,
    flashBytesNeeded: Math.max(...named.map((p) => p.offset + p.data.length)),
    totalBytes: totalBytes(named),
  };
}

/** Options of splitMergedImage. */
export interface SplitMergedOptions {
  // A plain string: the value comes straight from an upload form or job, and unknown names are reported.
  chip?: string;
  /** Where the build put its partition table (CONFIG_PARTITION_TABLE_OFFSET); found by scanning otherwise. */
  partitionTableOffset?: number;
}

function trimErased(data: Uint8Array): Uint8Array {
  let end = data.length;
  while (end > 0 && data[end - 1] === 0xff) end--;
  return data.subarray(0, Math.ceil(end / 4) * 4);
}

/**
 * Splits one merged flash image (as `esptool merge-bin` writes) into parts: the bootloader at the
 * chip's bootloader offset, the partition table, and the non-empty partitions it lists. The parts
 * then go through validateFirmwareSet like any upload.
 */
export function splitMergedImage(data: Uint8Array, options: SplitMergedOptions = {}): FirmwarePart[] {
  const requested = options.chip === undefined ? undefined : findTarget(options.chip);
  const candidates = requested ? [requested.bootloaderOffset] : [0x0, 0x1000, 0x2000];
  let boot: { offset: number; image: EspImage } | undefined;
  for (const offset of candidates) {
    if (data[offset] !== IMAGE_MAGIC) continue;
    try {
      const image = parseImage(data.subarray(offset), {
        verify: false,
        chip: requested?.name === 'esp8266' ? requested : undefined,
      });
      if (findTarget(image.chip)!.bootloaderOffset === offset || requested) {
        boot = { offset, image };
        break;
      }
    } catch {
      // Not an image at this offset; try the next candidate.
    }
  }
  if (!boot)
    throw new ImageError(
      'NOT_AN_IMAGE',
      `No bootloader image found at ${candidates.map((o) => hex(o)).join(', ')} of the merged file; is it a merged flash image?`,
    );
  const parts: FirmwarePart[] = [
    {
      name: 'bootloader.bin',
      offset: boot.offset,
      data: data.subarray(boot.offset, boot.offset + boot.image.length),
    },
  ];

  let tableOffset = options.partitionTableOffset;
  if (tableOffset === undefined) {
    const start = Math.ceil((boot.offset + boot.image.length) / SECTOR_BYTES) * SECTOR_BYTES;
    const preferred = looksLikePartitionTable(data.subarray(DEFAULT_PARTITION_TABLE_OFFSET))
      ? DEFAULT_PARTITION_TABLE_OFFSET
      : undefined;
    tableOffset = preferred;
    for (
      let o = start;
      tableOffset === undefined && o + PARTITION_ENTRY_BYTES <= data.length && o < 0x100000;
      o += SECTOR_BYTES
    )
      if (looksLikePartitionTable(data.subarray(o))) tableOffset = o;
  }
  if (tableOffset === undefined || !looksLikePartitionTable(data.subarray(tableOffset)))
    throw new ImageError(
      'BAD_PARTITION_TABLE',
      `The merged file has no partition table${tableOffset === undefined ? '' : ` at ${hex(tableOffset)}`}; cannot tell where the app starts.`,
    );
  const tableBytes = data.subarray(tableOffset, tableOffset + PARTITION_TABLE_MAX_BYTES);
  const { entries, length } = readPartitionEntries(tableBytes);
  parts.push({
    name: 'partition-table.bin',
    offset: tableOffset,
    data: tableBytes.subarray(0, Math.max(length, PARTITION_ENTRY_BYTES)),
  });

  for (const e of entries) {
    if (e.offset >= data.length || e.offset === tableOffset || e.offset === boot.offset) continue;
    const slice = data.subarray(e.offset, Math.min(e.offset + e.size, data.length));
    let bytes = trimErased(slice);
    if (bytes.length === 0) continue;
    if (isAppPartition(e) && slice[0] === IMAGE_MAGIC) {
      try {
        bytes = slice.subarray(0, parseImage(slice, { verify: false }).length);
      } catch {
        // Keep the trimmed bytes; validateFirmwareSet will say what is wrong with them.
      }
    }
    parts.push({ name: `${e.label}.bin`, offset: e.offset, data: bytes });
  }
  return parts;
}

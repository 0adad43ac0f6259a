/** Region checks and planning that need no board: padding, overlap, chunk diff planning. */
import { EspError } from '../errors.js';
import { loadedChecksum, loadImage } from '../image/loaded-image.js';
import { flashSizeName } from '../targets/flash-tables.js';
import { chipFromImageId } from '../targets/registry.js';
import type { ChipTarget } from '../targets/types.js';
import type { ChipInfo } from './detect.js';
import { FLASH_SECTOR_BYTES } from './session.js';

/** One (offset, bytes) pair to write. */
export interface FlashRegion {
  offset: number;
  data: Uint8Array;
  /** Shown in logs ("bootloader.bin"). */
  name?: string;
}

/** Pads to a multiple of 4 with 0xFF (§7.5); the pad bytes are written and hashed. */
export function padTo4(data: Uint8Array): Uint8Array {
  if (data.length % 4 === 0) return data;
  const out = new Uint8Array(data.length + (4 - (data.length % 4))).fill(0xff);
  out.set(data);
  return out;
}

/** Checks offsets and overlaps, and returns the regions sorted by offset. */
export function validateRegions(regions: readonly FlashRegion[]): FlashRegion[] {
  const sorted = [...regions].sort((a, b) => a.offset - b.offset);
  for (const r of sorted) {
    if (!Number.isInteger(r.offset) || r.offset < 0 || r.offset % 4 !== 0) {
      throw new EspError(
        `Region ${r.name ?? ''} offset 0x${r.offset.toString(16)} must be a non-negative multiple of 4.`,
        {
          code: 'INVALID_ARGUMENT',
          stage: 'image',
        },
      );
    }
    if (r.data.length === 0) {
      throw new EspError(`Region ${r.name ?? ''} at 0x${r.offset.toString(16)} is empty.`, {
        code: 'INVALID_ARGUMENT',
        stage: 'image',
      });
    }
  }
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (prev.offset + prev.data.length > cur.offset) {
      throw new EspError(
        `Regions overlap: ${prev.name ?? 'region'} at 0x${prev.offset.toString(16)} (+0x${prev.data.length.toString(16)}) runs into ${cur.name ?? 'region'} at 0x${cur.offset.toString(16)}.`,
        { code: 'INVALID_ARGUMENT', stage: 'image' },
      );
    }
  }
  return sorted;
}

/** Chip id and minimum revision from an ESP32-family image header, when the bytes are one. */
export function imageHeaderFacts(data: Uint8Array): { chipId: number; minRevFull: number } | undefined {
  if (data.length < 24 || data[0] !== 0xe9) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { chipId: view.getUint16(12, true), minRevFull: view.getUint16(15, true) };
}

/**
 * The chip an ESP32-family image in `data` is built for, when the bytes are
 * one: E9 magic, a known chip id in the extended header, and segments that
 * load and checksum as an ESP32-family image (so ESP8266 images, whose bytes
 * 12 and 23 are segment data, are not mistaken for one).
 */
export function esp32FamilyImageChip(data: Uint8Array): ChipTarget | undefined {
  const facts = imageHeaderFacts(data);
  if (!facts || data[23] > 1) return undefined;
  const target = chipFromImageId(facts.chipId);
  if (!target) return undefined;
  try {
    const image = loadImage(data, { esp8266: false });
    return loadedChecksum(image) === image.checksum ? target : undefined;
  } catch {
    return undefined;
  }
}

/** Options of checkRegionsAgainstChip. */
export interface RegionCheckOptions {
  /** Skip the chip and revision checks (esptool's --force); the flash size still applies. */
  force?: boolean;
}

/**
 * Refuses regions that cannot work on this board before any flash is touched:
 * an image for another chip (named, not numbered), a newer revision, or data
 * past the end of flash (`flashSizeBytes`: the detected size, or a smaller
 * --flash-size).
 */
export function checkRegionsAgainstChip(
  regions: readonly FlashRegion[],
  target: ChipTarget,
  info: ChipInfo,
  flashSizeBytes: number | undefined,
  options: RegionCheckOptions = {},
): void {
  for (const r of regions) {
    const name = r.name ? `'${r.name}'` : 'The image';
    const built = options.force ? undefined : esp32FamilyImageChip(r.data);
    if (built && built.name !== target.name) {
      throw new EspError(
        `${name} at 0x${r.offset.toString(16)} is an ${built.displayName} image, but this board is an ${target.displayName}. Build it for ${target.displayName} (${target.name}), flash another board, or pass --force to write it anyway.`,
        {
          code: 'CHIP_MISMATCH',
          stage: 'image',
          detail: { imageChip: built.name, boardChip: target.name },
        },
      );
    }
    const facts = built ? imageHeaderFacts(r.data) : undefined;
    if (facts && facts.minRevFull > info.revision.full && facts.minRevFull !== 0xffff) {
      const need = `v${Math.floor(facts.minRevFull / 100)}.${facts.minRevFull % 100}`;
      throw new EspError(
        `${name} at 0x${r.offset.toString(16)} needs ${target.displayName} revision ${need} or newer; this board is v${info.revision.major}.${info.revision.minor}. Build it for the older revision, or pass --force to write it anyway.`,
        {
          code: 'CHIP_MISMATCH',
          stage: 'image',
          detail: { minRevFull: facts.minRevFull, chipRevFull: info.revision.full },
        },
      );
    }
    if (flashSizeBytes !== undefined && r.offset + r.data.length > flashSizeBytes) {
      throw new EspError(
        `${name} (length ${r.data.length}) at offset 0x${r.offset.toString(16).padStart(8, '0')} will not fit in ${flashSizeBytes} bytes (${flashSizeName(flashSizeBytes)}) of flash. Change the flash size argument or the flashing address.`,
        {
          code: 'IMAGE_TOO_BIG',
          stage: 'image',
          detail: { end: r.offset + r.data.length, flashSizeBytes },
        },
      );
    }
  }
}

/** Hash granules for the chunked diff: coarse first, then sectors inside the coarse ones that differ. */
export const DIFF_GRANULES = [0x10000, FLASH_SECTOR_BYTES] as const;

/** Splits [start, end) of a region into granule-sized pieces aligned to the region start. */
export function splitRange(start: number, end: number, granule: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = start; s < end; s += granule) out.push([s, Math.min(end, s + granule)]);
  return out;
}

/** Merges touching ranges. */
export function mergeRanges(ranges: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [s, e] of [...ranges].sort((a, b) => a[0] - b[0])) {
    const last = out[out.length - 1];
    if (last && last[1] >= s) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** Region checks and planning that need no board: padding, overlap, chunk diff planning. */
import { EspError } from '../errors.js';
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
 * Refuses regions that cannot work on this board before any flash is touched:
 * an image for another chip, a newer revision, or data past the end of flash.
 */
export function checkRegionsAgainstChip(
  regions: readonly FlashRegion[],
  target: ChipTarget,
  info: ChipInfo,
  flashSizeBytes: number | undefined,
): void {
  for (const r of regions) {
    // Only images at an image-bearing position are checked: the bootloader and anything with an E9 header.
    const facts = target.name === 'esp8266' ? undefined : imageHeaderFacts(r.data);
    if (facts && target.imageChipId !== undefined && facts.chipId !== target.imageChipId) {
      throw new EspError(
        `${r.name ?? 'The image'} at 0x${r.offset.toString(16)} is built for chip id ${facts.chipId}, but this board is an ${target.displayName} (chip id ${target.imageChipId}). Build for ${target.name} or pick another board.`,
        {
          code: 'CHIP_MISMATCH',
          stage: 'image',
          detail: { imageChipId: facts.chipId, boardChip: target.name },
        },
      );
    }
    if (facts && facts.minRevFull > info.revision.full && facts.minRevFull !== 0xffff) {
      const need = `v${Math.floor(facts.minRevFull / 100)}.${facts.minRevFull % 100}`;
      throw new EspError(
        `${r.name ?? 'The image'} at 0x${r.offset.toString(16)} needs chip revision ${need} or newer; this ${target.displayName} is v${info.revision.major}.${info.revision.minor}.`,
        {
          code: 'CHIP_MISMATCH',
          stage: 'image',
          detail: { minRevFull: facts.minRevFull, chipRevFull: info.revision.full },
        },
      );
    }
    if (flashSizeBytes !== undefined && r.offset + r.data.length > flashSizeBytes) {
      throw new EspError(
        `${r.name ?? 'The image'} at 0x${r.offset.toString(16)} ends at 0x${(r.offset + r.data.length).toString(16)}, past the end of this board's ${flashSizeBytes / 1048576} MiB flash.`,
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

/**
 * `merge-bin`: several (offset, bytes) parts into one file that flashes them
 * all from `targetOffset` — gaps filled with 0xFF, the bootloader's flash
 * settings patched as esptool patches them, optionally padded to a flash
 * size (raw), or as Intel HEX records without the gaps. Pure.
 */
import type { ChipTarget } from '../targets/types.js';
import { flashSizeBytes } from '../targets/flash-tables.js';
import { type FlashSettings, updateImageFlashParams } from './flash-params.js';
import { encodeIntelHex } from './intel-hex.js';
import { hex, ImageError } from './problems.js';

/** One input of merge-bin. */
export interface MergePart {
  offset: number;
  data: Uint8Array;
  /** File name, for messages. */
  name?: string;
}

/** Options of mergeBin. */
export interface MergeBinOptions {
  target: ChipTarget;
  parts: readonly MergePart[];
  /** 'keep' (default) or a value, per field. */
  flash?: FlashSettings;
  /** Where the output will be flashed (raw only; default 0). */
  targetOffset?: number;
  /** Pad the raw output with 0xFF up to this flash size ("4MB"). */
  padToSize?: string;
  format?: 'raw' | 'hex';
}

/** Output of mergeBin. */
export interface MergeBinResult {
  data: Uint8Array;
  /** What esptool prints while merging (flash parameter notes, warnings prefixed "Warning: "). */
  messages: string[];
}

/** Sector-level overlap check esptool applies to offset/file pairs: two parts may not share a 4 KiB sector. */
export function checkPartsOverlap(parts: readonly MergePart[]): void {
  let end = 0;
  for (const part of [...parts].sort((a, b) => a.offset - b.offset)) {
    const sectorStart = part.offset - (part.offset % 0x1000);
    const sectorEnd = Math.ceil((part.offset + part.data.length) / 0x1000) * 0x1000 - 1;
    if (sectorStart < end)
      throw new ImageError(
        'OVERLAP',
        `Detected overlap at address: ${hex(part.offset)} for file: ${part.name ?? 'input'}. Parts may not share a 4 KiB flash sector; move one of them.`,
        { detail: { offset: part.offset } },
      );
    end = sectorEnd;
  }
}

/** Merges parts; throws ImageError for overlaps or a part before `targetOffset`. */
export function mergeBin(options: MergeBinOptions): MergeBinResult {
  const targetOffset = options.targetOffset ?? 0;
  const parts = [...options.parts].sort((a, b) => a.offset - b.offset);
  if (parts.length === 0) throw new ImageError('EMPTY_PART', 'No input data.');
  checkPartsOverlap(parts);
  if (parts[0].offset < targetOffset)
    throw new ImageError(
      'UNALIGNED_OFFSET',
      `Output data target offset is ${hex(targetOffset)}. Input data offset ${hex(parts[0].offset)} is before this.`,
    );
  const messages: string[] = [];
  const patched = parts.map((p) => {
    const update = updateImageFlashParams(options.target, p.offset, options.flash ?? {}, p.data);
    if (update.warning) messages.push(`Warning: ${update.warning}`);
    messages.push(...update.notes);
    return { ...p, data: update.data };
  });
  if (options.format === 'hex') {
    return {
      data: new TextEncoder().encode(
        encodeIntelHex(patched.map((p) => ({ address: p.offset, data: p.data }))),
      ),
      messages,
    };
  }
  const last = patched[patched.length - 1];
  let size = last.offset + last.data.length - targetOffset;
  if (options.padToSize !== undefined) {
    const padBytes = flashSizeBytes(options.padToSize);
    if (padBytes === undefined)
      throw new ImageError(
        'EXCEEDS_FLASH_SIZE',
        `"${options.padToSize}" is not a flash size (use 4MB, 512KB, …).`,
      );
    size = Math.max(size, padBytes - targetOffset);
  }
  const out = new Uint8Array(size).fill(0xff);
  for (const p of patched) out.set(p.data, p.offset - targetOffset);
  return { data: out, messages };
}

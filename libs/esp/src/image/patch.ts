import { findTarget } from '../targets/registry.js';
import { FLASH_MODES, type FlashModeName } from '../targets/flash-tables.js';
import type { ChipName, ChipTarget } from '../targets/types.js';
import { sha256 } from './digest.js';
import { parseImage } from './parser.js';
import { ImageError } from './problems.js';

/** Header overrides; 'keep' (or omitted) leaves the image's value. */
export interface FlashParamsPatch {
  mode?: FlashModeName | 'keep';
  /** A size name from the chip's table, e.g. "4MB" ("detect" must be resolved by the caller first). */
  size?: string;
  /** A frequency name from the chip's table, e.g. "40m". */
  freq?: string;
}

/** Result of patchBootloaderHeader. */
export interface PatchResult {
  data: Uint8Array;
  /** False when every field was 'keep' or already had the requested value. */
  changed: boolean;
  /** True when the appended SHA-256 was recomputed. */
  sha256Updated: boolean;
}

/**
 * Sets flash mode/size/frequency in a bootloader image's header, as esptool does when writing at
 * the bootloader offset, and recomputes the appended SHA-256 when the image carries one. Bytes after
 * the digest (e.g. the rest of a merged binary) are preserved. Refuses data that is not a valid bootloader.
 */
export function patchBootloaderHeader(
  data: Uint8Array,
  chip: ChipName | ChipTarget,
  patch: FlashParamsPatch,
): PatchResult {
  const target = typeof chip === 'string' ? findTarget(chip) : chip;
  if (!target)
    throw new ImageError(
      'CHIP_UNKNOWN',
      `Cannot patch a bootloader header for unknown chip "${typeof chip === 'string' ? chip : chip.name}".`,
    );
  const keep = (v: string | undefined) => v === undefined || v === 'keep';
  if (keep(patch.mode) && keep(patch.size) && keep(patch.freq))
    return { data, changed: false, sha256Updated: false };

  let image;
  try {
    image = parseImage(data, { chip: target, name: 'bootloader' });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ImageError(
      'NOT_AN_IMAGE',
      `Refusing to change flash settings: the data at the bootloader offset is not a valid bootloader image (${reason})`,
      {
        cause: err,
      },
    );
  }
  if (image.kind === 'app')
    throw new ImageError(
      'NOT_AN_IMAGE',
      `Refusing to change flash settings: the image at the bootloader offset is an application, not a bootloader.`,
    );

  let modeCode = image.flashModeCode;
  let sizeCode = image.flashSizeCode;
  let freqCode = image.flashFreqCode;
  if (!keep(patch.mode)) {
    const code = FLASH_MODES[patch.mode] as number | undefined;
    if (code === undefined)
      throw new ImageError(
        'BAD_EXTENDED_HEADER',
        `Unknown flash mode "${patch.mode}"; use qio, qout, dio or dout.`,
      );
    modeCode = code;
  }
  if (!keep(patch.size)) {
    const code = target.flashSizes[patch.size];
    if (code === undefined)
      throw new ImageError(
        'BAD_EXTENDED_HEADER',
        `Flash size "${patch.size}" is not valid for ${target.displayName}; use one of ${Object.keys(target.flashSizes).join(', ')}.`,
      );
    sizeCode = code;
  }
  if (!keep(patch.freq)) {
    const code = target.flashFrequencies[patch.freq];
    if (code === undefined)
      throw new ImageError(
        'BAD_EXTENDED_HEADER',
        `Flash frequency "${patch.freq}" is not valid for ${target.displayName}; use one of ${Object.keys(target.flashFrequencies).join(', ')}.`,
      );
    freqCode = code;
  }
  const byte3 = (sizeCode << 4) | freqCode;
  if (modeCode === data[2] && byte3 === data[3]) return { data, changed: false, sha256Updated: false };

  const out = data.slice();
  out[2] = modeCode;
  out[3] = byte3;
  let sha256Updated = false;
  if (image.sha256) {
    // The digest covers everything up to and including the checksum byte, header included.
    out.set(sha256(out.subarray(0, image.sha256.offset)), image.sha256.offset);
    sha256Updated = true;
  }
  return { data: out, changed: true, sha256Updated };
}

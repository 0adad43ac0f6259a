/**
 * Flash mode, frequency and size in a bootloader header, as esptool sets them
 * when it writes, verifies or merges: only for data at the chip's bootloader
 * offset, only when that data loads as an image of the chip's format, the
 * SHA-256 recomputed when one is appended (the header bytes are outside the
 * checksum, so the checksum never changes), and every byte after the digest
 * kept (merged binaries). Names are checked first against the values esptool
 * accepts at all, then against the chip's own table.
 */
import { EspError } from '../errors.js';
import { FLASH_MODES } from '../targets/flash-tables.js';
import type { ChipTarget } from '../targets/types.js';
import { sha256 } from './digest.js';
import { loadImage } from './loaded-image.js';
import { IMAGE_MAGIC } from './parser.js';
import { hex } from './problems.js';

/** `--flash-mode` values esptool accepts (besides keep). */
export const FLASH_MODE_CHOICES = ['qio', 'qout', 'dio', 'dout'] as const;
/** `--flash-freq` values esptool accepts (besides keep); each chip supports a subset. */
export const FLASH_FREQ_CHOICES = [
  '80m',
  '60m',
  '48m',
  '40m',
  '30m',
  '26m',
  '24m',
  '20m',
  '16m',
  '15m',
  '12m',
] as const;
/** `--flash-size` values esptool accepts (besides keep and detect); each chip supports a subset. */
export const FLASH_SIZE_CHOICES = [
  '256KB',
  '512KB',
  '1MB',
  '2MB',
  '2MB-c1',
  '4MB',
  '4MB-c1',
  '8MB',
  '16MB',
  '32MB',
  '64MB',
  '128MB',
] as const;

/** Requested header settings: a value, 'keep' (or undefined) to leave it, 'detect' for the size. */
export interface FlashSettings {
  mode?: string;
  freq?: string;
  size?: string;
}

/** Which of keep/detect an option allows. */
export interface FlashSettingRules {
  allowKeep: boolean;
  allowDetect?: boolean;
}

function invalid(option: string, value: string, choices: readonly string[]): EspError {
  return new EspError(
    `Invalid value for '${option}': '${value}' is not one of ${choices.map((c) => `'${c}'`).join(', ')}.`,
    { code: 'INVALID_ARGUMENT', detail: { option, value } },
  );
}

/** Refuses setting names esptool's option parser refuses (before any chip is known). */
export function checkFlashSettingNames(settings: FlashSettings, rules: FlashSettingRules): void {
  const keep = rules.allowKeep ? ['keep'] : [];
  const check = (option: string, value: string | undefined, choices: readonly string[]) => {
    if (value !== undefined && !choices.includes(value)) throw invalid(option, value, choices);
  };
  check('--flash-mode', settings.mode, [...keep, ...FLASH_MODE_CHOICES]);
  check('--flash-freq', settings.freq, [...keep, ...FLASH_FREQ_CHOICES]);
  check('--flash-size', settings.size, [
    ...(rules.allowDetect ? ['detect'] : []),
    ...keep,
    ...FLASH_SIZE_CHOICES,
  ]);
}

const isKeep = (v: string | undefined): boolean => v === undefined || v === 'keep';

/** The header code of a flash size on a chip (high nibble of byte 3); refuses a size the chip has not. */
export function flashSizeCode(target: ChipTarget, size: string): number {
  const code = target.flashSizes[size];
  if (code === undefined)
    throw new EspError(
      `Flash size '${size}' is not supported by ${target.displayName}. Supported sizes: ${Object.keys(target.flashSizes).join(', ')}.`,
      { code: 'INVALID_ARGUMENT', detail: { size, chip: target.name } },
    );
  return code;
}

/** The header code of a flash frequency on a chip (low nibble of byte 3); refuses one the chip has not. */
export function flashFreqCode(target: ChipTarget, freq: string): number {
  const code = target.flashFrequencies[freq];
  if (code === undefined)
    throw new EspError(
      `Flash frequency '${freq}' is not supported by ${target.displayName}. Supported frequencies: ${Object.keys(target.flashFrequencies).join(', ')}.`,
      { code: 'INVALID_ARGUMENT', detail: { freq, chip: target.name } },
    );
  return code;
}

/** Refuses settings the chip does not support ('keep' and 'detect' pass). */
export function checkFlashSettingsForChip(target: ChipTarget, settings: FlashSettings): void {
  if (!isKeep(settings.freq)) flashFreqCode(target, settings.freq!);
  if (!isKeep(settings.size) && settings.size !== 'detect') flashSizeCode(target, settings.size!);
}

/** Outcome of updateImageFlashParams. */
export interface FlashParamsUpdate {
  data: Uint8Array;
  changed: boolean;
  sha256Updated: boolean;
  /** What esptool would print: "Flash parameters set to 0x0220.", or why nothing was changed. */
  notes: string[];
  /** Set when the data at the bootloader offset was left alone because it is not an image. */
  warning?: string;
}

/**
 * Applies mode/frequency/size to `image` when it is written at the chip's
 * bootloader offset. `settings.size` must already be resolved from 'detect'
 * by the caller (it needs the board). Throws INVALID_ARGUMENT for a value
 * the chip does not support.
 */
export function updateImageFlashParams(
  target: ChipTarget,
  address: number,
  settings: FlashSettings,
  image: Uint8Array,
): FlashParamsUpdate {
  const unchanged = (extra: Partial<FlashParamsUpdate> = {}): FlashParamsUpdate => ({
    data: image,
    changed: false,
    sha256Updated: false,
    notes: [],
    ...extra,
  });
  if (image.length < 8 || address !== target.bootloaderOffset) return unchanged();
  if (isKeep(settings.mode) && isKeep(settings.freq) && isKeep(settings.size)) return unchanged();
  if (image[0] !== IMAGE_MAGIC)
    return unchanged({
      warning: `Image file at ${hex(address)} doesn't look like an image file, so not changing any flash settings.`,
    });
  const esp8266 = target.name === 'esp8266';
  let loaded;
  try {
    loaded = loadImage(image, { esp8266 });
  } catch {
    return unchanged({
      warning: `Image file at ${hex(address)} is not a valid ${target.displayName} image, so not changing any flash settings.`,
    });
  }
  let mode = image[2];
  let freq = image[3] & 0x0f;
  let size = image[3] >> 4;
  if (!isKeep(settings.mode)) {
    const code = (FLASH_MODES as Record<string, number>)[settings.mode!];
    if (code === undefined) throw invalid('--flash-mode', settings.mode!, ['keep', ...FLASH_MODE_CHOICES]);
    mode = code;
  }
  if (!isKeep(settings.freq)) freq = flashFreqCode(target, settings.freq!);
  if (!isKeep(settings.size)) size = flashSizeCode(target, settings.size!);
  const byte3 = ((size << 4) | freq) & 0xff;
  const notes: string[] = [];
  let data = image;
  let changed = false;
  if (mode !== image[2] || byte3 !== image[3]) {
    data = image.slice();
    data[2] = mode;
    data[3] = byte3;
    changed = true;
    notes.push(`Flash parameters set to ${hex((mode << 8) | byte3, 4)}.`);
  }
  let sha256Updated = false;
  if (!esp8266 && image[23] === 1 && loaded.extended?.appendDigest) {
    // The digest covers the header too; everything after it (a merged binary's rest) is kept.
    const withDigest = new Uint8Array(Math.max(data.length, loaded.dataLength + 32));
    withDigest.set(data);
    withDigest.set(sha256(data.subarray(0, loaded.dataLength)), loaded.dataLength);
    data = withDigest;
    sha256Updated = true;
    notes.push('SHA digest in image updated.');
  }
  return { data, changed, sha256Updated, notes };
}

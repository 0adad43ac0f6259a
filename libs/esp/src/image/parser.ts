import { chipFromImageId, findTarget, retiredChipName } from '../targets/registry.js';
import {
  flashFreqFromCode,
  flashModeFromCode,
  flashSizeFromCode,
  type FlashModeName,
} from '../targets/flash-tables.js';
import type { ChipName, ChipTarget, MemoryRegion } from '../targets/types.js';
import {
  hasAppDescriptor,
  parseAppDescriptor,
  parseBootloaderDescriptor,
  type AppDescriptor,
  type BootloaderDescriptor,
} from './app-descriptor.js';
import { sha256, toHex, xorChecksum } from './digest.js';
import { hex, ImageError } from './problems.js';

/** First byte of every ESP image. */
export const IMAGE_MAGIC = 0xe9;
/** First byte of an ESP8266 "v2" (OTA) image, which we recognise but do not parse. */
export const IMAGE_MAGIC_ESP8266_V2 = 0xea;
/** The ROM refuses images with more segments than this. */
export const MAX_SEGMENTS = 16;
/** esptool's sanity bound on one segment. */
export const MAX_SEGMENT_BYTES = 16 * 1024 * 1024;
/** Bytes in the common header. */
export const IMAGE_HEADER_BYTES = 8;
/** Bytes in the ESP32-family extended header that follows it. */
export const EXTENDED_HEADER_BYTES = 16;
/** Bytes of the appended SHA-256 when hash_appended = 1. */
export const IMAGE_DIGEST_BYTES = 32;
/** Value of the WP pin byte meaning "not used". */
export const WP_PIN_DISABLED = 0xee;

/** The ESP32-family extended header (file bytes 8..23). */
export interface ExtendedHeader {
  wpPin: number;
  /** Raw drive-strength bytes 9..11. */
  spiPinDrive: [number, number, number];
  chipId: number;
  /** Legacy min revision (major only). */
  minRev: number;
  minRevFull: number;
  maxRevFull: number;
  hashAppended: boolean;
}

/** One segment of an image. */
export interface ImageSegment {
  index: number;
  loadAddress: number;
  length: number;
  /** File offset of the segment's data (after its 8-byte header). */
  dataOffset: number;
  /** Memory region of the load address on the image's chip, when known. */
  region?: MemoryRegion['name'];
}

/** What an image is for, guessed from its load addresses and descriptor. */
export type ImageKind = 'bootloader' | 'app' | 'unknown';

/** A parsed ESP image. Offsets are relative to the start of `data` given to parseImage. */
export interface EspImage {
  format: 'esp8266-v1' | 'esp32';
  /** The chip the header names (ESP8266 for v1 images). */
  chip: ChipName;
  segmentCount: number;
  flashModeCode: number;
  flashMode?: FlashModeName;
  flashSizeCode: number;
  flashSize?: string;
  flashFreqCode: number;
  flashFreq?: string;
  entry: number;
  extended?: ExtendedHeader;
  segments: ImageSegment[];
  checksum: { offset: number; stored: number; computed: number; valid: boolean };
  /** Present when hash_appended = 1. */
  sha256?: { offset: number; stored: string; computed: string; valid: boolean };
  /** Bytes covered by header, segments, checksum and digest. */
  length: number;
  /** Bytes after `length` (padding, signatures, the rest of a merged file). */
  trailingBytes: number;
  kind: ImageKind;
  appDescriptor?: AppDescriptor;
  /** ESP-IDF 5.2+ bootloaders describe themselves at the start of their first DRAM segment. */
  bootloaderDescriptor?: BootloaderDescriptor;
  /** Non-fatal oddities (unknown flash mode, segment outside the memory map, ...). */
  warnings: string[];
}

/** Options of parseImage. */
export interface ParseImageOptions {
  /** Expected chip: an image for another chip is refused with CHIP_MISMATCH. Also decides the ESP8266 format. */
  chip?: ChipName | ChipTarget;
  /** Check the checksum and the SHA-256 (default true). With false, mismatches are only reported in the result. */
  verify?: boolean;
  /** Name used in messages, e.g. "app.bin". */
  name?: string;
}

function regionOf(target: ChipTarget, address: number): MemoryRegion['name'] | undefined {
  return target.memoryMap.find((r) => address >= r.start && address < r.end)?.name;
}

function looksLikeEsp8266V1(view: DataView, length: number): boolean {
  if (length < IMAGE_HEADER_BYTES + 8) return false;
  const first = view.getUint32(8, true);
  const esp8266 = findTarget('esp8266')!;
  const region = regionOf(esp8266, first);
  return region === 'IRAM' || region === 'DRAM';
}

/**
 * Parses an ESP firmware image (bootloader or app; ESP8266 v1 or ESP32 family) and verifies its
 * checksum and appended SHA-256. Throws ImageError naming what is wrong and where.
 */
export function parseImage(data: Uint8Array, options: ParseImageOptions = {}): EspImage {
  const name = options.name ?? 'image';
  const verify = options.verify ?? true;
  const expected = typeof options.chip === 'string' ? findTarget(options.chip) : options.chip;
  if (data.length === 0) throw new ImageError('NOT_AN_IMAGE', `${name} is empty.`);
  if (data[0] === IMAGE_MAGIC_ESP8266_V2)
    throw new ImageError(
      'UNSUPPORTED_FORMAT',
      `${name} is an ESP8266 v2 (OTA) image (magic 0xEA); convert it to a v1 image or an ESP-IDF style build.`,
    );
  if (data[0] !== IMAGE_MAGIC)
    throw new ImageError(
      'NOT_AN_IMAGE',
      `${name} is not an ESP firmware image: it starts with ${hex(data[0], 2)}, not the image magic 0xe9.`,
    );
  if (data.length < IMAGE_HEADER_BYTES)
    throw new ImageError(
      'TRUNCATED',
      `${name} is ${data.length} bytes, shorter than the 8-byte image header.`,
    );

  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const segmentCount = data[1];
  if (segmentCount > MAX_SEGMENTS)
    throw new ImageError(
      'TOO_MANY_SEGMENTS',
      `${name} declares ${segmentCount} segments; the ROM loads at most ${MAX_SEGMENTS}.`,
    );
  if (segmentCount === 0) throw new ImageError('BAD_SEGMENT', `${name} declares no segments.`);

  const warnings: string[] = [];
  let target: ChipTarget;
  let extended: ExtendedHeader | undefined;
  const v1Shape = looksLikeEsp8266V1(view, data.length);
  const esp8266 = expected?.name === 'esp8266' || (!expected && v1Shape);
  const plausibleExtended =
    data.length >= IMAGE_HEADER_BYTES + EXTENDED_HEADER_BYTES &&
    data[23] <= 1 &&
    chipFromImageId(view.getUint16(12, true)) !== undefined;
  if (expected && !esp8266 && v1Shape && !plausibleExtended)
    throw new ImageError(
      'CHIP_MISMATCH',
      `${name} is an ESP8266 image (no extended header), but the target chip is ${expected.displayName}.`,
      { detail: { imageChip: 'esp8266', expectedChip: expected.name } },
    );
  if (esp8266) {
    target = findTarget('esp8266')!;
  } else {
    if (data.length < IMAGE_HEADER_BYTES + EXTENDED_HEADER_BYTES)
      throw new ImageError(
        'TRUNCATED',
        `${name} is ${data.length} bytes, shorter than the 24-byte ESP32 image header.`,
      );
    const hashByte = data[23];
    if (hashByte > 1)
      throw new ImageError(
        'BAD_EXTENDED_HEADER',
        `${name} has hash_appended = ${hashByte} in its extended header (byte 23); only 0 or 1 is valid.`,
      );
    const chipId = view.getUint16(12, true);
    const found = chipFromImageId(chipId);
    if (!found) {
      const retired = retiredChipName(chipId);
      throw new ImageError(
        'UNKNOWN_CHIP',
        retired
          ? `${name} is built for ${retired} (chip id ${chipId}), pre-release silicon no longer supported.`
          : `${name} names chip id ${chipId} in its extended header, which is not a known ESP32-family chip.`,
        { detail: { chipId } },
      );
    }
    target = found;
    extended = {
      wpPin: data[8],
      spiPinDrive: [data[9], data[10], data[11]],
      chipId,
      minRev: data[14],
      minRevFull: view.getUint16(15, true),
      maxRevFull: view.getUint16(17, true),
      hashAppended: hashByte === 1,
    };
  }
  if (expected && expected.name !== target.name)
    throw new ImageError(
      'CHIP_MISMATCH',
      `${name} is an ${target.displayName} image, but the target chip is ${expected.displayName}.`,
      {
        detail: { imageChip: target.name, expectedChip: expected.name },
      },
    );

  const modeCode = data[2];
  const flashMode = flashModeFromCode(modeCode);
  if (!flashMode) warnings.push(`flash mode byte ${hex(modeCode, 2)} is not qio/qout/dio/dout`);
  const sizeCode = data[3] >> 4;
  const freqCode = data[3] & 0x0f;
  const flashSize = flashSizeFromCode(target, sizeCode);
  if (!flashSize) warnings.push(`flash size code ${sizeCode} is not valid for ${target.displayName}`);
  const flashFreq = flashFreqFromCode(target, freqCode);
  if (!flashFreq) warnings.push(`flash frequency code ${freqCode} is not valid for ${target.displayName}`);

  const segments: ImageSegment[] = [];
  let pos = extended ? IMAGE_HEADER_BYTES + EXTENDED_HEADER_BYTES : IMAGE_HEADER_BYTES;
  let checksum = 0xef;
  for (let index = 0; index < segmentCount; index++) {
    if (pos + 8 > data.length)
      throw new ImageError(
        'TRUNCATED',
        `${name} ends inside the header of segment ${index} (offset ${hex(pos)}, file is ${data.length} bytes).`,
      );
    const loadAddress = view.getUint32(pos, true);
    const length = view.getUint32(pos + 4, true);
    const where = `segment ${index} (load ${hex(loadAddress, 8)}, ${length} bytes at offset ${hex(pos)})`;
    if (length >= MAX_SEGMENT_BYTES)
      throw new ImageError('BAD_SEGMENT', `${name} ${where} is larger than 16 MB.`);
    if (length % 4 !== 0)
      throw new ImageError('BAD_SEGMENT', `${name} ${where} has a length that is not a multiple of 4.`);
    if (pos + 8 + length > data.length)
      throw new ImageError(
        'TRUNCATED',
        `${name} ${where} runs past the end of the file (${data.length} bytes).`,
      );
    const region = regionOf(target, loadAddress);
    if (!region)
      warnings.push(
        `segment ${index} loads at ${hex(loadAddress, 8)}, outside the ${target.displayName} memory map`,
      );
    segments.push({ index, loadAddress, length, dataOffset: pos + 8, region });
    checksum = xorChecksum(data.subarray(pos + 8, pos + 8 + length), checksum);
    pos += 8 + length;
  }

  // Zero padding so that the checksum byte is the last byte of a 16-byte line.
  const checksumOffset = pos + ((15 - (pos % 16)) % 16);
  if (checksumOffset >= data.length)
    throw new ImageError(
      'TRUNCATED',
      `${name} ends before its checksum byte (expected at offset ${hex(checksumOffset)}, file is ${data.length} bytes).`,
    );
  const stored = data[checksumOffset];
  const checksumInfo = { offset: checksumOffset, stored, computed: checksum, valid: stored === checksum };
  if (verify && !checksumInfo.valid)
    throw new ImageError(
      'BAD_CHECKSUM',
      `${name} has a bad checksum: stored ${hex(stored, 2)} at offset ${hex(checksumOffset)}, computed ${hex(checksum, 2)} from the segment data. The file is corrupt or was modified after the build.`,
    );
  let length = checksumOffset + 1;

  let digest: EspImage['sha256'];
  if (extended?.hashAppended) {
    if (length + IMAGE_DIGEST_BYTES > data.length)
      throw new ImageError(
        'TRUNCATED',
        `${name} ends before its appended SHA-256 (needs ${IMAGE_DIGEST_BYTES} bytes at offset ${hex(length)}).`,
      );
    const storedHex = toHex(data.subarray(length, length + IMAGE_DIGEST_BYTES));
    const computedHex = toHex(sha256(data.subarray(0, length)));
    digest = { offset: length, stored: storedHex, computed: computedHex, valid: storedHex === computedHex };
    if (verify && !digest.valid)
      throw new ImageError(
        'BAD_SHA256',
        `${name} has a bad appended SHA-256 (offset ${hex(length)}): stored ${storedHex.slice(0, 16)}…, computed ${computedHex.slice(0, 16)}…. The checksum matched, so the header was probably edited without rehashing.`,
      );
    length += IMAGE_DIGEST_BYTES;
  }

  const descSegment = target.name === 'esp8266' ? segments[0] : segments.find((s) => s.region === 'DROM');
  const appDescriptor =
    descSegment &&
    hasAppDescriptor(data.subarray(descSegment.dataOffset, descSegment.dataOffset + descSegment.length))
      ? parseAppDescriptor(data.subarray(descSegment.dataOffset))
      : undefined;
  const flashMapped = segments.some((s) => s.region === 'IROM' || s.region === 'DROM');
  const kind: ImageKind =
    appDescriptor || flashMapped
      ? 'app'
      : segments.every((s) => s.region && s.region !== 'PADDING')
        ? 'bootloader'
        : 'unknown';

  const firstDram = kind === 'bootloader' ? segments.find((s) => s.region === 'DRAM') : undefined;
  const bootloaderDescriptor = firstDram
    ? parseBootloaderDescriptor(data.subarray(firstDram.dataOffset, firstDram.dataOffset + firstDram.length))
    : undefined;

  return {
    format: extended ? 'esp32' : 'esp8266-v1',
    chip: target.name,
    segmentCount,
    flashModeCode: modeCode,
    flashMode,
    flashSizeCode: sizeCode,
    flashSize,
    flashFreqCode: freqCode,
    flashFreq,
    entry: view.getUint32(4, true),
    extended,
    segments,
    checksum: checksumInfo,
    sha256: digest,
    length,
    trailingBytes: data.length - length,
    kind,
    appDescriptor,
    bootloaderDescriptor,
    warnings,
  };
}

/** Refuses an image for another chip or a board revision outside the image's min/max range. */
export function checkImageForChip(
  image: EspImage,
  chip: ChipTarget | ChipName,
  options: { revisionFull?: number; name?: string } = {},
): void {
  const target = typeof chip === 'string' ? findTarget(chip) : chip;
  const name = options.name ?? 'image';
  if (!target || target.name !== image.chip) {
    const imageTarget = findTarget(image.chip)!;
    const board = target?.displayName ?? (typeof chip === 'string' ? chip : chip.name);
    throw new ImageError(
      'CHIP_MISMATCH',
      `${name} is an ${imageTarget.displayName} image, but the board is ${board}.`,
      {
        detail: { imageChip: image.chip, boardChip: target?.name ?? board },
      },
    );
  }
  const rev = options.revisionFull;
  const ext = image.extended;
  if (rev === undefined || !ext) return;
  const fmt = (full: number) => `v${Math.floor(full / 100)}.${full % 100}`;
  if (rev < ext.minRevFull)
    throw new ImageError(
      'REVISION_MISMATCH',
      `${name} needs ${target.displayName} revision ${fmt(ext.minRevFull)} or newer; the board is ${fmt(rev)}.`,
    );
  // 0xFFFF (and 0 in old headers) mean "no upper bound".
  if (ext.maxRevFull !== 0xffff && ext.maxRevFull !== 0 && rev > ext.maxRevFull)
    throw new ImageError(
      'REVISION_MISMATCH',
      `${name} supports ${target.displayName} up to revision ${fmt(ext.maxRevFull)}; the board is ${fmt(rev)}.`,
    );
}

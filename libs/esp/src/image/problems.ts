import type { FlashErrorCode } from '#contracts';
import { EspError } from '../errors.js';

/** Stable codes for what is wrong with an image, a partition table or a firmware set. */
export const ImageProblemCode = {
  /** Not an Espressif image at all (wrong magic, empty). */
  NOT_AN_IMAGE: 'NOT_AN_IMAGE',
  /** A format we recognise but do not handle (ESP8266 v2/OTA images). */
  UNSUPPORTED_FORMAT: 'UNSUPPORTED_FORMAT',
  /** The data ends before the header, a segment, the checksum or the digest. */
  TRUNCATED: 'TRUNCATED',
  TOO_MANY_SEGMENTS: 'TOO_MANY_SEGMENTS',
  /** A segment length that is not a multiple of 4 or is absurdly large. */
  BAD_SEGMENT: 'BAD_SEGMENT',
  BAD_EXTENDED_HEADER: 'BAD_EXTENDED_HEADER',
  /** The extended header names a chip id we do not know (or a retired pre-release chip). */
  UNKNOWN_CHIP: 'UNKNOWN_CHIP',
  BAD_CHECKSUM: 'BAD_CHECKSUM',
  BAD_SHA256: 'BAD_SHA256',
  /** The image is for a different chip than the one requested or detected. */
  CHIP_MISMATCH: 'CHIP_MISMATCH',
  /** The board's revision is outside the image's min/max revision. */
  REVISION_MISMATCH: 'REVISION_MISMATCH',
  /** Parts of one firmware set are built for different chips. */
  MIXED_CHIPS: 'MIXED_CHIPS',
  OVERLAP: 'OVERLAP',
  UNALIGNED_OFFSET: 'UNALIGNED_OFFSET',
  EMPTY_PART: 'EMPTY_PART',
  /** The bootloader is missing or not at the chip's bootloader offset. */
  BOOTLOADER_OFFSET: 'BOOTLOADER_OFFSET',
  /** The part where the ROM loads the bootloader from is not an image (wrong magic byte). */
  BOOTLOADER_INVALID: 'BOOTLOADER_INVALID',
  BAD_PARTITION_TABLE: 'BAD_PARTITION_TABLE',
  /** The set holds no application image (e.g. only a bootloader and a partition table). */
  MISSING_APP: 'MISSING_APP',
  /** An app image sits where the partition table has no app partition. */
  APP_NOT_IN_PARTITION: 'APP_NOT_IN_PARTITION',
  APP_TOO_BIG_FOR_PARTITION: 'APP_TOO_BIG_FOR_PARTITION',
  /** A part ends beyond the flash size (requested or from the bootloader header). */
  EXCEEDS_FLASH_SIZE: 'EXCEEDS_FLASH_SIZE',
  /** The whole set is larger than the configured upload limit. */
  TOO_LARGE: 'TOO_LARGE',
  /** No chip could be determined (no ESP32-family image header in the set and none requested). */
  CHIP_UNKNOWN: 'CHIP_UNKNOWN',
  BAD_FLASHER_ARGS: 'BAD_FLASHER_ARGS',
  /** A path in flasher_args.json that could escape the build directory. */
  UNSAFE_PATH: 'UNSAFE_PATH',
  /** Intel HEX text with a malformed record. */
  BAD_INTEL_HEX: 'BAD_INTEL_HEX',
  /** An ELF file elf2image cannot read (not ELF32 little-endian Xtensa/RISC-V, truncated). */
  BAD_ELF: 'BAD_ELF',
  /** An ELF whose sections cannot make a loadable image (overlapping flash mappings, too many segments). */
  BAD_LAYOUT: 'BAD_LAYOUT',
} as const;
/** One of ImageProblemCode. */
export type ImageProblemCode = (typeof ImageProblemCode)[keyof typeof ImageProblemCode];

/** One thing wrong (or worth a warning) in uploaded firmware, worded for a person. */
export interface ImageProblem {
  code: ImageProblemCode;
  message: string;
  /** Name of the part it concerns, when there is one. */
  part?: string;
  /** Flash offset of that part. */
  offset?: number;
}

/** The flash failure class a problem maps to. */
export function problemErrorCode(code: ImageProblemCode): FlashErrorCode {
  if (code === 'CHIP_MISMATCH' || code === 'MIXED_CHIPS' || code === 'REVISION_MISMATCH')
    return 'CHIP_MISMATCH';
  if (code === 'APP_TOO_BIG_FOR_PARTITION' || code === 'EXCEEDS_FLASH_SIZE' || code === 'TOO_LARGE')
    return 'IMAGE_TOO_BIG';
  return 'BAD_IMAGE';
}

/** An image, partition table or firmware set was rejected; `problems` lists every reason found. */
export class ImageError extends EspError {
  readonly problem: ImageProblemCode;
  readonly problems: ImageProblem[];

  constructor(
    problem: ImageProblemCode,
    message: string,
    options: { problems?: ImageProblem[]; detail?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, {
      code: problemErrorCode(problem),
      stage: 'image',
      detail: { problem, ...options.detail },
      cause: options.cause,
    });
    this.problem = problem;
    this.problems = options.problems ?? [{ code: problem, message }];
  }
}

/** "0x1000": offsets and addresses in messages. */
export function hex(value: number, width = 0): string {
  return `0x${(value >>> 0).toString(16).padStart(width, '0')}`;
}

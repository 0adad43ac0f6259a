import { EspError } from '../errors.js';

/** Stable codes for what is wrong with an NVS recipe, CSV or partition. */
export const NvsProblemCode = {
  /** A recipe value, key, namespace or type that NVS cannot store. */
  INVALID_RECIPE: 'INVALID_RECIPE',
  /** The NVS CSV is malformed (header, row, encoding, value). */
  INVALID_CSV: 'INVALID_CSV',
  /** The partition size is not a multiple of 4096 or below the minimum. */
  BAD_PARTITION_SIZE: 'BAD_PARTITION_SIZE',
  /** The recipe does not fit the partition (one page stays reserved). */
  PARTITION_FULL: 'PARTITION_FULL',
  /** A page header whose CRC does not match. */
  BAD_PAGE_CRC: 'BAD_PAGE_CRC',
  /** A page state word NVS does not use, or an erased page holding data. */
  BAD_PAGE_STATE: 'BAD_PAGE_STATE',
  /** A page format version this reader does not know. */
  UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION',
  /** An entry state of 0b01 in the bitmap, or data in an entry marked empty. */
  BAD_ENTRY_STATE: 'BAD_ENTRY_STATE',
  /** An entry whose header CRC does not match. */
  BAD_ENTRY_CRC: 'BAD_ENTRY_CRC',
  /** An entry header that fails ESP-IDF's consistency rules (type, span, size, chunk index, key). */
  BAD_ENTRY: 'BAD_ENTRY',
  /** A string, blob or blob chunk whose data CRC does not match. */
  BAD_DATA_CRC: 'BAD_DATA_CRC',
  /** A string without its NUL or with invalid UTF-8. */
  BAD_STRING: 'BAD_STRING',
  /** An entry in a namespace index no namespace entry defines, or a namespace defined twice. */
  BAD_NAMESPACE: 'BAD_NAMESPACE',
  /** A blob index whose chunks are missing or do not add up, or a chunk without an index. */
  BAD_BLOB: 'BAD_BLOB',
} as const;
/** One of NvsProblemCode. */
export type NvsProblemCode = (typeof NvsProblemCode)[keyof typeof NvsProblemCode];

/** Where in a partition, recipe or CSV a problem was found. */
export interface NvsProblemLocation {
  /** Page index in the partition (0-based). */
  page?: number;
  /** Entry index within the page (0-based). */
  entry?: number;
  /** Byte offset in the partition. */
  offset?: number;
  namespace?: string;
  key?: string;
  /** 1-based line of the CSV. */
  line?: number;
}

/**
 * An NVS recipe, CSV or partition was refused. The flash class is BAD_IMAGE
 * (retrying cannot help); `problem` says what exactly, `location` where.
 */
export class NvsError extends EspError {
  readonly problem: NvsProblemCode;
  readonly location: NvsProblemLocation;

  constructor(problem: NvsProblemCode, message: string, location: NvsProblemLocation = {}) {
    super(message, { code: 'BAD_IMAGE', stage: 'image', detail: { problem, ...location } });
    this.problem = problem;
    this.location = location;
  }
}

/** Pure readers for the ESP image format (§7) and the ESP-IDF partition table and app descriptor. */
import { CHECKSUM_SEED, checksum } from './protocol.js';

/** First byte of every ESP image. */
export const IMAGE_MAGIC = 0xe9;
/** esp_app_desc_t magic word. */
export const APP_DESC_MAGIC = 0xabcd5432;
const PARTITION_MAGIC = 0x50aa;
const MAX_SEGMENTS = 16;
const MAX_SEGMENT_BYTES = 16 * 1024 * 1024;

/** One segment of an image. */
export interface ImageSegment {
  loadAddress: number;
  /** File offset of the segment's data. */
  dataOffset: number;
  length: number;
}

/** A parsed image header and segment table. */
export interface ImageInfo {
  flashMode: number;
  sizeFreq: number;
  entry: number;
  /** Chip id from the extended header; null for ESP8266 images. */
  chipId: number | null;
  segments: ImageSegment[];
  /** True when the XOR checksum byte matches. */
  checksumOk: boolean;
  /** The checksum byte stored in the image. */
  checksum: number;
  /** Length up to and including the checksum byte (without an appended digest). */
  length: number;
}

/** Why an image could not be parsed, in the words the ROM and bootloader use. */
export interface ImageError {
  error: 'invalid-header' | 'bad-segment' | 'truncated';
  firstWord: number;
}

/** Reads bytes at an offset relative to the image start. */
export type ImageReader = (offset: number, length: number) => Uint8Array | null;

/** Parses an image through a reader; `extendedHeader` is false only for the ESP8266. */
export function parseImage(read: ImageReader, extendedHeader: boolean): ImageInfo | ImageError {
  const head = read(0, 24);
  if (!head) return { error: 'truncated', firstWord: 0xffffffff };
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const firstWord = view.getUint32(0, true);
  const count = head[1];
  if (head[0] !== IMAGE_MAGIC || count === 0 || count > MAX_SEGMENTS)
    return { error: 'invalid-header', firstWord };
  let pos = extendedHeader ? 24 : 8;
  const segments: ImageSegment[] = [];
  let sum = 0xef;
  for (let i = 0; i < count; i++) {
    const sh = read(pos, 8);
    if (!sh) return { error: 'truncated', firstWord };
    const sv = new DataView(sh.buffer, sh.byteOffset, 8);
    const loadAddress = sv.getUint32(0, true);
    const length = sv.getUint32(4, true);
    if (length > MAX_SEGMENT_BYTES) return { error: 'bad-segment', firstWord };
    const data = read(pos + 8, length);
    if (!data) return { error: 'truncated', firstWord };
    // The same XOR as the loaders' data checksum, folded a word at a time (apps are hundreds of KiB).
    sum ^= checksum(data) ^ CHECKSUM_SEED;
    segments.push({ loadAddress, dataOffset: pos + 8, length });
    pos += 8 + length;
  }
  // Padding up to 15 mod 16, then the checksum byte.
  const checksumAt = pos + (15 - (pos % 16));
  const tail = read(checksumAt, 1);
  if (!tail) return { error: 'truncated', firstWord };
  return {
    flashMode: head[2],
    sizeFreq: head[3],
    entry: view.getUint32(4, true),
    chipId: extendedHeader ? view.getUint16(12, true) : null,
    segments,
    checksumOk: tail[0] === sum,
    checksum: tail[0],
    length: checksumAt + 1,
  };
}

/** True when parseImage failed. */
export function isImageError(x: ImageInfo | ImageError): x is ImageError {
  return 'error' in x;
}

/** The fields of esp_app_desc_t a boot log shows. */
export interface AppDescriptor {
  version: string;
  projectName: string;
  time: string;
  date: string;
  idfVersion: string;
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return Buffer.from(end === -1 ? bytes : bytes.subarray(0, end)).toString('latin1');
}

/** Reads esp_app_desc_t from the start of an app's first segment; null when its magic is absent. */
export function parseAppDescriptor(segmentData: Uint8Array): AppDescriptor | null {
  if (segmentData.length < 144) return null;
  const magic = new DataView(segmentData.buffer, segmentData.byteOffset, 4).getUint32(0, true);
  if (magic !== APP_DESC_MAGIC) return null;
  return {
    version: cString(segmentData.subarray(16, 48)),
    projectName: cString(segmentData.subarray(48, 80)),
    time: cString(segmentData.subarray(80, 96)),
    date: cString(segmentData.subarray(96, 112)),
    idfVersion: cString(segmentData.subarray(112, 144)),
  };
}

/** One partition table entry. */
export interface Partition {
  label: string;
  type: number;
  subtype: number;
  offset: number;
  size: number;
}

/** Parses an ESP-IDF partition table (32-byte entries, magic AA 50); null when the first entry is invalid. */
export function parsePartitionTable(table: Uint8Array): { partitions: Partition[] } | { badMagic: number } {
  const partitions: Partition[] = [];
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  for (let pos = 0; pos + 32 <= table.length; pos += 32) {
    const magic = view.getUint16(pos, true);
    if (magic !== PARTITION_MAGIC) {
      // 0xEBEB starts the MD5 entry, 0xFFFF the erased rest: both end the table.
      if (partitions.length === 0) return { badMagic: magic };
      break;
    }
    partitions.push({
      type: table[pos + 2],
      subtype: table[pos + 3],
      offset: view.getUint32(pos + 4, true),
      size: view.getUint32(pos + 8, true),
      label: cString(table.subarray(pos + 12, pos + 28)),
    });
  }
  return { partitions };
}

/**
 * Reads an image the way esptool's image classes load one: as lenient as
 * they are (a wrong checksum or digest is a fact to report, not a reason to
 * stop; a chip id that does not match is only noted) and failing where they
 * fail (wrong magic, a segment running past the end of the data, a bad
 * append-digest byte, more than 16 segments). `image-info` prints from it and
 * the flash-settings patch uses it to decide whether data at the bootloader
 * offset is an image. Pure: bytes in, facts out.
 */
import { sha256, xorChecksum } from './digest.js';
import { IMAGE_MAGIC, IMAGE_MAGIC_ESP8266_V2, MAX_SEGMENTS } from './parser.js';
import { hex, ImageError } from './problems.js';

/** One segment as loaded. */
export interface LoadedSegment {
  loadAddress: number;
  /** File offset of the segment's 8-byte header. */
  fileOffset: number;
  data: Uint8Array;
  /** False for the ESP8266 v2 IROM segment, which the checksum does not cover. */
  inChecksum: boolean;
}

/** The ESP32-family extended header, field by field. */
export interface LoadedExtendedHeader {
  wpPin: number;
  clkDrv: number;
  qDrv: number;
  dDrv: number;
  csDrv: number;
  hdDrv: number;
  wpDrv: number;
  chipId: number;
  minRev: number;
  minRevFull: number;
  maxRevFull: number;
  appendDigest: boolean;
}

/** An image as esptool loads it. */
export interface LoadedImage {
  /** 1 for ESP8266 v1 and ESP32-family images, 2 for ESP8266 v2 (OTA) images. */
  version: 1 | 2;
  flashMode: number;
  flashSizeFreq: number;
  entry: number;
  extended?: LoadedExtendedHeader;
  segments: LoadedSegment[];
  /** The stored checksum byte and its offset. */
  checksum: number;
  checksumOffset: number;
  /** Bytes up to and including the checksum: what the appended SHA-256 covers. */
  dataLength: number;
  /** Present when the extended header says a digest is appended (may be short at the end of the data). */
  storedDigest?: Uint8Array;
  computedDigest?: Uint8Array;
}

/** esptool's checksum over the loaded segments. */
export function loadedChecksum(image: LoadedImage): number {
  return image.segments.reduce((sum, s) => (s.inChecksum ? xorChecksum(s.data, sum) : sum), 0xef);
}

function u32(data: Uint8Array, at: number): number {
  return (data[at] | (data[at + 1] << 8) | (data[at + 2] << 16) | (data[at + 3] << 24)) >>> 0;
}

class Cursor {
  pos = 0;
  constructor(private readonly data: Uint8Array) {}
  need(n: number, what: string): void {
    if (this.pos + n > this.data.length)
      throw new ImageError(
        'TRUNCATED',
        `The image ends inside ${what} (offset ${hex(this.pos)}, ${this.data.length} bytes in all).`,
      );
  }
  commonHeader(magic: number): { segments: number; mode: number; sizeFreq: number; entry: number } {
    this.need(8, 'its header');
    const d = this.data;
    const found = d[this.pos];
    if (found !== magic)
      throw new ImageError('NOT_AN_IMAGE', `Invalid firmware image magic=${hex(found)}.`, {
        detail: { magic: found },
      });
    const out = {
      segments: d[this.pos + 1],
      mode: d[this.pos + 2],
      sizeFreq: d[this.pos + 3],
      entry: u32(d, this.pos + 4),
    };
    this.pos += 8;
    return out;
  }
  segment(inChecksum = true): LoadedSegment {
    this.need(8, 'a segment header');
    const fileOffset = this.pos;
    const loadAddress = u32(this.data, this.pos);
    const size = u32(this.data, this.pos + 4);
    this.pos += 8;
    const available = Math.max(0, Math.min(size, this.data.length - this.pos));
    if (available < size)
      throw new ImageError(
        'TRUNCATED',
        `End of file reading segment ${hex(loadAddress)}, length ${size} (actual length ${available}).`,
      );
    const data = this.data.subarray(this.pos, this.pos + size);
    this.pos += size;
    return { loadAddress, fileOffset, data, inChecksum };
  }
  checksum(): { value: number; offset: number } {
    // The checksum is the last byte of a 16-byte line.
    this.pos += 15 - (this.pos % 16);
    this.need(1, 'its checksum');
    const offset = this.pos;
    this.pos += 1;
    return { value: this.data[offset], offset };
  }
}

/**
 * Loads an image. `esp8266` selects the ESP8266 formats (v1 without an
 * extended header, or v2 by its 0xEA magic); otherwise the ESP32-family
 * layout with its 16-byte extended header.
 */
export function loadImage(data: Uint8Array, options: { esp8266: boolean }): LoadedImage {
  if (data.length === 0) throw new ImageError('NOT_AN_IMAGE', 'Image is empty.');
  const c = new Cursor(data);
  const segments: LoadedSegment[] = [];
  let version: 1 | 2 = 1;
  let header;
  let extended: LoadedExtendedHeader | undefined;
  if (options.esp8266 && data[0] === IMAGE_MAGIC_ESP8266_V2) {
    // v2: a first header, the IROM segment (stored with load address 0, not checksummed), then a v1 image.
    version = 2;
    c.commonHeader(IMAGE_MAGIC_ESP8266_V2);
    const irom = c.segment(false);
    segments.push({ ...irom, loadAddress: 0 });
    header = c.commonHeader(IMAGE_MAGIC);
  } else if (options.esp8266) {
    if (data[0] !== IMAGE_MAGIC)
      throw new ImageError('NOT_AN_IMAGE', `Invalid image magic number: ${data[0]}.`, {
        detail: { magic: data[0] },
      });
    header = c.commonHeader(IMAGE_MAGIC);
  } else {
    header = c.commonHeader(IMAGE_MAGIC);
    c.need(16, 'its extended header');
    const x = data.subarray(c.pos, c.pos + 16);
    c.pos += 16;
    if (x[15] > 1)
      throw new ImageError(
        'BAD_EXTENDED_HEADER',
        `Invalid value for append_digest field (${hex(x[15], 2)}). Should be 0 or 1.`,
      );
    extended = {
      wpPin: x[0],
      clkDrv: x[1] & 0xf,
      qDrv: x[1] >> 4,
      dDrv: x[2] & 0xf,
      csDrv: x[2] >> 4,
      hdDrv: x[3] & 0xf,
      wpDrv: x[3] >> 4,
      chipId: x[4] | (x[5] << 8),
      minRev: x[6],
      minRevFull: x[7] | (x[8] << 8),
      maxRevFull: x[9] | (x[10] << 8),
      appendDigest: x[15] === 1,
    };
  }
  for (let i = 0; i < header.segments; i++) segments.push(c.segment());
  const checksum = c.checksum();
  const dataLength = c.pos;
  const image: LoadedImage = {
    version,
    flashMode: header.mode,
    flashSizeFreq: header.sizeFreq,
    entry: header.entry,
    extended,
    segments,
    checksum: checksum.value,
    checksumOffset: checksum.offset,
    dataLength,
  };
  if (extended?.appendDigest) {
    image.storedDigest = data.subarray(dataLength, dataLength + 32);
    image.computedDigest = sha256(data.subarray(0, dataLength));
  }
  if (segments.length > MAX_SEGMENTS)
    throw new ImageError(
      'TOO_MANY_SEGMENTS',
      `Invalid segment count ${segments.length} (max ${MAX_SEGMENTS}). Usually this indicates a linker script problem.`,
    );
  return image;
}

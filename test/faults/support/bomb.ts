/**
 * A firmware bundle bomb: a valid-looking ESP-IDF bundle (.zip with
 * flasher_args.json and the app it names) whose app entry declares its real,
 * small size and CRC, while its deflate stream goes on to inflate to GiBs of
 * zeros. The stream is written bit by bit, without compressing GiBs here: the
 * app deflated by zlib (ended with a full flush, so byte-aligned), then one
 * fixed-Huffman block: a literal 0 and as many "copy 258 bytes from distance 1"
 * as it takes (13 bits per 258 bytes: about 6.7 MB of zip per GiB).
 */
import zlib from 'node:zlib';
import { buildFirmwareSet } from '#esp';
import { rawZip } from '../../support/zip.js';

/** Longest deflate match. */
const MATCH_BYTES = 258;

/** Deflate's bit order: header fields and extra bits LSB first, Huffman codes MSB first. */
class BitWriter {
  private readonly bytes: Uint8Array;
  private bit = 0;

  constructor(capacityBits: number) {
    this.bytes = new Uint8Array(Math.ceil(capacityBits / 8) + 1);
  }

  /** `count` bits of `value`, least significant first. */
  bits(value: number, count: number): void {
    for (let i = 0; i < count; i++) this.one((value >>> i) & 1);
  }

  /** A Huffman code of `length` bits, most significant first. */
  code(value: number, length: number): void {
    for (let i = length - 1; i >= 0; i--) this.one((value >>> i) & 1);
  }

  private one(b: number): void {
    if (b) this.bytes[this.bit >>> 3] |= 1 << (this.bit & 7);
    this.bit++;
  }

  /** What was written, padded to a whole byte. */
  done(): Buffer {
    return Buffer.from(this.bytes.subarray(0, Math.ceil(this.bit / 8)));
  }
}

/** A final fixed-Huffman block that inflates to 1 + 258 × matches zero bytes. */
function zeroBlock(matches: number): Buffer {
  const w = new BitWriter(3 + 8 + 13 * matches + 7);
  w.bits(1, 1); // BFINAL
  w.bits(1, 2); // BTYPE 01: fixed Huffman codes
  w.code(0x30, 8); // literal 0 (literals 0–143: 8 bits from 0x30)
  for (let i = 0; i < matches; i++) {
    w.code(0xc5, 8); // length 258: symbol 285 (280–287: 8 bits from 0xC0), no extra bits
    w.code(0, 5); // distance 1: distance code 0, no extra bits
  }
  w.code(0, 7); // end of block: symbol 256 (256–279: 7 bits from 0)
  return w.done();
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Deflate of `data` ending on a byte boundary with no reference to what follows (Z_FULL_FLUSH). */
function flushedDeflate(data: Uint8Array): Buffer {
  return zlib.deflateRawSync(data, { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH });
}

/** The bomb: `inflatedGiB` GiB of zeros behind a real app that the zip says is the whole entry. */
export function bundleBomb(inflatedGiB: number): { zip: Buffer; inflatedBytes: number } {
  const app = buildFirmwareSet({ chip: 'esp32', projectName: 'bomb', version: '1.0.0' }).find(
    (p) => p.offset === 0x10000,
  );
  if (!app) throw new Error('buildFirmwareSet gave no app at 0x10000');
  const matches = Math.max(1, Math.round((inflatedGiB * 1024 ** 3) / MATCH_BYTES));
  const stream = Buffer.concat([flushedDeflate(app.data), zeroBlock(matches)]);
  const args = Buffer.from(
    JSON.stringify({
      flash_settings: { flash_mode: 'dio', flash_size: '4MB', flash_freq: '40m' },
      flash_files: { '0x10000': 'app.bin' },
      app: { offset: '0x10000', file: 'app.bin' },
      extra_esptool_args: { chip: 'esp32' },
    }),
  );
  return {
    zip: rawZip([
      { name: 'flasher_args.json', method: 0, crc: crc32(args), compressed: args, declaredSize: args.length },
      {
        name: 'app.bin',
        method: 8,
        crc: crc32(app.data),
        compressed: stream,
        declaredSize: app.data.length,
      },
    ]),
    inflatedBytes: app.data.length + 1 + matches * MATCH_BYTES,
  };
}

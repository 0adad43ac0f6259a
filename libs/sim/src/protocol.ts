import { slipEncode } from './slip.js';

/** Opcodes of the serial bootloader protocol (§2.1). */
export const Op = {
  FLASH_BEGIN: 0x02,
  FLASH_DATA: 0x03,
  FLASH_END: 0x04,
  MEM_BEGIN: 0x05,
  MEM_END: 0x06,
  MEM_DATA: 0x07,
  SYNC: 0x08,
  WRITE_REG: 0x09,
  READ_REG: 0x0a,
  SPI_SET_PARAMS: 0x0b,
  SPI_ATTACH: 0x0d,
  READ_FLASH_SLOW: 0x0e,
  CHANGE_BAUDRATE: 0x0f,
  FLASH_DEFL_BEGIN: 0x10,
  FLASH_DEFL_DATA: 0x11,
  FLASH_DEFL_END: 0x12,
  SPI_FLASH_MD5: 0x13,
  GET_SECURITY_INFO: 0x14,
  ERASE_FLASH: 0xd0,
  ERASE_REGION: 0xd1,
  READ_FLASH: 0xd2,
  RUN_USER_CODE: 0xd3,
} as const;

/** ROM error codes: second status byte when the first is 1 (§1.6). */
export const RomError = {
  INVALID_PARAM: 0x01,
  INVALID_FORMAT: 0x05,
  OPERATION_FAILED: 0x06,
  BAD_CHECKSUM: 0x07,
  FLASH_WRITE: 0x08,
  FLASH_READ: 0x09,
  DEFLATE: 0x0b,
} as const;

/** Stub status codes: first status byte (§1.7). */
export const StubError = {
  BAD_DATA_LEN: 0xc0,
  BAD_DATA_CHECKSUM: 0xc1,
  BAD_BLOCKSIZE: 0xc2,
  INVALID_COMMAND: 0xc3,
  FAILED_SPI_OP: 0xc4,
  NOT_IN_FLASH_MODE: 0xc6,
  INFLATE_ERROR: 0xc7,
  NOT_ENOUGH_DATA: 0xc8,
  TOO_MUCH_DATA: 0xc9,
} as const;

/** SYNC body: 07 07 12 20 followed by 32 × 0x55. */
export const SYNC_BODY = Uint8Array.from([0x07, 0x07, 0x12, 0x20, ...new Array<number>(32).fill(0x55)]);
/** The value a ROM puts in its SYNC replies. */
export const ROM_SYNC_VALUE = 0x20120707;
/** Seed of the XOR checksum over data-command payloads. */
export const CHECKSUM_SEED = 0xef;

/** A request frame split into its header fields. */
export interface Request {
  direction: number;
  op: number;
  /** The size field of the header. */
  size: number;
  checksum: number;
  body: Uint8Array;
}

/** Parses a frame of at least 8 bytes; returns null for a shorter one. */
export function parseRequest(frame: Uint8Array): Request | null {
  if (frame.length < 8) return null;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  return {
    direction: frame[0],
    op: frame[1],
    size: view.getUint16(2, true),
    checksum: view.getUint32(4, true),
    body: frame.subarray(8),
  };
}

/** Reads little-endian u32 words from a body. */
export function words(body: Uint8Array, count: number): number[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(view.getUint32(i * 4, true));
  return out;
}

/** XOR checksum of a data-command payload, seeded with 0xEF. */
export function checksum(data: Uint8Array): number {
  // XOR is associative: fold 32-bit words first (one step per 4 bytes), then their 4 bytes.
  let i = 0;
  let word = 0;
  const misaligned = data.byteOffset % 4;
  if (misaligned !== 0) for (; i < Math.min(4 - misaligned, data.length); i++) word ^= data[i];
  const words = (data.length - i) >>> 2;
  if (words > 0) {
    const view = new Int32Array(data.buffer, data.byteOffset + i, words);
    let folded = 0;
    for (let w = 0; w < words; w++) folded ^= view[w];
    word ^= folded ^ (folded >>> 8) ^ (folded >>> 16) ^ (folded >>> 24);
    i += words * 4;
  }
  for (; i < data.length; i++) word ^= data[i];
  return (CHECKSUM_SEED ^ word) & 0xff;
}

/** Builds one SLIP-framed reply: 01, op, size, value, payload, status bytes. */
export function encodeReply(op: number, value: number, payload: Uint8Array, status: Uint8Array): Uint8Array {
  const pkt = new Uint8Array(8 + payload.length + status.length);
  const view = new DataView(pkt.buffer);
  pkt[0] = 0x01;
  pkt[1] = op;
  view.setUint16(2, payload.length + status.length, true);
  view.setUint32(4, value >>> 0, true);
  pkt.set(payload, 8);
  pkt.set(status, 8 + payload.length);
  return slipEncode(pkt);
}

/** Little-endian u32 as 4 bytes. */
export function u32le(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0, true);
  return out;
}

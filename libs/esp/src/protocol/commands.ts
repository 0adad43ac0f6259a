/**
 * Request encoding and reply parsing for the ROM loader and the flasher stub
 * (reference §1.2–§1.8, §2.1).
 */

/** Command opcodes (reference §2.1). */
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
/** One opcode value. */
export type Op = (typeof Op)[keyof typeof Op];

const OP_NAMES = new Map<number, string>(Object.entries(Op).map(([name, code]) => [code, name]));

/** The opcode's name for messages ("FLASH_DEFL_DATA"), or its hex value when unknown. */
export function opName(op: number): string {
  return OP_NAMES.get(op) ?? `0x${op.toString(16).padStart(2, '0')}`;
}

/** Seed of the XOR checksum (reference §1.4). */
export const CHECKSUM_SEED = 0xef;
/** Header bytes of a request or reply before the data field. */
export const PACKET_HEADER_BYTES = 8;
/** Header of MEM_DATA / FLASH_DATA / FLASH_DEFL_DATA bodies: len, seq, 0, 0. */
export const DATA_HEADER_BYTES = 16;
/** SYNC body: 07 07 12 20 then 32 × 0x55 (the ROM's autobaud pattern). */
export const SYNC_BODY = Uint8Array.from([0x07, 0x07, 0x12, 0x20, ...new Array<number>(32).fill(0x55)]);
/** The unsolicited frame a freshly started stub sends. */
export const OHAI = Uint8Array.from([0x4f, 0x48, 0x41, 0x49]);

/**
 * XOR of every payload byte seeded with 0xEF (reference §1.4). Computed on
 * every data block the flasher sends, so the aligned middle is folded 32 bits
 * at a time (XOR is bytewise: the four lanes fold to the same byte).
 */
export function checksum(payload: Uint8Array, seed = CHECKSUM_SEED): number {
  let c = 0;
  let i = 0;
  const end = payload.length;
  const head = Math.min(end, (4 - (payload.byteOffset & 3)) & 3);
  for (; i < head; i++) c ^= payload[i];
  const words = (end - i) >>> 2;
  if (words > 0) {
    const view = new Uint32Array(payload.buffer, payload.byteOffset + i, words);
    let w = 0;
    for (let k = 0; k < words; k++) w ^= view[k];
    c ^= (w ^ (w >>> 8) ^ (w >>> 16) ^ (w >>> 24)) & 0xff;
    i += words * 4;
  }
  for (; i < end; i++) c ^= payload[i];
  return seed ^ c;
}

/** Little-endian u32 words, as every multi-word command body is laid out. */
export function u32le(...words: number[]): Uint8Array {
  const out = new Uint8Array(words.length * 4);
  const view = new DataView(out.buffer);
  words.forEach((w, i) => view.setUint32(i * 4, w >>> 0, true));
  return out;
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Builds a request packet (before SLIP): direction 0, opcode, size, checksum field, data. */
export function encodeRequest(
  op: number,
  data: Uint8Array = new Uint8Array(0),
  checksumValue = 0,
): Uint8Array {
  const out = new Uint8Array(PACKET_HEADER_BYTES + data.length);
  const view = new DataView(out.buffer);
  out[0] = 0x00;
  out[1] = op;
  view.setUint16(2, data.length, true);
  view.setUint32(4, checksumValue >>> 0, true);
  out.set(data, PACKET_HEADER_BYTES);
  return out;
}

/** Body of MEM_DATA / FLASH_DATA / FLASH_DEFL_DATA with its checksum. */
export function dataCommandBody(payload: Uint8Array, seq: number): { body: Uint8Array; checksum: number } {
  return { body: concatBytes(u32le(payload.length, seq, 0, 0), payload), checksum: checksum(payload) };
}

/** A reply frame split into its fields. */
export interface Reply {
  op: number;
  /** READ_REG result; SYNC: non-zero from the ROM, 0 from a stub. */
  value: number;
  /** Payload followed by the status bytes. */
  data: Uint8Array;
}

/** Parses a decoded frame as a reply; undefined when it is not one (wrong direction, short, size field disagrees). */
export function parseReply(frame: Uint8Array): Reply | undefined {
  if (frame.length < PACKET_HEADER_BYTES || frame[0] !== 0x01) return undefined;
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const size = view.getUint16(2, true);
  if (size !== frame.length - PACKET_HEADER_BYTES) return undefined;
  return { op: frame[1], value: view.getUint32(4, true), data: frame.subarray(PACKET_HEADER_BYTES) };
}

/** The status pair of a reply. */
export interface Status {
  /** ROM: failure flag (0/1). Stub: the error code (0 = OK). */
  first: number;
  /** ROM: the error code. Stub: sub-status. */
  second: number;
  /** The payload before the status bytes. */
  payload: Uint8Array;
}

/**
 * Reads the status at the position given by the expected payload length
 * (esptool v5 rule, reference §10.3), so 2- and 4-byte status both parse.
 * When the reply is shorter than expected, the first two bytes are the status
 * (a failing command sends no payload).
 */
export function parseStatus(data: Uint8Array, expectedPayloadBytes = 0): Status | undefined {
  if (data.length >= expectedPayloadBytes + 2) {
    return {
      first: data[expectedPayloadBytes],
      second: data[expectedPayloadBytes + 1],
      payload: data.subarray(0, expectedPayloadBytes),
    };
  }
  if (data.length >= 2) return { first: data[0], second: data[1], payload: new Uint8Array(0) };
  return undefined;
}

/** ROM error 0x05: unknown or forbidden opcode / malformed message (reference §1.6, §1.8). */
export const ROM_INVALID_MESSAGE = 0x05;

/**
 * Shape (a) of §1.8: a reply whose opcode differs from the request and whose
 * status is `01 05`. It means "this command is not supported here" (ROM without
 * it, or Secure Download Mode).
 */
export function isUnsupportedReply(reply: Reply, requestOp: number): boolean {
  return (
    reply.op !== requestOp &&
    reply.data.length >= 2 &&
    reply.data[0] !== 0 &&
    reply.data[1] === ROM_INVALID_MESSAGE
  );
}

// ---- request bodies -------------------------------------------------------

/** FLASH_BEGIN / FLASH_DEFL_BEGIN / MEM_BEGIN body; the fifth word (encrypted flag) only when asked for. */
export function beginBody(
  sizeOrErase: number,
  blocks: number,
  blockSize: number,
  offset: number,
  encryptedWord?: number,
): Uint8Array {
  return encryptedWord === undefined
    ? u32le(sizeOrErase, blocks, blockSize, offset)
    : u32le(sizeOrErase, blocks, blockSize, offset, encryptedWord);
}

/** FLASH_END / FLASH_DEFL_END flag: 0 reboots, 1 stays in the loader (stub) or runs user code (ROM). */
export const END_FLAG_REBOOT = 0;
/** See END_FLAG_REBOOT. */
export const END_FLAG_STAY = 1;

/** One WRITE_REG tuple. */
export interface RegWrite {
  addr: number;
  value: number;
  mask?: number;
  delayUs?: number;
}

/** WRITE_REG body with one 16-byte tuple per write. */
export function writeRegBody(writes: RegWrite[]): Uint8Array {
  return u32le(...writes.flatMap((w) => [w.addr, w.value, w.mask ?? 0xffffffff, w.delayUs ?? 0]));
}

/** SPI_SET_PARAMS body for a flash of the given size (64 KiB blocks, 4 KiB sectors, 256-byte pages). */
export function spiSetParamsBody(totalSizeBytes: number): Uint8Array {
  return u32le(0, totalSizeBytes, 0x10000, 0x1000, 0x100, 0xffff);
}

/** READ_FLASH (stub streaming) body. */
export function readFlashBody(
  offset: number,
  length: number,
  packetBytes: number,
  maxInFlight: number,
): Uint8Array {
  return u32le(offset, length, packetBytes, maxInFlight);
}

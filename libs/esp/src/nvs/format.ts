/**
 * The ESP-IDF NVS (non-volatile storage) partition format: wire constants and
 * the CRC-32 NVS uses. Facts from ESP-IDF's nvs_flash component
 * (`nvs_page.hpp`, `nvs_types.hpp/.cpp`) and its partition generator.
 *
 * A partition is a row of 4096-byte pages. Each page: a 32-byte header
 * (state u32, sequence number u32, format version u8, 19 reserved bytes of
 * 0xFF, CRC-32 u32 over bytes 4..27), a 32-byte entry-state bitmap (two bits
 * per entry), then 126 entries of 32 bytes. An entry (an "item"): namespace
 * index u8, type u8, span u8 (entries the item occupies), chunk index u8,
 * CRC-32 u32 over bytes 0..3 and 8..31, key (15 bytes + NUL), 8 data bytes.
 */

/** Bytes per page (one flash sector). */
export const NVS_PAGE_BYTES = 4096;
/** Bytes per entry. */
export const NVS_ENTRY_BYTES = 32;
/** Entries per page: (4096 - 32 header - 32 bitmap) / 32. */
export const NVS_ENTRIES_PER_PAGE = 126;
/** Offset of the entry-state bitmap in a page. */
export const NVS_BITMAP_OFFSET = 32;
/** Offset of entry 0 in a page. */
export const NVS_FIRST_ENTRY_OFFSET = 64;
/**
 * Smallest read/write partition: ESP-IDF keeps one page empty so it can move
 * live entries out of a page it wants to erase, and needs one more to write in.
 */
export const NVS_MIN_PAGES = 3;
/** Longest key and namespace name in bytes (the 16-byte field keeps a NUL). */
export const NVS_KEY_MAX_BYTES = 15;
/** Namespace indexes run 1..254: 0 holds the namespace entries, 255 means "any". */
export const NVS_MAX_NAMESPACES = 254;
/** Chunk index of every item that is not a blob data chunk. */
export const NVS_CHUNK_ANY = 0xff;
/** Bytes of variable-length data one page can carry after the item's own header entry (125 × 32). */
export const NVS_PAGE_DATA_BYTES = (NVS_ENTRIES_PER_PAGE - 1) * NVS_ENTRY_BYTES;
/**
 * Largest blob ESP-IDF reads back: chunk indexes are split in two version
 * halves of 127, each chunk holds at most one page's data (nvs_types.cpp).
 */
export const NVS_BLOB_MAX_BYTES = 127 * NVS_PAGE_DATA_BYTES;
/** Largest version-1 blob or string (single page, ESP-IDF's old limit). */
export const NVS_V1_VARIABLE_MAX_BYTES = 1984;

/** Page states: bits are cleared one by one as a page is used (flash can only clear bits). */
export const NvsPageState = {
  /** Erased flash: the page was never initialised. */
  UNINITIALIZED: 0xffffffff,
  /** Accepting writes (the page being filled). */
  ACTIVE: 0xfffffffe,
  /** Full: no more writes. */
  FULL: 0xfffffffc,
  /** Live entries are being copied to another page before this one is erased. */
  FREEING: 0xfffffff8,
  /** Found corrupt by ESP-IDF and kept for diagnosis. */
  CORRUPT: 0xfffffff0,
} as const;
/** One of NvsPageState. */
export type NvsPageState = (typeof NvsPageState)[keyof typeof NvsPageState];

/**
 * Format version byte of the page header. Version 2 (0xFE) stores blobs as
 * BLOB_DATA chunks plus a BLOB_IDX; version 1 (0xFF) as one BLOB item within a page.
 */
export const NvsFormatVersion = { 1: 0xff, 2: 0xfe } as const;

/** Item type codes: the low nibble is the size of a primitive value in bytes. */
export const NvsItemType = {
  U8: 0x01,
  I8: 0x11,
  U16: 0x02,
  I16: 0x12,
  U32: 0x04,
  I32: 0x14,
  U64: 0x08,
  I64: 0x18,
  /** NUL-terminated string. */
  SZ: 0x21,
  /** Version-1 blob (one item within a page). */
  BLOB: 0x41,
  /** One chunk of a version-2 blob. */
  BLOB_DATA: 0x42,
  /** Version-2 blob index: total size, chunk count, first chunk index. */
  BLOB_IDX: 0x48,
} as const;
/** One of NvsItemType. */
export type NvsItemType = (typeof NvsItemType)[keyof typeof NvsItemType];

/** Two-bit entry states in the page bitmap (entry i at bits 2i, 2i+1 of the little-endian bitmap). */
export const NvsEntryState = {
  EMPTY: 0b11,
  WRITTEN: 0b10,
  ERASED: 0b00,
} as const;

/** Integer value types, by the name the CSV format and our recipes use. */
export type NvsIntType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64';
/** Every value type a recipe can hold. */
export type NvsValueType = NvsIntType | 'string' | 'blob';

/** Item type code of each integer type. */
export const NVS_INT_ITEM_TYPE: Readonly<Record<NvsIntType, number>> = {
  u8: NvsItemType.U8,
  i8: NvsItemType.I8,
  u16: NvsItemType.U16,
  i16: NvsItemType.I16,
  u32: NvsItemType.U32,
  i32: NvsItemType.I32,
  u64: NvsItemType.U64,
  i64: NvsItemType.I64,
};

/** The integer type of an item type code, if it is one. */
export function nvsIntTypeOf(itemType: number): NvsIntType | undefined {
  for (const [name, code] of Object.entries(NVS_INT_ITEM_TYPE))
    if (code === itemType) return name as NvsIntType;
  return undefined;
}

/** Inclusive range of each integer type. */
export const NVS_INT_RANGE: Readonly<Record<NvsIntType, readonly [bigint, bigint]>> = {
  u8: [0n, 0xffn],
  i8: [-0x80n, 0x7fn],
  u16: [0n, 0xffffn],
  i16: [-0x8000n, 0x7fffn],
  u32: [0n, 0xffffffffn],
  i32: [-0x80000000n, 0x7fffffffn],
  u64: [0n, 0xffffffffffffffffn],
  i64: [-0x8000000000000000n, 0x7fffffffffffffffn],
};

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/**
 * CRC-32 as NVS computes it: `esp_rom_crc32_le(0xFFFFFFFF, data, len)`. The
 * ROM function inverts the value it is given, runs the reflected 0xEDB88320
 * polynomial and inverts the result; NVS passes 0xFFFFFFFF, so the register
 * starts at 0, not at 0xFFFFFFFF as in the usual CRC-32 (zlib's
 * `crc32(data, 0xFFFFFFFF)` gives the same value). Chain calls by passing the
 * previous result as `crc`.
 */
export function nvsCrc32(data: Uint8Array, crc = 0xffffffff): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC of an entry: its first 4 bytes and bytes 8..31 (everything but the CRC field). */
export function nvsEntryCrc(entry: Uint8Array): number {
  return nvsCrc32(entry.subarray(8, 32), nvsCrc32(entry.subarray(0, 4)));
}

/** CRC of a page header: bytes 4..27 (sequence number, version, reserved). */
export function nvsPageHeaderCrc(header: Uint8Array): number {
  return nvsCrc32(header.subarray(4, 28));
}

/** Entries a variable-length item of `bytes` data bytes occupies, its header entry included. */
export function nvsSpanFor(bytes: number): number {
  return 1 + Math.ceil(bytes / NVS_ENTRY_BYTES);
}

/** "0x1000": offsets in messages. */
export function nvsHex(value: number): string {
  return `0x${(value >>> 0).toString(16)}`;
}

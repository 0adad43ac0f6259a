/**
 * NVS partition generator: a recipe in, the partition's bytes out (no I/O).
 *
 * The layout follows ESP-IDF's `nvs_partition_gen.py` decision for decision,
 * so the same content gives the same bytes: namespaces are numbered from 1 in
 * writing order and their entry (type U8 in namespace 0) is written just
 * before their first key; a primitive or string goes to the next page when it
 * does not fit (a string must also end before the page's last entry); a
 * version-2 blob fills the rest of the page as a chunk and continues on the
 * next, with its BLOB_IDX after the last chunk (on a new page when that chunk
 * left no entry free). Every page but the last written one is FULL, that one
 * stays ACTIVE, and the rest is erased flash (0xFF), the last page being the
 * one ESP-IDF keeps free.
 */
import { NvsError } from './errors.js';
import {
  NVS_BITMAP_OFFSET,
  NVS_CHUNK_ANY,
  NVS_ENTRIES_PER_PAGE,
  NVS_ENTRY_BYTES,
  NVS_FIRST_ENTRY_OFFSET,
  NVS_INT_ITEM_TYPE,
  NVS_MIN_PAGES,
  NVS_PAGE_BYTES,
  nvsCrc32,
  nvsEntryCrc,
  NvsFormatVersion,
  nvsHex,
  NvsItemType,
  nvsPageHeaderCrc,
  NvsPageState,
  nvsSpanFor,
} from './format.js';
import { normalizeNvsRecipe, type NvsRecipeInput, type NvsValue, type NvsVersion } from './recipe.js';

/** Options of generateNvsPartition(). */
export interface NvsGenerateOptions {
  /** Partition size in bytes: a multiple of 4096, at least 3 pages (0x3000). */
  sizeBytes: number;
  /** Format version (default 2: multi-page blobs). */
  version?: NvsVersion;
}

const utf8 = new TextEncoder();

/** The page has no room for the item; the caller moves on to a new page. */
class PageFull extends Error {}

class PageWriter {
  readonly bytes = new Uint8Array(NVS_PAGE_BYTES).fill(0xff);
  /** Next free entry. */
  used = 0;
  private readonly view = new DataView(this.bytes.buffer);

  constructor(seq: number, versionByte: number) {
    this.view.setUint32(0, NvsPageState.ACTIVE, true);
    this.view.setUint32(4, seq, true);
    this.bytes[8] = versionByte;
    this.view.setUint32(28, nvsPageHeaderCrc(this.bytes), true);
  }

  get state(): number {
    return this.view.getUint32(0, true);
  }

  markFull(): void {
    // The state word is outside the header CRC, so it changes without rewriting the CRC.
    this.view.setUint32(0, NvsPageState.FULL, true);
  }

  /** Places `data` at the next free entry and marks `count` entries written (data shorter than count × 32 leaves 0xFF). */
  put(data: Uint8Array, count: number): void {
    this.bytes.set(data, NVS_FIRST_ENTRY_OFFSET + this.used * NVS_ENTRY_BYTES);
    for (let i = 0; i < count; i++) {
      const bit = this.used * 2;
      // Clearing the low bit of the entry's pair turns EMPTY (0b11) into WRITTEN (0b10).
      this.bytes[NVS_BITMAP_OFFSET + (bit >> 3)] &= ~(1 << (bit & 7));
      this.used++;
    }
  }
}

/** An entry header: namespace index, type, span, chunk index, key; data bytes and CRC filled by the caller. */
function itemHeader(nsIndex: number, type: number, span: number, chunk: number, key: string): Uint8Array {
  const entry = new Uint8Array(NVS_ENTRY_BYTES).fill(0xff);
  entry[0] = nsIndex;
  entry[1] = type;
  entry[2] = span;
  entry[3] = chunk;
  entry.fill(0, 8, 24);
  entry.set(utf8.encode(key), 8);
  return entry;
}

function sealed(entry: Uint8Array): Uint8Array {
  new DataView(entry.buffer, entry.byteOffset).setUint32(4, nvsEntryCrc(entry), true);
  return entry;
}

class PartitionWriter {
  private readonly pages: PageWriter[] = [];
  private readonly versionByte: number;

  constructor(
    private readonly dataPages: number,
    private readonly version: NvsVersion,
    private readonly sizeBytes: number,
  ) {
    this.versionByte = NvsFormatVersion[version];
    this.newPage();
  }

  private get page(): PageWriter {
    return this.pages[this.pages.length - 1];
  }

  /** Closes the current page (FULL) and opens the next; the reserved page is never used. */
  private newPage(): PageWriter {
    if (this.pages.length > 0 && this.page.state === NvsPageState.ACTIVE) this.page.markFull();
    if (this.pages.length >= this.dataPages) {
      throw new NvsError(
        'PARTITION_FULL',
        `The recipe does not fit a ${nvsHex(this.sizeBytes)}-byte NVS partition: ${this.dataPages} pages hold data and the last stays free. Use a larger partition.`,
      );
    }
    const page = new PageWriter(this.pages.length, this.versionByte);
    this.pages.push(page);
    return page;
  }

  /** Runs `write` on the current page, or on a new one when it reports the page full. */
  private onSomePage(write: (page: PageWriter) => void): void {
    try {
      write(this.page);
    } catch (err) {
      if (!(err instanceof PageFull)) throw err;
      // Values are validated to fit an empty page, so the second attempt cannot report PageFull.
      write(this.newPage());
    }
  }

  writeNamespace(name: string, index: number): void {
    this.writeValue(0, name, { type: 'u8', value: index });
  }

  writeValue(nsIndex: number, key: string, value: NvsValue): void {
    switch (value.type) {
      case 'string':
        return this.writeVariable(nsIndex, key, NvsItemType.SZ, utf8.encode(`${value.value}\0`));
      case 'blob':
        if (this.version === 1) return this.writeVariable(nsIndex, key, NvsItemType.BLOB, value.value);
        return this.writeBlob(nsIndex, key, value.value);
      case 'u8':
      case 'i8':
      case 'u16':
      case 'i16':
      case 'u32':
      case 'i32':
      case 'u64':
      case 'i64':
        return this.onSomePage((page) => {
          if (page.used >= NVS_ENTRIES_PER_PAGE) throw new PageFull();
          const entry = itemHeader(nsIndex, NVS_INT_ITEM_TYPE[value.type], 1, NVS_CHUNK_ANY, key);
          const data = new DataView(entry.buffer, 24, 8);
          // Little-endian, in as many bytes as the type has; the rest of the 8 stays 0xFF.
          const v = BigInt(value.value);
          const size = NVS_INT_ITEM_TYPE[value.type] & 0x0f;
          for (let i = 0; i < size; i++) data.setUint8(i, Number((v >> BigInt(8 * i)) & 0xffn));
          page.put(sealed(entry), 1);
        });
    }
  }

  /** A string, or a version-1 blob: header entry plus data entries, all within one page. */
  private writeVariable(nsIndex: number, key: string, type: number, data: Uint8Array): void {
    const span = nvsSpanFor(data.length);
    this.onSomePage((page) => {
      // The generator wants the item to end before the page's last entry (">=", not ">").
      if (page.used >= NVS_ENTRIES_PER_PAGE || page.used + span >= NVS_ENTRIES_PER_PAGE) throw new PageFull();
      page.put(variableHeader(nsIndex, key, type, span, NVS_CHUNK_ANY, data), 1);
      page.put(data, span - 1);
    });
  }

  /** A version-2 blob: chunks filling each page's free entries, then the index entry. */
  private writeBlob(nsIndex: number, key: string, data: Uint8Array): void {
    if (this.page.used >= NVS_ENTRIES_PER_PAGE) this.newPage();
    let offset = 0;
    let chunks = 0;
    for (;;) {
      const page = this.page;
      const tailroom = (NVS_ENTRIES_PER_PAGE - page.used - 1) * NVS_ENTRY_BYTES;
      const size = Math.min(tailroom, data.length - offset);
      const chunk = data.subarray(offset, offset + size);
      const span = nvsSpanFor(size);
      page.put(variableHeader(nsIndex, key, NvsItemType.BLOB_DATA, span, chunks, chunk), 1);
      page.put(chunk, span - 1);
      chunks++;
      offset += size;
      const remaining = data.length - offset;
      if (remaining > 0 || tailroom - size < NVS_ENTRY_BYTES) this.newPage();
      if (remaining === 0) break;
    }
    const index = itemHeader(nsIndex, NvsItemType.BLOB_IDX, 1, NVS_CHUNK_ANY, key);
    const view = new DataView(index.buffer);
    view.setUint32(24, data.length, true);
    index[28] = chunks;
    index[29] = 0; // first chunk index: version offset 0
    this.page.put(sealed(index), 1);
  }

  /** The whole partition: written pages, then erased flash up to the size. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.sizeBytes).fill(0xff);
    this.pages.forEach((page, i) => out.set(page.bytes, i * NVS_PAGE_BYTES));
    return out;
  }
}

function variableHeader(
  nsIndex: number,
  key: string,
  type: number,
  span: number,
  chunk: number,
  data: Uint8Array,
): Uint8Array {
  const entry = itemHeader(nsIndex, type, span, chunk, key);
  const view = new DataView(entry.buffer);
  view.setUint16(24, data.length, true);
  // Bytes 26..27 stay 0xFFFF (reserved).
  view.setUint32(28, nvsCrc32(data), true);
  return sealed(entry);
}

/** Checks a partition size: a whole number of pages, at least NVS_MIN_PAGES. */
export function checkNvsPartitionSize(sizeBytes: number): void {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % NVS_PAGE_BYTES !== 0) {
    throw new NvsError(
      'BAD_PARTITION_SIZE',
      `An NVS partition size must be a multiple of 4096 bytes (0x1000); got ${String(sizeBytes)}.`,
    );
  }
  if (sizeBytes < NVS_MIN_PAGES * NVS_PAGE_BYTES) {
    throw new NvsError(
      'BAD_PARTITION_SIZE',
      `An NVS partition needs at least ${NVS_MIN_PAGES} pages (0x3000 bytes) to be writable by the firmware; got ${nvsHex(sizeBytes)}.`,
    );
  }
}

/** Builds an NVS partition image holding the recipe. */
export function generateNvsPartition(recipe: NvsRecipeInput, options: NvsGenerateOptions): Uint8Array {
  const version = options.version ?? 2;
  if (version !== 1 && version !== 2) {
    throw new NvsError('INVALID_RECIPE', `NVS format version ${String(version)} does not exist; use 1 or 2.`);
  }
  checkNvsPartitionSize(options.sizeBytes);
  const namespaces = normalizeNvsRecipe(recipe, version);
  const writer = new PartitionWriter(options.sizeBytes / NVS_PAGE_BYTES - 1, version, options.sizeBytes);
  namespaces.forEach((ns, i) => {
    const nsIndex = i + 1;
    writer.writeNamespace(ns.name, nsIndex);
    for (const entry of ns.entries) writer.writeValue(nsIndex, entry.key, entry.value);
  });
  return writer.bytes();
}

/**
 * NVS partition reader: bytes in, namespaces of typed values out (no I/O).
 * It checks everything ESP-IDF checks before it trusts a page or an entry —
 * page header CRC, page state, format version, entry states, each entry's
 * header CRC and consistency (type, span, size, chunk index), each string's
 * and blob chunk's data CRC, blob indexes against their chunks — and throws
 * an NvsError naming the page and entry at the first thing wrong, where
 * ESP-IDF would quietly drop the entry.
 */
import { NvsError, type NvsProblemLocation } from './errors.js';
import {
  NVS_BITMAP_OFFSET,
  NVS_BLOB_MAX_BYTES,
  NVS_CHUNK_ANY,
  NVS_ENTRIES_PER_PAGE,
  NVS_ENTRY_BYTES,
  NVS_FIRST_ENTRY_OFFSET,
  NVS_MAX_NAMESPACES,
  NVS_PAGE_BYTES,
  nvsCrc32,
  nvsEntryCrc,
  NvsEntryState,
  NvsFormatVersion,
  nvsHex,
  nvsIntTypeOf,
  NvsItemType,
  nvsPageHeaderCrc,
  NvsPageState,
  nvsSpanFor,
} from './format.js';
import { type NvsNamespace, type NvsValue, type NvsVersion } from './recipe.js';

/** Name of a page state in decoded output. */
export type NvsPageStateName = 'uninitialized' | 'active' | 'full' | 'freeing';

/** One page as found. */
export interface NvsPageInfo {
  index: number;
  state: NvsPageStateName;
  /** Sequence number (pages are used in this order); absent for an erased page. */
  seq?: number;
  version?: NvsVersion;
  /** Entries marked written / erased in the bitmap. */
  written: number;
  erased: number;
}

/** One decoded key with where its item starts (for a blob: its first chunk). */
export interface NvsDecodedEntry {
  namespace: string;
  key: string;
  value: NvsValue;
  page: number;
  entry: number;
}

/** A decoded partition. */
export interface NvsDecodedPartition {
  /** Format version of the written pages (undefined when every page is erased). */
  version?: NvsVersion;
  pages: NvsPageInfo[];
  /** Namespaces by index, each with its keys in flash order. */
  namespaces: NvsNamespace[];
  /** Every key in flash order. */
  entries: NvsDecodedEntry[];
}

/** An item header that passed the checks, with its data. */
interface RawItem {
  page: number;
  /** Position of the page in sequence order, for flash order across pages. */
  order: number;
  entry: number;
  ns: number;
  type: number;
  chunk: number;
  key: string;
  /** The 8 data bytes of the header entry. */
  inline: Uint8Array;
  /** Variable-length data (strings, blobs, chunks). */
  data?: Uint8Array;
}

const STATE_NAMES = new Map<number, NvsPageStateName>([
  [NvsPageState.ACTIVE, 'active'],
  [NvsPageState.FULL, 'full'],
  [NvsPageState.FREEING, 'freeing'],
]);

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function allErased(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0xff) return false;
  return true;
}

function entryState(page: Uint8Array, index: number): number {
  return (page[NVS_BITMAP_OFFSET + (index >> 2)] >> ((index & 3) * 2)) & 0b11;
}

/** Decodes and verifies an NVS partition image. */
export function readNvsPartition(image: Uint8Array): NvsDecodedPartition {
  if (image.length === 0 || image.length % NVS_PAGE_BYTES !== 0) {
    throw new NvsError(
      'BAD_PARTITION_SIZE',
      `An NVS partition is a whole number of 4096-byte pages; this one has ${image.length} bytes.`,
    );
  }
  const pages: NvsPageInfo[] = [];
  const perPage: RawItem[][] = [];
  let version: NvsVersion | undefined;
  for (let p = 0; p * NVS_PAGE_BYTES < image.length; p++) {
    const page = image.subarray(p * NVS_PAGE_BYTES, (p + 1) * NVS_PAGE_BYTES);
    const info = readPageHeader(page, p);
    pages.push(info);
    if (info.state === 'uninitialized') continue;
    if (version !== undefined && info.version !== version) {
      throw new NvsError(
        'UNSUPPORTED_VERSION',
        `Page ${p} is format version ${info.version}, earlier pages version ${version}: a partition half converted by an ESP-IDF upgrade. Read it on the device, or erase it.`,
        { page: p, offset: p * NVS_PAGE_BYTES },
      );
    }
    version = info.version;
    perPage[p] = readPageEntries(page, p, info);
  }
  // Pages are filled in sequence-number order, not in address order.
  const order = pages
    .filter((info) => info.state !== 'uninitialized')
    .sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0) || a.index - b.index);
  const items: RawItem[] = [];
  order.forEach((info, rank) => {
    for (const item of perPage[info.index]) items.push({ ...item, order: rank });
  });
  const { namespaces, entries } = decodeItems(items);
  return { version, pages, namespaces, entries };
}

function readPageHeader(page: Uint8Array, p: number): NvsPageInfo {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const at: NvsProblemLocation = { page: p, offset: p * NVS_PAGE_BYTES };
  const state = view.getUint32(0, true);
  if (state === NvsPageState.UNINITIALIZED) {
    if (!allErased(page)) {
      throw new NvsError(
        'BAD_PAGE_STATE',
        `Page ${p} (at ${nvsHex(at.offset!)}) is marked uninitialised but holds data: it is corrupt.`,
        at,
      );
    }
    return { index: p, state: 'uninitialized', written: 0, erased: 0 };
  }
  const crc = view.getUint32(28, true);
  if (crc !== nvsPageHeaderCrc(page)) {
    throw new NvsError(
      'BAD_PAGE_CRC',
      `Page ${p} (at ${nvsHex(at.offset!)}): header CRC ${nvsHex(crc)} does not match its contents (${nvsHex(nvsPageHeaderCrc(page))}); the page is corrupt.`,
      at,
    );
  }
  const name = STATE_NAMES.get(state);
  if (!name) {
    const what =
      state === NvsPageState.CORRUPT
        ? 'marked corrupt by ESP-IDF'
        : `in state ${nvsHex(state)}, which NVS does not use`;
    throw new NvsError('BAD_PAGE_STATE', `Page ${p} (at ${nvsHex(at.offset!)}) is ${what}.`, at);
  }
  const versionByte = page[8];
  const version =
    versionByte === NvsFormatVersion[2] ? 2 : versionByte === NvsFormatVersion[1] ? 1 : undefined;
  if (version === undefined) {
    throw new NvsError(
      'UNSUPPORTED_VERSION',
      `Page ${p} has format version byte ${nvsHex(versionByte)}; this reader knows 0xfe (version 2) and 0xff (version 1).`,
      at,
    );
  }
  let written = 0;
  let erased = 0;
  for (let i = 0; i < NVS_ENTRIES_PER_PAGE; i++) {
    const s = entryState(page, i);
    if (s === NvsEntryState.WRITTEN) written++;
    else if (s === NvsEntryState.ERASED) erased++;
  }
  return { index: p, state: name, seq: view.getUint32(4, true), version, written, erased };
}

function readPageEntries(page: Uint8Array, p: number, info: NvsPageInfo): RawItem[] {
  const items: RawItem[] = [];
  const entryAt = (i: number) =>
    page.subarray(
      NVS_FIRST_ENTRY_OFFSET + i * NVS_ENTRY_BYTES,
      NVS_FIRST_ENTRY_OFFSET + (i + 1) * NVS_ENTRY_BYTES,
    );
  const where = (i: number): NvsProblemLocation => ({
    page: p,
    entry: i,
    offset: p * NVS_PAGE_BYTES + NVS_FIRST_ENTRY_OFFSET + i * NVS_ENTRY_BYTES,
  });
  const name = (i: number) => `Page ${p} entry ${i} (at ${nvsHex(where(i).offset!)})`;
  for (let i = 0; i < NVS_ENTRIES_PER_PAGE;) {
    const state = entryState(page, i);
    if (state === NvsEntryState.EMPTY) {
      if (!allErased(entryAt(i))) {
        throw new NvsError('BAD_ENTRY_STATE', `${name(i)} is marked empty but holds data.`, where(i));
      }
      i++;
      continue;
    }
    if (state === NvsEntryState.ERASED) {
      i++;
      continue;
    }
    if (state !== NvsEntryState.WRITTEN) {
      throw new NvsError(
        'BAD_ENTRY_STATE',
        `${name(i)} has entry state 0b01, which NVS never writes.`,
        where(i),
      );
    }
    const entry = entryAt(i);
    const view = new DataView(entry.buffer, entry.byteOffset, NVS_ENTRY_BYTES);
    const storedCrc = view.getUint32(4, true);
    if (storedCrc !== nvsEntryCrc(entry)) {
      throw new NvsError(
        'BAD_ENTRY_CRC',
        `${name(i)}: header CRC ${nvsHex(storedCrc)} does not match (${nvsHex(nvsEntryCrc(entry))}); the entry is corrupt.`,
        where(i),
      );
    }
    const [ns, type, span, chunk] = entry;
    const key = readKey(entry, () => name(i), where(i));
    const bad = (why: string): NvsError =>
      new NvsError('BAD_ENTRY', `${name(i)} (key "${key}"): ${why}.`, { ...where(i), key });
    const item: RawItem = { page: p, order: 0, entry: i, ns, type, chunk, key, inline: entry.slice(24, 32) };
    if (nvsIntTypeOf(type) !== undefined) {
      if (span !== 1) throw bad(`a ${nvsIntTypeOf(type)} spans ${span} entries instead of 1`);
    } else if (type === NvsItemType.BLOB_IDX) {
      if (span !== 1) throw bad(`a blob index spans ${span} entries instead of 1`);
      if (chunk !== NVS_CHUNK_ANY) throw bad(`a blob index has chunk index ${chunk} instead of 0xff`);
      const size = view.getUint32(24, true);
      if (size > NVS_BLOB_MAX_BYTES) throw bad(`a blob index gives ${size} bytes, more than NVS can hold`);
    } else if (type === NvsItemType.SZ || type === NvsItemType.BLOB || type === NvsItemType.BLOB_DATA) {
      if (type === NvsItemType.BLOB_DATA && chunk === NVS_CHUNK_ANY)
        throw bad('a blob chunk has chunk index 0xff');
      if (type === NvsItemType.BLOB_DATA && info.version === 1)
        throw bad('a version-1 page holds a blob chunk');
      const size = view.getUint16(24, true);
      const left = NVS_ENTRIES_PER_PAGE - i;
      if (size > (left - 1) * NVS_ENTRY_BYTES) throw bad(`${size} data bytes run past the end of the page`);
      if (span > left) throw bad(`span ${span} runs past the end of the page`);
      if (span !== nvsSpanFor(size)) throw bad(`span ${span} does not fit ${size} data bytes`);
      for (let j = i + 1; j < i + span; j++) {
        if (entryState(page, j) !== NvsEntryState.WRITTEN) {
          throw new NvsError(
            'BAD_ENTRY_STATE',
            `${name(j)} holds data of key "${key}" but is not marked written.`,
            { ...where(j), key },
          );
        }
      }
      const start = NVS_FIRST_ENTRY_OFFSET + (i + 1) * NVS_ENTRY_BYTES;
      const data = page.slice(start, start + size);
      const storedDataCrc = view.getUint32(28, true);
      if (storedDataCrc !== nvsCrc32(data)) {
        throw new NvsError(
          'BAD_DATA_CRC',
          `${name(i)} (key "${key}"): data CRC ${nvsHex(storedDataCrc)} does not match its ${size} bytes (${nvsHex(nvsCrc32(data))}); the data is corrupt.`,
          { ...where(i), key },
        );
      }
      item.data = data;
    } else {
      throw bad(`item type ${nvsHex(type)} is not an NVS type`);
    }
    items.push(item);
    i += item.data ? span : 1;
  }
  return items;
}

function readKey(entry: Uint8Array, name: () => string, at: NvsProblemLocation): string {
  const field = entry.subarray(8, 24);
  const end = field.indexOf(0);
  if (end < 0) throw new NvsError('BAD_ENTRY', `${name()}: the key is not NUL-terminated.`, at);
  try {
    return strictUtf8.decode(field.subarray(0, end));
  } catch {
    throw new NvsError('BAD_ENTRY', `${name()}: the key is not valid UTF-8.`, at);
  }
}

function decodeItems(items: RawItem[]): { namespaces: NvsNamespace[]; entries: NvsDecodedEntry[] } {
  const at = (item: RawItem): NvsProblemLocation => ({ page: item.page, entry: item.entry, key: item.key });
  const where = (item: RawItem) => `page ${item.page} entry ${item.entry}`;
  // Namespaces first: an entry may precede its namespace's entry only after ESP-IDF moved pages around.
  const names = new Map<number, string>();
  for (const item of items.filter((it) => it.ns === 0)) {
    if (item.type !== NvsItemType.U8) {
      throw new NvsError(
        'BAD_NAMESPACE',
        `The namespace entry "${item.key}" (${where(item)}) has type ${nvsHex(item.type)} instead of u8.`,
        at(item),
      );
    }
    const index = item.inline[0];
    if (index < 1 || index > NVS_MAX_NAMESPACES) {
      throw new NvsError(
        'BAD_NAMESPACE',
        `The namespace "${item.key}" (${where(item)}) has index ${index}.`,
        at(item),
      );
    }
    const other = names.get(index);
    if (other !== undefined || [...names.values()].includes(item.key)) {
      throw new NvsError(
        'BAD_NAMESPACE',
        `The namespace "${item.key}" (${where(item)}) clashes with an earlier one${other === undefined ? '' : ` ("${other}" has index ${index})`}.`,
        at(item),
      );
    }
    names.set(index, item.key);
  }
  const nsName = (item: RawItem): string => {
    const name = names.get(item.ns);
    if (name === undefined) {
      throw new NvsError(
        'BAD_NAMESPACE',
        `The key "${item.key}" (${where(item)}) is in namespace index ${item.ns}, which no namespace entry defines.`,
        at(item),
      );
    }
    return name;
  };

  type Found = { item: RawItem; value: NvsValue };
  const found = new Map<string, Found>();
  const id = (ns: number, key: string) => `${ns}\0${key}`;
  const chunks = new Map<string, RawItem>();
  const indexes: RawItem[] = [];
  for (const item of items) {
    if (item.ns === 0) continue;
    nsName(item);
    const intType = nvsIntTypeOf(item.type);
    let value: NvsValue | undefined;
    if (intType) {
      value = decodeInt(intType, item.inline);
    } else if (item.type === NvsItemType.SZ) {
      value = { type: 'string', value: decodeString(item, where(item)) };
    } else if (item.type === NvsItemType.BLOB) {
      value = { type: 'blob', value: item.data! };
    } else if (item.type === NvsItemType.BLOB_DATA) {
      const chunkId = `${id(item.ns, item.key)}\0${item.chunk}`;
      if (chunks.has(chunkId)) {
        throw new NvsError(
          'BAD_BLOB',
          `Chunk ${item.chunk} of blob "${item.key}" appears twice (${where(chunks.get(chunkId)!)} and ${where(item)}).`,
          at(item),
        );
      }
      chunks.set(chunkId, item);
    } else {
      indexes.push(item);
    }
    // A later write of a key supersedes an earlier one, as on the device.
    if (value) found.set(id(item.ns, item.key), { item, value });
  }
  const claimed = new Set<string>();
  for (const index of indexes) {
    const view = new DataView(index.inline.buffer, index.inline.byteOffset, 8);
    const size = view.getUint32(0, true);
    const count = index.inline[4];
    const start = index.inline[5];
    const parts: RawItem[] = [];
    for (let c = start; c < start + count; c++) {
      const chunkId = `${id(index.ns, index.key)}\0${c}`;
      const part = chunks.get(chunkId);
      if (!part) {
        throw new NvsError(
          'BAD_BLOB',
          `The blob "${index.key}" (index at ${where(index)}) lacks chunk ${c} of ${count}.`,
          at(index),
        );
      }
      claimed.add(chunkId);
      parts.push(part);
    }
    const total = parts.reduce((n, part) => n + part.data!.length, 0);
    if (total !== size) {
      throw new NvsError(
        'BAD_BLOB',
        `The blob "${index.key}" (index at ${where(index)}) should hold ${size} bytes; its chunks hold ${total}.`,
        at(index),
      );
    }
    const value = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      value.set(part.data!, offset);
      offset += part.data!.length;
    }
    const first = parts[0] ?? index;
    found.set(id(index.ns, index.key), { item: first, value: { type: 'blob', value } });
  }
  for (const [chunkId, part] of chunks) {
    if (!claimed.has(chunkId)) {
      throw new NvsError(
        'BAD_BLOB',
        `Chunk ${part.chunk} of blob "${part.key}" (${where(part)}) belongs to no blob index.`,
        at(part),
      );
    }
  }
  const ordered = [...found.values()].sort(
    (a, b) => a.item.order - b.item.order || a.item.entry - b.item.entry,
  );
  const entries = ordered.map(({ item, value }) => ({
    namespace: names.get(item.ns)!,
    key: item.key,
    value,
    page: item.page,
    entry: item.entry,
  }));
  const namespaces = [...names.entries()]
    .sort(([a], [b]) => a - b)
    .map(([, name]) => ({
      name,
      entries: entries.filter((e) => e.namespace === name).map((e) => ({ key: e.key, value: e.value })),
    }));
  return { namespaces, entries };
}

function decodeInt(type: NonNullable<ReturnType<typeof nvsIntTypeOf>>, bytes: Uint8Array): NvsValue {
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  switch (type) {
    case 'u8':
      return { type, value: view.getUint8(0) };
    case 'i8':
      return { type, value: view.getInt8(0) };
    case 'u16':
      return { type, value: view.getUint16(0, true) };
    case 'i16':
      return { type, value: view.getInt16(0, true) };
    case 'u32':
      return { type, value: view.getUint32(0, true) };
    case 'i32':
      return { type, value: view.getInt32(0, true) };
    case 'u64':
      return { type, value: view.getBigUint64(0, true) };
    case 'i64':
      return { type, value: view.getBigInt64(0, true) };
  }
}

function decodeString(item: RawItem, where: string): string {
  const data = item.data!;
  if (data.length === 0 || data[data.length - 1] !== 0) {
    throw new NvsError('BAD_STRING', `The string "${item.key}" (${where}) does not end with a NUL.`, {
      page: item.page,
      entry: item.entry,
      key: item.key,
    });
  }
  try {
    return strictUtf8.decode(data.subarray(0, data.length - 1));
  } catch {
    throw new NvsError('BAD_STRING', `The string "${item.key}" (${where}) is not valid UTF-8.`, {
      page: item.page,
      entry: item.entry,
      key: item.key,
    });
  }
}

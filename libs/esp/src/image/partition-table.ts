import { createHash } from 'node:crypto';
import { toHex } from './digest.js';
import { hex, ImageError, type ImageProblem } from './problems.js';

/** Where ESP-IDF puts the partition table unless the build says otherwise. */
export const DEFAULT_PARTITION_TABLE_OFFSET = 0x8000;
/** The table region: one flash sector, of which 0xC00 bytes may hold entries. */
export const PARTITION_TABLE_SECTOR_BYTES = 0x1000;
export const PARTITION_TABLE_MAX_BYTES = 0xc00;
/** Bytes per entry. */
export const PARTITION_ENTRY_BYTES = 32;
/** First two bytes of every entry (0x50AA little-endian). */
export const PARTITION_MAGIC = [0xaa, 0x50] as const;
/** First two bytes of the MD5 entry. */
export const PARTITION_MD5_MAGIC = [0xeb, 0xeb] as const;
/** App partitions must start on a 64 KiB MMU page; everything else on a 4 KiB sector. */
export const APP_PARTITION_ALIGN = 0x10000;
export const DATA_PARTITION_ALIGN = 0x1000;

const TYPE_NAMES: Readonly<Record<number, string>> = {
  0x00: 'app',
  0x01: 'data',
  0x02: 'bootloader',
  0x03: 'partition_table',
};
const SUBTYPE_NAMES: Readonly<Record<number, Readonly<Record<number, string>>>> = {
  0x00: {
    0x00: 'factory',
    0x20: 'test',
    ...Object.fromEntries(Array.from({ length: 16 }, (_, i) => [0x10 + i, `ota_${i}`])),
  },
  0x01: {
    0x00: 'ota',
    0x01: 'phy',
    0x02: 'nvs',
    0x03: 'coredump',
    0x04: 'nvs_keys',
    0x05: 'efuse',
    0x06: 'undefined',
    0x80: 'esphttpd',
    0x81: 'fat',
    0x82: 'spiffs',
    0x83: 'littlefs',
  },
  0x02: { 0x00: 'primary', 0x01: 'ota', 0x02: 'recovery' },
  0x03: { 0x00: 'primary', 0x01: 'ota' },
};

/** One row of an ESP-IDF partition table. */
export interface PartitionEntry {
  label: string;
  type: number;
  subtype: number;
  /** "app", "data", ... or "0x40" for custom types. */
  typeName: string;
  /** "factory", "ota_0", "nvs", ... or a hex number. */
  subtypeName: string;
  offset: number;
  size: number;
  flags: number;
  encrypted: boolean;
  readonly: boolean;
}

/** A parsed partition table. */
export interface PartitionTable {
  entries: PartitionEntry[];
  /** Present when the table carries an MD5 entry. */
  md5?: { stored: string; computed: string; valid: boolean };
  /** Bytes of entries, MD5 entry and end marker. */
  length: number;
}

/** Options of parsePartitionTable. */
export interface ParsePartitionTableOptions {
  name?: string;
  /** Flash offset of the table, to check that no partition covers it. */
  tableOffset?: number;
  /** Flash size in bytes, to check that every partition fits. */
  flashSizeBytes?: number;
}

function typeName(type: number): string {
  return TYPE_NAMES[type] ?? hex(type, 2);
}

function subtypeName(type: number, subtype: number): string {
  return SUBTYPE_NAMES[type]?.[subtype] ?? hex(subtype, 2);
}

/** True for an app partition (factory, ota_N, test). */
export function isAppPartition(entry: PartitionEntry): boolean {
  return entry.type === 0x00;
}

/** True when `data` starts with a partition table entry. */
export function looksLikePartitionTable(data: Uint8Array): boolean {
  return (
    data.length >= PARTITION_ENTRY_BYTES && data[0] === PARTITION_MAGIC[0] && data[1] === PARTITION_MAGIC[1]
  );
}

/** Entries as stored, without any checks beyond the per-entry magic; for splitting merged images. */
export function readPartitionEntries(
  data: Uint8Array,
  name = 'partition table',
): PartitionTable & { problems: ImageProblem[] } {
  const problems: ImageProblem[] = [];
  if (!looksLikePartitionTable(data)) {
    problems.push({
      code: 'BAD_PARTITION_TABLE',
      message:
        data.length < PARTITION_ENTRY_BYTES
          ? `${name} is ${data.length} bytes, shorter than one 32-byte entry.`
          : `${name} does not start with the partition magic AA 50 (found ${hex(data[0], 2)} ${hex(data[1], 2)}).`,
    });
    return { entries: [], length: 0, problems };
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const entries: PartitionEntry[] = [];
  let md5: PartitionTable['md5'];
  let pos = 0;
  const limit = Math.min(data.length, PARTITION_TABLE_MAX_BYTES);
  for (; pos + PARTITION_ENTRY_BYTES <= limit; pos += PARTITION_ENTRY_BYTES) {
    const b0 = data[pos];
    const b1 = data[pos + 1];
    if (b0 === 0xff && b1 === 0xff) break;
    if (b0 === PARTITION_MD5_MAGIC[0] && b1 === PARTITION_MD5_MAGIC[1]) {
      const stored = toHex(data.subarray(pos + 16, pos + 32));
      const computed = createHash('md5').update(data.subarray(0, pos)).digest('hex');
      md5 = { stored, computed, valid: stored === computed };
      if (!md5.valid)
        problems.push({
          code: 'BAD_PARTITION_TABLE',
          message: `${name} MD5 entry does not match its entries (stored ${stored}, computed ${computed}): the table is corrupt.`,
        });
      pos += PARTITION_ENTRY_BYTES;
      break;
    }
    if (b0 !== PARTITION_MAGIC[0] || b1 !== PARTITION_MAGIC[1]) {
      problems.push({
        code: 'BAD_PARTITION_TABLE',
        message: `${name} entry ${entries.length} at byte ${pos} has bad magic ${hex(b0, 2)} ${hex(b1, 2)}.`,
      });
      break;
    }
    const labelBytes = data.subarray(pos + 12, pos + 28);
    const nul = labelBytes.indexOf(0);
    const type = data[pos + 2];
    const subtype = data[pos + 3];
    const flags = view.getUint32(pos + 28, true);
    entries.push({
      label: new TextDecoder().decode(nul === -1 ? labelBytes : labelBytes.subarray(0, nul)),
      type,
      subtype,
      typeName: typeName(type),
      subtypeName: subtypeName(type, subtype),
      offset: view.getUint32(pos + 4, true),
      size: view.getUint32(pos + 8, true),
      flags,
      encrypted: (flags & 1) !== 0,
      readonly: (flags & 2) !== 0,
    });
  }
  return { entries, md5, length: pos, problems };
}

/** Parses and checks an ESP-IDF partition table binary; throws ImageError listing every problem found. */
export function parsePartitionTable(
  data: Uint8Array,
  options: ParsePartitionTableOptions = {},
): PartitionTable {
  const name = options.name ?? 'partition table';
  const { entries, md5, length, problems } = readPartitionEntries(data, name);
  if (!entries.length && problems.length)
    throw new ImageError('BAD_PARTITION_TABLE', problems.map((p) => p.message).join(' '), { problems });
  if (entries.length === 0)
    problems.push({ code: 'BAD_PARTITION_TABLE', message: `${name} has no entries.` });

  const labels = new Set<string>();
  for (const e of entries) {
    const what = `partition "${e.label}" (${e.typeName}/${e.subtypeName} at ${hex(e.offset)}, ${e.size} bytes)`;
    if (labels.has(e.label))
      problems.push({
        code: 'BAD_PARTITION_TABLE',
        message: `${name} has two partitions named "${e.label}".`,
      });
    labels.add(e.label);
    if (e.size === 0) problems.push({ code: 'BAD_PARTITION_TABLE', message: `${what} has size 0.` });
    const align = isAppPartition(e) ? APP_PARTITION_ALIGN : DATA_PARTITION_ALIGN;
    if (e.offset % align !== 0)
      problems.push({
        code: 'BAD_PARTITION_TABLE',
        message: `${what} is not aligned to ${hex(align)}${isAppPartition(e) ? ' (app partitions must start on a 64 KiB page)' : ''}.`,
      });
    if (options.flashSizeBytes !== undefined && e.offset + e.size > options.flashSizeBytes)
      problems.push({
        code: 'EXCEEDS_FLASH_SIZE',
        message: `${what} ends at ${hex(e.offset + e.size)}, beyond the ${options.flashSizeBytes / 0x100000} MB flash.`,
      });
    const t = options.tableOffset;
    if (
      t !== undefined &&
      e.type !== 0x03 &&
      e.offset < t + PARTITION_TABLE_SECTOR_BYTES &&
      t < e.offset + e.size
    )
      problems.push({
        code: 'BAD_PARTITION_TABLE',
        message: `${what} covers the partition table itself at ${hex(t)}.`,
      });
  }
  const sorted = [...entries].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.offset < prev.offset + prev.size)
      problems.push({
        code: 'BAD_PARTITION_TABLE',
        message: `Partitions "${prev.label}" (${hex(prev.offset)}..${hex(prev.offset + prev.size)}) and "${cur.label}" (from ${hex(cur.offset)}) overlap.`,
      });
  }
  if (problems.length)
    throw new ImageError(problems[0].code, problems.map((p) => p.message).join(' '), { problems });
  return { entries, md5, length };
}

/** One row for buildPartitionTable. */
export interface PartitionSpec {
  label: string;
  type: 'app' | 'data' | number;
  /** A subtype name of the type ("factory", "ota_0", "nvs", "phy", ...) or its number. */
  subtype: string | number;
  offset: number;
  size: number;
  encrypted?: boolean;
  readonly?: boolean;
}

/** Builds a partition table binary (0xC00 bytes, 0xFF-padded) with an MD5 entry, as ESP-IDF's gen_esp32part does. */
export function buildPartitionTable(
  specs: readonly PartitionSpec[],
  options: { md5?: boolean } = {},
): Uint8Array {
  const out = new Uint8Array(PARTITION_TABLE_MAX_BYTES).fill(0xff);
  const view = new DataView(out.buffer);
  const maxEntries = PARTITION_TABLE_MAX_BYTES / PARTITION_ENTRY_BYTES - 2;
  if (specs.length > maxEntries)
    throw new ImageError(
      'BAD_PARTITION_TABLE',
      `A partition table holds at most ${maxEntries} entries; got ${specs.length}.`,
    );
  specs.forEach((spec, i) => {
    const pos = i * PARTITION_ENTRY_BYTES;
    const type = spec.type === 'app' ? 0 : spec.type === 'data' ? 1 : spec.type;
    let subtype: number | undefined;
    if (typeof spec.subtype === 'number') subtype = spec.subtype;
    else {
      const table = SUBTYPE_NAMES[type] ?? {};
      const found = Object.entries(table).find(([, n]) => n === spec.subtype);
      subtype = found ? Number(found[0]) : undefined;
    }
    if (subtype === undefined)
      throw new ImageError(
        'BAD_PARTITION_TABLE',
        `Unknown subtype "${String(spec.subtype)}" for partition type ${typeName(type)}.`,
      );
    const label = new TextEncoder().encode(spec.label);
    if (label.length > 15)
      throw new ImageError('BAD_PARTITION_TABLE', `Partition label "${spec.label}" is longer than 15 bytes.`);
    out.set(PARTITION_MAGIC, pos);
    out[pos + 2] = type;
    out[pos + 3] = subtype;
    view.setUint32(pos + 4, spec.offset, true);
    view.setUint32(pos + 8, spec.size, true);
    out.fill(0, pos + 12, pos + 28);
    out.set(label, pos + 12);
    view.setUint32(pos + 28, (spec.encrypted ? 1 : 0) | (spec.readonly ? 2 : 0), true);
  });
  if (options.md5 ?? true) {
    const pos = specs.length * PARTITION_ENTRY_BYTES;
    out.set(PARTITION_MD5_MAGIC, pos);
    out.set(createHash('md5').update(out.subarray(0, pos)).digest(), pos + 16);
  }
  return out;
}

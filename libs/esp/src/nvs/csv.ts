/**
 * ESP-IDF's NVS CSV (the input of `nvs_partition_gen.py` and the
 * manufacturing utility) as a recipe. Columns `key,type,encoding,value`;
 * `type` is `namespace` (starts a namespace; encoding and value unused),
 * `data` (the value is in the cell) or `file` (the cell names a file whose
 * contents are the value); encodings u8, i8, u16, i16, u32, i32, u64, i64,
 * string, hex2bin, base64, binary. Lines starting with "#" are comments.
 *
 * Pure: file rows are resolved through a callback the caller provides.
 */
import { CsvSyntaxError, parseCsv } from '../csv/rfc4180.js';
import { NvsError } from './errors.js';
import { NVS_KEY_MAX_BYTES, type NvsIntType } from './format.js';
import { normalizeNvsValue, type NvsNamespaceSpec, type NvsValueInput, utf8Length } from './recipe.js';

/** Encodings of the NVS CSV. */
export type NvsCsvEncoding = NvsIntType | 'string' | 'hex2bin' | 'base64' | 'binary';

/** One row of an NVS CSV. */
export interface NvsCsvRow {
  /** 1-based line of the row. */
  line: number;
  key: string;
  type: 'namespace' | 'data' | 'file';
  /** Empty for namespace rows. */
  encoding: NvsCsvEncoding | '';
  value: string;
}

/** The columns, in ESP-IDF's order. */
export const NVS_CSV_COLUMNS = ['key', 'type', 'encoding', 'value'] as const;

const INT_ENCODINGS = new Set<string>(['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'u64', 'i64']);
const FILE_ENCODINGS = new Set<string>(['string', 'hex2bin', 'base64', 'binary']);
const ENCODINGS = new Set<string>([...INT_ENCODINGS, ...FILE_ENCODINGS]);

function csvError(line: number, message: string, key?: string): NvsError {
  return new NvsError('INVALID_CSV', `NVS CSV line ${line}: ${message}`, { line, key });
}

/** Splits an NVS CSV into checked rows (header, row types, encodings); values are checked by nvsRecipeFromCsv. */
export function parseNvsCsv(text: string): NvsCsvRow[] {
  let records;
  try {
    records = parseCsv(text, { commentPrefix: '#' });
  } catch (err) {
    if (err instanceof CsvSyntaxError) throw csvError(err.line, `${err.message.replace(/^line \d+, /, '')}.`);
    throw err;
  }
  const [header, ...rows] = records;
  if (!header) throw csvError(1, 'the file is empty; it needs the header key,type,encoding,value.');
  const names = header.fields.map((f) => f.trim());
  for (const name of names) {
    if (!(NVS_CSV_COLUMNS as readonly string[]).includes(name)) {
      throw csvError(header.line, `unexpected column "${name}"; the columns are key,type,encoding,value.`);
    }
  }
  for (const column of NVS_CSV_COLUMNS) {
    if (names.filter((n) => n === column).length !== 1) {
      throw csvError(
        header.line,
        `the header needs the column "${column}" exactly once; the columns are key,type,encoding,value.`,
      );
    }
  }
  const col = Object.fromEntries(NVS_CSV_COLUMNS.map((c) => [c, names.indexOf(c)])) as Record<
    (typeof NVS_CSV_COLUMNS)[number],
    number
  >;
  return rows.map(({ line, fields }) => {
    const key = fields[col.key] ?? '';
    const type = (fields[col.type] ?? '').trim();
    if (type !== 'namespace' && type !== 'data' && type !== 'file') {
      throw csvError(line, `type "${type}" of key "${key}" is not namespace, data or file.`, key);
    }
    if (type === 'namespace') {
      return { line, key, type, encoding: '', value: '' };
    }
    if (fields.length !== names.length) {
      throw csvError(line, `key "${key}" has ${fields.length} fields; the header has ${names.length}.`, key);
    }
    const encoding = fields[col.encoding].trim();
    if (!ENCODINGS.has(encoding)) {
      throw csvError(
        line,
        `encoding "${encoding}" of key "${key}" is not one of u8, i8, u16, i16, u32, i32, u64, i64, string, hex2bin, base64, binary.`,
        key,
      );
    }
    if (type === 'file' && !FILE_ENCODINGS.has(encoding)) {
      throw csvError(
        line,
        `a file row (key "${key}") takes encoding string, hex2bin, base64 or binary.`,
        key,
      );
    }
    return { line, key, type, encoding: encoding as NvsCsvEncoding, value: fields[col.value] };
  });
}

/** The files the file rows name, in order, for the caller to read. */
export function nvsCsvFiles(rows: readonly NvsCsvRow[]): string[] {
  return [...new Set(rows.filter((r) => r.type === 'file').map((r) => r.value))];
}

/** Options of nvsRecipeFromCsv(). */
export interface NvsCsvOptions {
  /** Contents of a file named by a file row (undefined: no such file). */
  readFile?: (path: string) => Uint8Array | undefined;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
const utf8 = new TextEncoder();

function hexBytes(text: string, line: number, key: string): Uint8Array {
  const hex = text.trim();
  if (hex.length % 2 !== 0)
    throw csvError(line, `the hex2bin value of key "${key}" has an odd number of digits.`, key);
  if (!/^[0-9a-fA-F]*$/.test(hex))
    throw csvError(line, `the hex2bin value of key "${key}" is not hexadecimal.`, key);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function base64Bytes(text: string, line: number, key: string): Uint8Array {
  const b64 = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    throw csvError(line, `the base64 value of key "${key}" is not padded standard base64.`, key);
  }
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

/**
 * Turns NVS CSV text (or its parsed rows) into an ordered recipe. Keys of a
 * namespace named again later are added to it (ESP-IDF's generator would put
 * them into the most recently opened namespace instead).
 */
export function nvsRecipeFromCsv(
  input: string | readonly NvsCsvRow[],
  options: NvsCsvOptions = {},
): NvsNamespaceSpec[] {
  const rows = typeof input === 'string' ? parseNvsCsv(input) : input;
  const namespaces: Array<{ name: string; entries: Array<{ key: string; value: NvsValueInput }> }> = [];
  let current: (typeof namespaces)[number] | undefined;
  for (const row of rows) {
    const { line, key } = row;
    const what = row.type === 'namespace' ? 'namespace' : 'key';
    if (key.length === 0) throw csvError(line, `a ${what} name is empty.`);
    if (utf8Length(key) > NVS_KEY_MAX_BYTES) {
      throw csvError(line, `the ${what} name "${key}" is longer than ${NVS_KEY_MAX_BYTES} bytes.`, key);
    }
    if (row.type === 'namespace') {
      current = namespaces.find((ns) => ns.name === key);
      if (!current) {
        current = { name: key, entries: [] };
        namespaces.push(current);
      }
      continue;
    }
    if (!current) throw csvError(line, `key "${key}" comes before the first namespace row.`, key);
    if (current.entries.some((e) => e.key === key)) {
      throw csvError(line, `key "${key}" appears twice in namespace "${current.name}".`, key);
    }
    let text: string | undefined = row.value;
    let bytes: Uint8Array | undefined;
    if (row.type === 'file') {
      bytes = options.readFile?.(row.value);
      if (!bytes) throw csvError(line, `the file "${row.value}" of key "${key}" could not be read.`, key);
      if (row.encoding !== 'binary') {
        try {
          text = utf8Strict.decode(bytes);
        } catch {
          throw csvError(line, `the file "${row.value}" of key "${key}" is not UTF-8 text.`, key);
        }
      }
    }
    let value: NvsValueInput;
    switch (row.encoding) {
      case 'string':
        value = { type: 'string', value: text };
        break;
      case 'hex2bin':
        value = { type: 'blob', value: hexBytes(text, line, key) };
        break;
      case 'base64':
        value = { type: 'blob', value: base64Bytes(text, line, key) };
        break;
      case 'binary':
        value = { type: 'blob', value: bytes ?? utf8.encode(text) };
        break;
      case '':
        throw csvError(line, `key "${key}" has no encoding.`, key);
      case 'u8':
      case 'i8':
      case 'u16':
      case 'i16':
      case 'u32':
      case 'i32':
      case 'u64':
      case 'i64': {
        const digits = text.trim();
        if (!/^[+-]?\d+$/.test(digits)) {
          throw csvError(line, `the ${row.encoding} value of key "${key}" is not a decimal integer.`, key);
        }
        value = { type: row.encoding, value: digits };
      }
    }
    try {
      normalizeNvsValue(value, { namespace: current.name, key });
    } catch (err) {
      if (err instanceof NvsError) throw csvError(line, err.message, key);
      throw err;
    }
    current.entries.push({ key, value });
  }
  return namespaces;
}

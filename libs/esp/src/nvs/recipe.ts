/**
 * What goes into an NVS partition: namespaces of typed key/value pairs, and
 * their validation against what NVS can store. Messages name the namespace
 * and key, never the value: recipes carry per-unit secrets.
 */
import { NvsError } from './errors.js';
import {
  NVS_BLOB_MAX_BYTES,
  NVS_ENTRIES_PER_PAGE,
  NVS_ENTRY_BYTES,
  NVS_INT_RANGE,
  NVS_KEY_MAX_BYTES,
  NVS_MAX_NAMESPACES,
  NVS_V1_VARIABLE_MAX_BYTES,
  type NvsIntType,
} from './format.js';

/** A typed NVS value as the reader returns it: 64-bit integers as bigint, the rest as number. */
export type NvsValue =
  | { type: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32'; value: number }
  | { type: 'u64' | 'i64'; value: bigint }
  | { type: 'string'; value: string }
  | { type: 'blob'; value: Uint8Array };

/** A value as a recipe may give it: integers also as bigint or a decimal (or 0x hex) string. */
export type NvsValueInput =
  | { type: NvsIntType; value: number | bigint | string }
  | { type: 'string'; value: string }
  | { type: 'blob'; value: Uint8Array };

/** namespace → key → value. Written in property order (mind that JS puts integer-like names first). */
export type NvsRecipe = Record<string, Record<string, NvsValueInput>>;

/** One namespace of an ordered recipe. */
export interface NvsNamespaceSpec {
  name: string;
  entries: ReadonlyArray<{ key: string; value: NvsValueInput }>;
}

/** Either recipe form: a map, or namespaces in the order they are written. */
export type NvsRecipeInput = NvsRecipe | readonly NvsNamespaceSpec[];

/** A validated namespace: keys unique, values typed and in range. */
export interface NvsNamespace {
  name: string;
  entries: Array<{ key: string; value: NvsValue }>;
}

/** Format version of a partition: 2 (multi-page blobs, the default) or 1. */
export type NvsVersion = 1 | 2;

/**
 * Longest string, NUL included. ESP-IDF's generator starts a string on a new
 * page unless it ends before the page's last entry, so one page takes 124 data
 * entries at most; we follow it to produce the same layout.
 */
export const NVS_STRING_MAX_BYTES = (NVS_ENTRIES_PER_PAGE - 2) * NVS_ENTRY_BYTES;

const utf8 = new TextEncoder();

/** UTF-8 length of a string. */
export function utf8Length(text: string): number {
  return utf8.encode(text).length;
}

function checkName(name: unknown, what: 'namespace' | 'key', where: { namespace?: string }): string {
  const place = where.namespace === undefined ? '' : ` in namespace "${where.namespace}"`;
  if (typeof name !== 'string' || name.length === 0) {
    throw new NvsError(
      'INVALID_RECIPE',
      `A ${what} name${place} is empty; give every ${what} a name.`,
      where,
    );
  }
  const bytes = utf8Length(name);
  if (bytes > NVS_KEY_MAX_BYTES) {
    throw new NvsError(
      'INVALID_RECIPE',
      `The ${what} name "${name}"${place} is ${bytes} bytes; NVS allows at most ${NVS_KEY_MAX_BYTES}.`,
      { ...where, [what]: name },
    );
  }
  if (name.includes('\0')) {
    throw new NvsError('INVALID_RECIPE', `The ${what} name "${name}"${place} contains a NUL character.`, {
      ...where,
      [what]: name,
    });
  }
  return name;
}

/** Parses an integer given as number, bigint or string (decimal, or hex with 0x). */
function toBigInt(raw: number | bigint | string): bigint | undefined {
  if (typeof raw === 'bigint') return raw;
  if (typeof raw === 'number') return Number.isSafeInteger(raw) ? BigInt(raw) : undefined;
  if (typeof raw !== 'string') return undefined;
  const text = raw.trim();
  if (/^[+-]?\d+$/.test(text)) return BigInt(text);
  const hexMatch = /^([+-]?)0x([0-9a-f]+)$/i.exec(text);
  if (hexMatch) return (hexMatch[1] === '-' ? -1n : 1n) * BigInt(`0x${hexMatch[2]}`);
  return undefined;
}

/** Checks one value against its type and the format's limits; returns it typed. */
export function normalizeNvsValue(
  input: NvsValueInput,
  where: { namespace: string; key: string },
  version: NvsVersion = 2,
): NvsValue {
  const at = `key "${where.key}" in namespace "${where.namespace}"`;
  const type = (input as { type?: unknown } | undefined)?.type;
  switch (type) {
    case 'u8':
    case 'i8':
    case 'u16':
    case 'i16':
    case 'u32':
    case 'i32':
    case 'u64':
    case 'i64': {
      const n = toBigInt((input as { value: number | bigint | string }).value);
      if (n === undefined) {
        throw new NvsError(
          'INVALID_RECIPE',
          `The ${type} value of ${at} is not an integer (give a number, a bigint, or a decimal or 0x-hex string; numbers beyond 2^53 must be bigint or string).`,
          where,
        );
      }
      const [min, max] = NVS_INT_RANGE[type];
      if (n < min || n > max) {
        throw new NvsError(
          'INVALID_RECIPE',
          `The value of ${at} is outside the ${type} range ${min}..${max}.`,
          where,
        );
      }
      return type === 'u64' || type === 'i64' ? { type, value: n } : { type, value: Number(n) };
    }
    case 'string': {
      const value = (input as { value: unknown }).value;
      if (typeof value !== 'string') {
        throw new NvsError('INVALID_RECIPE', `The string value of ${at} is not a string.`, where);
      }
      if (value.includes('\0')) {
        throw new NvsError(
          'INVALID_RECIPE',
          `The string value of ${at} contains a NUL character; NVS strings end at the first NUL (store it as a blob).`,
          where,
        );
      }
      const bytes = utf8Length(value) + 1;
      const max = version === 1 ? NVS_V1_VARIABLE_MAX_BYTES : NVS_STRING_MAX_BYTES;
      if (bytes > max) {
        throw new NvsError(
          'INVALID_RECIPE',
          `The string value of ${at} is ${bytes} bytes with its NUL; a version-${version} NVS string holds at most ${max} (store longer data as a blob).`,
          where,
        );
      }
      return { type, value };
    }
    case 'blob': {
      const value = (input as { value: unknown }).value;
      if (!(value instanceof Uint8Array)) {
        throw new NvsError('INVALID_RECIPE', `The blob value of ${at} is not a byte array.`, where);
      }
      const max = version === 1 ? NVS_V1_VARIABLE_MAX_BYTES : NVS_BLOB_MAX_BYTES;
      if (value.length > max) {
        throw new NvsError(
          'INVALID_RECIPE',
          `The blob value of ${at} is ${value.length} bytes; a version-${version} NVS blob holds at most ${max}.`,
          where,
        );
      }
      return { type, value };
    }
    default:
      throw new NvsError(
        'INVALID_RECIPE',
        `The type of ${at} is ${JSON.stringify(type)}; use u8, i8, u16, i16, u32, i32, u64, i64, string or blob.`,
        where,
      );
  }
}

/** Validates a recipe (either form) and returns its namespaces in writing order. */
export function normalizeNvsRecipe(input: NvsRecipeInput, version: NvsVersion = 2): NvsNamespace[] {
  const specs: NvsNamespaceSpec[] = Array.isArray(input)
    ? [...(input as readonly NvsNamespaceSpec[])]
    : Object.entries(input as NvsRecipe).map(([name, keys]) => ({
        name,
        entries: Object.entries(keys ?? {}).map(([key, value]) => ({ key, value })),
      }));
  if (specs.length > NVS_MAX_NAMESPACES) {
    throw new NvsError(
      'INVALID_RECIPE',
      `The recipe has ${specs.length} namespaces; NVS allows at most ${NVS_MAX_NAMESPACES}.`,
    );
  }
  const seen = new Set<string>();
  return specs.map((spec) => {
    const name = checkName(spec.name, 'namespace', {});
    if (seen.has(name)) {
      throw new NvsError(
        'INVALID_RECIPE',
        `The namespace "${name}" appears twice; merge its keys into one.`,
        {
          namespace: name,
        },
      );
    }
    seen.add(name);
    const keys = new Set<string>();
    const entries = (spec.entries ?? []).map(({ key, value }) => {
      checkName(key, 'key', { namespace: name });
      if (keys.has(key)) {
        throw new NvsError('INVALID_RECIPE', `The key "${key}" appears twice in namespace "${name}".`, {
          namespace: name,
          key,
        });
      }
      keys.add(key);
      return { key, value: normalizeNvsValue(value, { namespace: name, key }, version) };
    });
    return { name, entries };
  });
}

/** The recipe map of decoded namespaces (namespace → key → value). */
export function nvsRecipeOf(namespaces: readonly NvsNamespace[]): Record<string, Record<string, NvsValue>> {
  return Object.fromEntries(
    namespaces.map((ns) => [ns.name, Object.fromEntries(ns.entries.map((e) => [e.key, e.value]))]),
  );
}

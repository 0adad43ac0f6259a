/**
 * A campaign's per-unit data recipe, without I/O: the checks made when the
 * campaign is created (templates, the firmware's nvs partition, the fit), the
 * filling-in of templates for one unit, and the unit's NVS partition bytes.
 *
 * Messages name namespaces, keys, fields and CSV rows, never a value: values
 * come from CSV columns that may be secret.
 */
import { createHash } from 'node:crypto';
import {
  ApiErrorCode,
  type CampaignUnitData,
  type NvsRecipeEntry,
  type NvsUnitRecipe,
  type UnitRegionRef,
} from '#contracts';
import {
  formatSerial,
  generateNvsPartition,
  NvsError,
  type NvsNamespaceSpec,
  type NvsValueInput,
} from '#esp';
import { ApiError } from '../common/api-error.js';
import { checkSerialRecipe } from './serial-allocator.js';

/** The code a unit fails with when the CSV has no row left for it (or none for its MAC). */
export const UNIT_DATA_EXHAUSTED = 'UNIT_DATA_EXHAUSTED';

/** Where the unit's NVS partition goes: the firmware's data/nvs partition. */
export interface NvsPlacement {
  label: string;
  offset: number;
  size: number;
}

/** What a template may refer to. */
type Piece = { text: string } | { field: 'serial' | 'mac' | 'mac_hex' } | { csv: string };

/** The values a unit's templates are filled with. */
export interface UnitDataContext {
  serial: string | null;
  /** aa:bb:cc:dd:ee:ff */
  mac: string;
  /** The unit's CSV row (column → text), when it has one. */
  csv?: Readonly<Record<string, string>>;
}

function invalid(field: string, message: string): ApiError {
  return new ApiError(ApiErrorCode.UNIT_DATA_INVALID, `${field}: ${message}`, [{ field, message }]);
}

/** Splits a template into literal text and references; throws a message (no value in it). */
export function parseTemplate(template: string): Piece[] {
  const pieces: Piece[] = [];
  let text = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if ((c === '{' || c === '}') && template[i + 1] === c) {
      text += c;
      i++;
      continue;
    }
    if (c === '}') throw new Error('has a "}" without its "{" (write "}}" for a literal brace)');
    if (c !== '{') {
      text += c;
      continue;
    }
    const end = template.indexOf('}', i);
    if (end < 0) throw new Error('has a "{" without its "}" (write "{{" for a literal brace)');
    const name = template.slice(i + 1, end).trim();
    if (text) pieces.push({ text });
    text = '';
    if (name === 'serial' || name === 'mac' || name === 'mac_hex') pieces.push({ field: name });
    else if (name.startsWith('csv:') && name.length > 4) pieces.push({ csv: name.slice(4).trim() });
    else throw new Error(`refers to {${name.slice(0, 40)}}; use {serial}, {mac}, {mac_hex} or {csv:COLUMN}`);
    i = end;
  }
  if (text) pieces.push({ text });
  return pieces;
}

function entryPieces(entry: NvsRecipeEntry): Piece[] {
  return typeof entry.value === 'number' ? [{ text: String(entry.value) }] : parseTemplate(entry.value);
}

/** Every CSV column the recipe refers to. */
export function csvColumnsOf(unitData: CampaignUnitData | undefined): string[] {
  const columns = new Set<string>();
  for (const ns of unitData?.nvs?.namespaces ?? [])
    for (const entry of ns.entries)
      for (const piece of entryPieces(entry)) if ('csv' in piece) columns.add(piece.csv);
  return [...columns];
}

/** The campaign's recipe as stored (a campaign made before recipes had parts may hold {}). */
export function unitDataOf(raw: unknown): CampaignUnitData {
  return typeof raw === 'object' && raw !== null ? raw : {};
}

/** The firmware's nvs partition: the one labelled as asked (default "nvs", else the only data/nvs one). */
export function nvsPlacement(
  partitions: unknown,
  label: string | undefined,
): NvsPlacement | { problem: string } {
  if (!Array.isArray(partitions) || partitions.length === 0)
    return {
      problem:
        'the firmware has no partition table, so there is no nvs partition to write; upload the firmware with its partition table (an ESP-IDF build bundle, or parts including partition-table.bin)',
    };
  const nvs = (partitions as Array<Record<string, unknown>>).filter(
    (p) => p.typeName === 'data' && p.subtypeName === 'nvs',
  );
  const chosen = label
    ? nvs.find((p) => p.label === label)
    : (nvs.find((p) => p.label === 'nvs') ?? (nvs.length === 1 ? nvs[0] : undefined));
  if (!chosen) {
    const names = nvs.map((p) => `"${String(p.label)}"`).join(', ');
    return {
      problem: label
        ? `the firmware's partition table has no data/nvs partition labelled "${label}" (its nvs partitions: ${names || 'none'})`
        : nvs.length
          ? `the firmware's partition table has several nvs partitions (${names}) and none labelled "nvs"; name one in unitData.nvs.partition`
          : "the firmware's partition table has no data/nvs partition; add one to the partition table (e.g. nvs, data, nvs, 0x9000, 0x6000)",
    };
  }
  return { label: String(chosen.label), offset: Number(chosen.offset), size: Number(chosen.size) };
}

function hexBytes(text: string): Uint8Array | undefined {
  const hex = text.replace(/[\s:]/g, '');
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function base64Bytes(text: string): Uint8Array | undefined {
  const b64 = text.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return undefined;
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

/** Fills in one entry's template; throws a message naming the entry (never its value). */
function entryValue(entry: NvsRecipeEntry, at: string, ctx: UnitDataContext): NvsValueInput {
  let text = '';
  for (const piece of entryPieces(entry)) {
    if ('text' in piece) text += piece.text;
    else if ('csv' in piece) {
      const cell = ctx.csv?.[piece.csv];
      if (cell === undefined)
        throw new Error(`${at} refers to the CSV column "${piece.csv}", which the unit's row does not have`);
      text += cell;
    } else if (piece.field === 'serial') {
      if (ctx.serial === null) throw new Error(`${at} refers to {serial}, but the unit has no serial number`);
      text += ctx.serial;
    } else if (piece.field === 'mac') text += ctx.mac;
    else text += ctx.mac.replace(/:/g, '');
  }
  switch (entry.type) {
    case 'string':
      return { type: 'string', value: text };
    case 'blob': {
      const encoding = entry.encoding ?? 'text';
      const bytes =
        encoding === 'hex'
          ? hexBytes(text)
          : encoding === 'base64'
            ? base64Bytes(text)
            : new Uint8Array(Buffer.from(text, 'utf8'));
      if (!bytes)
        throw new Error(
          `${at}: the filled-in value is not ${encoding === 'hex' ? 'hexadecimal' : 'padded base64'}`,
        );
      return { type: 'blob', value: bytes };
    }
    case 'u8':
    case 'i8':
    case 'u16':
    case 'i16':
    case 'u32':
    case 'i32':
    case 'u64':
    case 'i64':
      return { type: entry.type, value: text.trim() };
  }
}

/** The recipe filled in for one unit, in writing order. */
export function renderNvsRecipe(recipe: NvsUnitRecipe, ctx: UnitDataContext): NvsNamespaceSpec[] {
  return recipe.namespaces.map((ns) => ({
    name: ns.name,
    entries: ns.entries.map((entry) => ({
      key: entry.key,
      value: entryValue(entry, `key "${entry.key}" in namespace "${ns.name}"`, ctx),
    })),
  }));
}

/** One unit's NVS partition: its bytes and digests. Throws NvsError or Error (messages without values). */
export function buildNvsImage(
  recipe: NvsUnitRecipe,
  placement: NvsPlacement,
  ctx: UnitDataContext,
): { data: Uint8Array; sha256: string; md5: string } {
  const data = generateNvsPartition(renderNvsRecipe(recipe, ctx), {
    sizeBytes: placement.size,
    version: recipe.version ?? 2,
  });
  return {
    data,
    sha256: createHash('sha256').update(data).digest('hex'),
    md5: createHash('md5').update(data).digest('hex'),
  };
}

/** The unit region of a run payload. */
export function unitRegion(
  placement: NvsPlacement,
  image: { data: Uint8Array; sha256: string; md5: string },
): UnitRegionRef {
  return {
    offset: placement.offset,
    size: image.data.length,
    sha256: image.sha256,
    md5: image.md5,
    role: 'nvs',
    dataBase64: Buffer.from(image.data).toString('base64'),
  };
}

/** Stand-in CSV values for checks made before a CSV exists: what parses for the entry's type. */
function sampleCsv(recipe: NvsUnitRecipe): Record<string, string> {
  const sample: Record<string, string> = {};
  for (const ns of recipe.namespaces)
    for (const entry of ns.entries)
      for (const piece of entryPieces(entry))
        if ('csv' in piece) sample[piece.csv] = entry.type === 'string' || entry.type === 'blob' ? '' : '0';
  return sample;
}

/** A sample context: the first serial of the pattern, a zero MAC, and the given CSV row (or stand-ins). */
export function sampleContext(
  unitData: CampaignUnitData,
  csv?: Readonly<Record<string, string>>,
): UnitDataContext {
  const serial = unitData.serialPattern
    ? formatSerial(checkSerialRecipe(unitData.serialPattern, unitData.timeZone), 1, {
        timeZone: unitData.timeZone,
      })
    : null;
  return {
    serial,
    mac: '00:00:00:00:00:00',
    csv: csv ?? (unitData.nvs ? sampleCsv(unitData.nvs) : {}),
  };
}

/**
 * Checks a campaign's recipe against its firmware when the campaign is created: templates, the nvs
 * partition (present, not overlapping a firmware part), and that the recipe fits it. Throws
 * UNIT_DATA_INVALID naming the field and what to do.
 */
export function checkUnitData(
  unitData: CampaignUnitData,
  firmware: {
    id: string;
    metadata: unknown;
    parts: ReadonlyArray<{ offset: number; size: number; fileName: string }>;
  },
): NvsPlacement | undefined {
  if (unitData.serialPattern) checkSerialRecipe(unitData.serialPattern, unitData.timeZone);
  const recipe = unitData.nvs;
  if (!recipe) return undefined;
  recipe.namespaces.forEach((ns, i) =>
    ns.entries.forEach((entry, j) => {
      const field = `unitData.nvs.namespaces[${i}].entries[${j}].value`;
      let pieces: Piece[];
      try {
        pieces = entryPieces(entry);
      } catch (error) {
        throw invalid(field, `the template of key "${entry.key}" ${(error as Error).message}`);
      }
      if (!unitData.serialPattern && pieces.some((p) => 'field' in p && p.field === 'serial'))
        throw invalid(
          field,
          `key "${entry.key}" refers to {serial}, but the campaign allocates no serial numbers; add unitData.serialPattern`,
        );
      if (entry.encoding && entry.type !== 'blob')
        throw invalid(
          `unitData.nvs.namespaces[${i}].entries[${j}].encoding`,
          `key "${entry.key}" is a ${entry.type}; encoding applies to blobs only`,
        );
    }),
  );
  const metadata = (firmware.metadata ?? {}) as { partitions?: unknown };
  const placement = nvsPlacement(metadata.partitions, recipe.partition);
  if ('problem' in placement)
    throw invalid('unitData.nvs.partition', `firmware ${firmware.id}: ${placement.problem}`);
  const end = placement.offset + placement.size;
  const covering = firmware.parts.find((p) => p.offset < end && placement.offset < p.offset + p.size);
  if (covering)
    throw invalid(
      'unitData.nvs.partition',
      `the firmware's part ${covering.fileName} (0x${covering.offset.toString(16)}, ${covering.size} bytes) covers the nvs partition at 0x${placement.offset.toString(16)}; upload the firmware as separate parts or an ESP-IDF build bundle so the per-unit NVS has its own region`,
    );
  try {
    buildNvsImage(recipe, placement, sampleContext(unitData));
  } catch (error) {
    if (error instanceof NvsError || error instanceof Error)
      throw invalid(
        'unitData.nvs',
        `${error.message.replace(/\.$/, '')} (checked against the ${placement.size}-byte "${placement.label}" partition)`,
      );
    throw error;
  }
  return placement;
}

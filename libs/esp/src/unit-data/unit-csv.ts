/**
 * A CSV of per-unit values (serial numbers, calibration, cloud credentials):
 * one row per unit, keyed by the unit's MAC or consumed in order.
 *
 * A column is secret when its name starts with `secret_` or when the caller
 * declares it. Secret cells come back as SecretValue, which prints, logs and
 * serialises as "[secret]"; only reveal() gives the text. Errors name lines
 * and columns, never a cell's content (a malformed MAC in the key column
 * excepted: a MAC is not a secret, and seeing it helps).
 */
import { CsvSyntaxError, parseCsv } from '../csv/rfc4180.js';
import { normalizeMac } from '../targets/registry.js';
import { UnitDataError } from './errors.js';

/** Columns whose name starts with this are secret. */
export const SECRET_COLUMN_PREFIX = 'secret_';

/** What every rendering of a secret shows. */
export const REDACTED_SECRET = '[secret]';

/** A secret cell: unreadable by accident (toString, JSON, util.inspect), readable on purpose. */
export class SecretValue {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret text, for the one place that needs it (building the unit's NVS data). */
  reveal(): string {
    return this.#value;
  }

  /** Length in characters (safe to log). */
  get length(): number {
    return this.#value.length;
  }

  toString(): string {
    return REDACTED_SECRET;
  }

  toJSON(): string {
    return REDACTED_SECRET;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return REDACTED_SECRET;
  }
}

/** Options of parseUnitCsv(). */
export interface UnitCsvOptions {
  /** The column holding each unit's MAC (default "mac"); null: no key, rows are consumed in order. */
  keyColumn?: string | null;
  /** Secret columns besides those named secret_… */
  secretColumns?: readonly string[];
  /** Columns the CSV must have (besides the key column). */
  requiredColumns?: readonly string[];
}

/** A column of the CSV. */
export interface UnitCsvColumn {
  name: string;
  secret: boolean;
}

/** One unit's row. */
export interface UnitRow {
  /** 0-based position among the data rows (the order rows are consumed in). */
  index: number;
  /** 1-based line of the CSV where the row starts. */
  line: number;
  /** The unit's MAC (aa:bb:cc:dd:ee:ff) when the CSV is keyed. */
  mac?: string;
  /** Non-secret cells by column name (the key column included). */
  values: Record<string, string>;
  /** Secret cells by column name. */
  secrets: Record<string, SecretValue>;
}

/** A checked per-unit CSV. */
export interface UnitCsv {
  columns: UnitCsvColumn[];
  /** The key column, or undefined when rows are consumed in order. */
  keyColumn?: string;
  rows: UnitRow[];
  /** The row of a MAC (any common notation), if the CSV is keyed and has one. */
  byMac(mac: string): UnitRow | undefined;
}

/** True when a column is secret: declared so, or named secret_… */
export function isSecretColumn(name: string, declared: readonly string[] = []): boolean {
  return name.startsWith(SECRET_COLUMN_PREFIX) || declared.includes(name);
}

function headerError(line: number, message: string, column?: string): UnitDataError {
  return new UnitDataError('CSV_HEADER', `Unit CSV line ${line}: ${message}`, { line, column });
}

/** Reads and checks a per-unit CSV. */
export function parseUnitCsv(text: string, options: UnitCsvOptions = {}): UnitCsv {
  const keyColumn = options.keyColumn === undefined ? 'mac' : (options.keyColumn ?? undefined);
  const declared = options.secretColumns ?? [];
  let records;
  try {
    records = parseCsv(text);
  } catch (err) {
    if (err instanceof CsvSyntaxError) {
      throw new UnitDataError('CSV_SYNTAX', `Unit CSV ${err.message}.`, { line: err.line });
    }
    throw err;
  }
  const [header, ...body] = records;
  if (!header) throw headerError(1, 'the file is empty; the first line must name the columns.');
  const names = header.fields.map((f) => f.trim());
  names.forEach((name, i) => {
    if (!name) throw headerError(header.line, `column ${i + 1} has no name.`);
    if ([...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) {
      throw headerError(header.line, `column ${i + 1}'s name has a control character.`);
    }
    if (names.indexOf(name) !== i)
      throw headerError(header.line, `the column "${name}" appears twice.`, name);
  });
  for (const name of declared) {
    if (!names.includes(name)) {
      throw headerError(
        header.line,
        `the secret column "${name}" is not in the CSV (columns: ${names.join(', ')}).`,
        name,
      );
    }
  }
  for (const name of [...(keyColumn ? [keyColumn] : []), ...(options.requiredColumns ?? [])]) {
    if (!names.includes(name)) {
      throw headerError(header.line, `the column "${name}" is missing (columns: ${names.join(', ')}).`, name);
    }
  }
  if (keyColumn && isSecretColumn(keyColumn, declared)) {
    throw headerError(
      header.line,
      `the key column "${keyColumn}" cannot be secret: it identifies the unit.`,
      keyColumn,
    );
  }
  const columns = names.map((name) => ({ name, secret: isSecretColumn(name, declared) }));

  const byMac = new Map<string, UnitRow>();
  const rows = body.map(({ line, fields }, index): UnitRow => {
    if (fields.length !== names.length) {
      throw new UnitDataError(
        'CSV_ROW',
        `Unit CSV line ${line}: the row has ${fields.length} fields; the header has ${names.length}.`,
        { line },
      );
    }
    const row: UnitRow = { index, line, values: {}, secrets: {} };
    columns.forEach(({ name, secret }, i) => {
      if (secret) row.secrets[name] = new SecretValue(fields[i]);
      else row.values[name] = fields[i];
    });
    if (keyColumn) {
      const cell = row.values[keyColumn];
      const mac = normalizeMac(cell);
      if (!mac) {
        const shown = cell.trim() ? `"${cell.trim().slice(0, 40)}"` : 'nothing';
        throw new UnitDataError(
          'BAD_MAC',
          `Unit CSV line ${line}: the ${keyColumn} column holds ${shown}, not a MAC address (aa:bb:cc:dd:ee:ff).`,
          { line, column: keyColumn },
        );
      }
      const earlier = byMac.get(mac);
      if (earlier) {
        throw new UnitDataError(
          'DUPLICATE_MAC',
          `Unit CSV lines ${earlier.line} and ${line} are both for MAC ${mac}; keep one row per unit.`,
          { line, column: keyColumn },
        );
      }
      row.mac = mac;
      byMac.set(mac, row);
    }
    return row;
  });
  return {
    columns,
    keyColumn,
    rows,
    byMac: (mac) => {
      const key = normalizeMac(mac);
      return key === undefined ? undefined : byMac.get(key);
    },
  };
}

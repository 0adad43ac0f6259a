/** Stable codes for what is wrong with per-unit data: serial-number patterns and unit CSVs. */
export const UnitDataErrorCode = {
  /** A serial-number pattern that cannot be parsed or would not give unique serials. */
  BAD_PATTERN: 'BAD_PATTERN',
  /** A sequence number that is negative, not an integer, or too wide for the pattern's field. */
  BAD_SEQUENCE: 'BAD_SEQUENCE',
  /** A time zone the runtime does not know, or an invalid date. */
  BAD_DATE: 'BAD_DATE',
  /** The CSV cannot be split into records (quoting). */
  CSV_SYNTAX: 'CSV_SYNTAX',
  /** The CSV header is missing, has an empty, duplicate or missing column, or names a secret key column. */
  CSV_HEADER: 'CSV_HEADER',
  /** A row with the wrong number of fields. */
  CSV_ROW: 'CSV_ROW',
  /** A key cell that is not a MAC address. */
  BAD_MAC: 'BAD_MAC',
  /** Two rows for the same MAC. */
  DUPLICATE_MAC: 'DUPLICATE_MAC',
} as const;
/** One of UnitDataErrorCode. */
export type UnitDataErrorCode = (typeof UnitDataErrorCode)[keyof typeof UnitDataErrorCode];

/**
 * Per-unit data was refused. Messages name lines, columns and pattern
 * positions, never a cell's value (the MAC of a bad key cell excepted).
 */
export class UnitDataError extends Error {
  constructor(
    readonly code: UnitDataErrorCode,
    message: string,
    /** Where: 1-based CSV line, column name, pattern column. */
    readonly detail: { line?: number; column?: string; position?: number } = {},
  ) {
    super(message);
    this.name = 'UnitDataError';
  }
}

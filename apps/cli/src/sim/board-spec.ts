/** Values that describe a board (chip, flash size, wiring), read from flags, fleet files and control requests. */
import { type ChipName, chipNames, isChipName, type Wiring } from '#sim';
import { type FixtureLid, LID_LINES } from './fleet-runner.js';

/** A board description value that cannot be used; the message says what was wrong and what is accepted. */
export class SpecValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpecValueError';
  }
}

/** The reset wirings a board can have. */
export const WIRINGS: readonly Wiring[] = ['auto-reset', 'auto-reset-swapped', 'usb-serial-jtag', 'none'];

/** "ESP32-S3", "esp32_s3", "esp32s3" → esp32s3. */
export function checkChip(name: string): ChipName {
  const normalized = name.toLowerCase().replace(/[-_]/g, '');
  if (isChipName(normalized)) return normalized;
  throw new SpecValueError(`unknown chip "${name}"; valid chips: ${chipNames.join(', ')}`);
}

/** Accepts 4194304, "4MB", "4 MiB". */
export function parseFlashSize(value: unknown, where: string): number {
  if (typeof value === 'number') return value;
  const match = typeof value === 'string' ? /^\s*(\d+)\s*(MB|MiB|M)\s*$/i.exec(value) : null;
  if (!match)
    throw new SpecValueError(
      `${where}: flashSize must be bytes or like "4MB" (got ${JSON.stringify(value)})`,
    );
  return Number(match[1]) * 1024 * 1024;
}

/** One of WIRINGS. */
export function checkWiring(value: unknown, where: string): Wiring {
  if (!WIRINGS.includes(value as Wiring))
    throw new SpecValueError(`${where}: wiring must be one of ${WIRINGS.join(', ')}`);
  return value as Wiring;
}

/** One of LID_LINES. */
export function checkLidLine(value: unknown, where: string): FixtureLid['line'] {
  if (!LID_LINES.includes(value as FixtureLid['line']))
    throw new SpecValueError(
      `${where}: line must be one of ${LID_LINES.join(', ')} (the modem input the lid switch drives; got ${JSON.stringify(value)})`,
    );
  return value as FixtureLid['line'];
}

/** A fleet entry's `lid`: "cd" (open at start) or `{ line: cd, closed: false }`. */
export function parseLid(value: unknown, where: string): FixtureLid {
  if (typeof value === 'string') return { line: checkLidLine(value, `${where} lid`), closed: false };
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new SpecValueError(
      `${where}: lid must be a line name (${LID_LINES.join(', ')}) or { line, closed }`,
    );
  const item = value as Record<string, unknown>;
  const unknown = Object.keys(item).filter((key) => key !== 'line' && key !== 'closed');
  if (unknown.length > 0)
    throw new SpecValueError(`${where}: unknown lid key(s) ${unknown.join(', ')}; known: line, closed`);
  if (item.closed !== undefined && typeof item.closed !== 'boolean')
    throw new SpecValueError(
      `${where}: lid.closed must be true or false (got ${JSON.stringify(item.closed)})`,
    );
  return { line: checkLidLine(item.line, `${where} lid`), closed: item.closed === true };
}

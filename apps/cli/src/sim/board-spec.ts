/** Values that describe a board (chip, flash size, wiring), read from flags, fleet files and control requests. */
import { type ChipName, chipNames, isChipName, type Wiring } from '#sim';

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

import type { ChipTarget } from './types.js';

/** SPI flash modes in the image header (byte 2). */
export const FLASH_MODES = { qio: 0, qout: 1, dio: 2, dout: 3 } as const;
/** A flash mode name as esptool spells it. */
export type FlashModeName = keyof typeof FLASH_MODES;

const KB = 1024;
const MB = 1024 * KB;

/** JEDEC RDID capacity byte (byte 2) -> flash size in bytes. */
export const JEDEC_CAPACITY_BYTES: Readonly<Record<number, number>> = {
  0x12: 256 * KB,
  0x32: 256 * KB,
  0x13: 512 * KB,
  0x33: 512 * KB,
  0x14: 1 * MB,
  0x34: 1 * MB,
  0x15: 2 * MB,
  0x35: 2 * MB,
  0x16: 4 * MB,
  0x36: 4 * MB,
  0x17: 8 * MB,
  0x37: 8 * MB,
  0x18: 16 * MB,
  0x38: 16 * MB,
  0x19: 32 * MB,
  0x39: 32 * MB,
  0x1a: 64 * MB,
  0x3a: 64 * MB,
  0x20: 64 * MB,
  0x1b: 128 * MB,
  0x21: 128 * MB,
  0x1c: 256 * MB,
  0x22: 256 * MB,
};

/** Adesto (manufacturer 0x1F) encodes the size in the low 5 bits of the memory-type byte. */
const ADESTO_CAPACITY_BYTES: Readonly<Record<number, number>> = {
  4: 512 * KB,
  5: 1 * MB,
  6: 2 * MB,
  7: 4 * MB,
  8: 8 * MB,
  9: 16 * MB,
};

/** Manufacturer id of Adesto flash, which encodes capacity differently. */
export const JEDEC_MANUFACTURER_ADESTO = 0x1f;

/** Flash size from an RDID answer (W0 & 0xFFFFFF); undefined when the code is unknown (esptool then assumes 4 MB). */
export function flashSizeFromJedecId(flashId: number): number | undefined {
  const manufacturer = flashId & 0xff;
  const memoryType = (flashId >>> 8) & 0xff;
  const capacity = (flashId >>> 16) & 0xff;
  if (manufacturer === JEDEC_MANUFACTURER_ADESTO) return ADESTO_CAPACITY_BYTES[memoryType & 0x1f];
  return JEDEC_CAPACITY_BYTES[capacity];
}

/** RDID answers that mean no flash chip answered. */
export function isAbsentFlashId(flashId: number): boolean {
  const id = flashId & 0xffffff;
  return id === 0xffffff || id === 0x000000 || id === 0xffff3f;
}

/** "4MB", "512KB": the names esptool and the image tables use. */
export function flashSizeName(bytes: number): string {
  if (bytes >= MB && bytes % MB === 0) return `${bytes / MB}MB`;
  if (bytes >= KB && bytes % KB === 0) return `${bytes / KB}KB`;
  return `${bytes}B`;
}

/** Bytes in a size name like "4MB", "512KB" or "2MB-c1"; undefined when it is not a size. */
export function flashSizeBytes(name: string): number | undefined {
  const m = /^(\d+)(KB|MB)(-c1)?$/i.exec(name.trim());
  if (!m) return undefined;
  return Number(m[1]) * (m[2].toUpperCase() === 'MB' ? MB : KB);
}

/** Header size code -> name for a chip; undefined when the chip's table has no such code. */
export function flashSizeFromCode(target: ChipTarget, code: number): string | undefined {
  return Object.entries(target.flashSizes).find(([, c]) => c === code)?.[0];
}

/** Header frequency code -> name; for codes shared by two names (ESP32-C6 0x0) the first, as esptool does. */
export function flashFreqFromCode(target: ChipTarget, code: number): string | undefined {
  return Object.entries(target.flashFrequencies).find(([, c]) => c === code)?.[0];
}

/** Header mode byte -> name; undefined for values outside 0..3. */
export function flashModeFromCode(code: number): FlashModeName | undefined {
  return (Object.keys(FLASH_MODES) as FlashModeName[]).find((k) => FLASH_MODES[k] === code);
}

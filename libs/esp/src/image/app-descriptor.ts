import { ImageError } from './problems.js';

/** esp_app_desc_t.magic_word. */
export const APP_DESC_MAGIC = 0xabcd5432;
/** sizeof(esp_app_desc_t). */
export const APP_DESC_SIZE = 256;

// Field offsets of esp_app_desc_t (ESP-IDF components/esp_app_format/include/esp_app_desc.h).
const OFF_SECURE_VERSION = 4;
const OFF_VERSION = 16;
const OFF_PROJECT_NAME = 48;
const OFF_TIME = 80;
const OFF_DATE = 96;
const OFF_IDF_VER = 112;
const OFF_ELF_SHA256 = 144;
const OFF_MIN_EFUSE_BLK_REV = 176;
const OFF_MAX_EFUSE_BLK_REV = 178;
const OFF_MMU_PAGE_SIZE = 180;

/** The application description ESP-IDF embeds at the start of an app's first DROM segment. */
export interface AppDescriptor {
  secureVersion: number;
  version: string;
  projectName: string;
  compileTime: string;
  compileDate: string;
  idfVersion: string;
  /** First 32 bytes of the ELF's SHA-256, hex (esptool prints the first 8). */
  elfSha256: string;
  minEfuseBlockRevFull: number;
  maxEfuseBlockRevFull: number;
  /** log2 of the MMU page size the app was linked for; 0 on older IDF. */
  mmuPageSizeLog2: number;
}

function cString(bytes: Uint8Array, offset: number, size: number): string {
  const field = bytes.subarray(offset, offset + size);
  const nul = field.indexOf(0);
  return new TextDecoder('utf-8', { fatal: false }).decode(nul === -1 ? field : field.subarray(0, nul));
}

/** True when `bytes` starts with the app descriptor magic. */
export function hasAppDescriptor(bytes: Uint8Array): boolean {
  return (
    bytes.length >= APP_DESC_SIZE &&
    new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) === APP_DESC_MAGIC
  );
}

/** Reads an esp_app_desc_t from the start of `bytes`. */
export function parseAppDescriptor(bytes: Uint8Array): AppDescriptor {
  if (!hasAppDescriptor(bytes))
    throw new ImageError(
      'NOT_AN_IMAGE',
      'No ESP-IDF app descriptor (magic 0xABCD5432) at the start of the first data segment.',
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, APP_DESC_SIZE);
  return {
    secureVersion: view.getUint32(OFF_SECURE_VERSION, true),
    version: cString(bytes, OFF_VERSION, 32),
    projectName: cString(bytes, OFF_PROJECT_NAME, 32),
    compileTime: cString(bytes, OFF_TIME, 16),
    compileDate: cString(bytes, OFF_DATE, 16),
    idfVersion: cString(bytes, OFF_IDF_VER, 32),
    elfSha256: Buffer.from(bytes.subarray(OFF_ELF_SHA256, OFF_ELF_SHA256 + 32)).toString('hex'),
    minEfuseBlockRevFull: view.getUint16(OFF_MIN_EFUSE_BLK_REV, true),
    maxEfuseBlockRevFull: view.getUint16(OFF_MAX_EFUSE_BLK_REV, true),
    mmuPageSizeLog2: bytes[OFF_MMU_PAGE_SIZE],
  };
}

/** Fields for encodeAppDescriptor; strings longer than their C field are refused. */
export interface AppDescriptorFields {
  projectName: string;
  version: string;
  idfVersion?: string;
  compileDate?: string;
  compileTime?: string;
  secureVersion?: number;
  elfSha256?: Uint8Array;
  mmuPageSizeLog2?: number;
}

function putString(target: Uint8Array, offset: number, size: number, value: string, field: string): void {
  const bytes = new TextEncoder().encode(value);
  // The C field must keep a terminating NUL.
  if (bytes.length >= size)
    throw new ImageError(
      'BAD_SEGMENT',
      `App descriptor ${field} "${value}" is ${bytes.length} bytes; at most ${size - 1} fit.`,
    );
  target.set(bytes, offset);
}

/** Builds the 256 bytes of an esp_app_desc_t. */
export function encodeAppDescriptor(fields: AppDescriptorFields): Uint8Array {
  const out = new Uint8Array(APP_DESC_SIZE);
  const view = new DataView(out.buffer);
  view.setUint32(0, APP_DESC_MAGIC, true);
  view.setUint32(OFF_SECURE_VERSION, fields.secureVersion ?? 0, true);
  putString(out, OFF_VERSION, 32, fields.version, 'version');
  putString(out, OFF_PROJECT_NAME, 32, fields.projectName, 'project name');
  putString(out, OFF_TIME, 16, fields.compileTime ?? '00:00:00', 'compile time');
  putString(out, OFF_DATE, 16, fields.compileDate ?? 'Jan  1 2026', 'compile date');
  putString(out, OFF_IDF_VER, 32, fields.idfVersion ?? 'v5.3.1', 'IDF version');
  if (fields.elfSha256) out.set(fields.elfSha256.subarray(0, 32), OFF_ELF_SHA256);
  view.setUint16(OFF_MAX_EFUSE_BLK_REV, 99, true);
  out[OFF_MMU_PAGE_SIZE] = fields.mmuPageSizeLog2 ?? 16;
  return out;
}

/** esp_bootloader_desc_t.magic_byte (ESP-IDF 5.2+ bootloaders). */
export const BOOTLOADER_DESC_MAGIC_BYTE = 0x50;
/** sizeof(esp_bootloader_desc_t). */
export const BOOTLOADER_DESC_SIZE = 80;

/** What ESP-IDF 5.2+ puts at the start of a bootloader's first DRAM segment. */
export interface BootloaderDescriptor {
  /** Bootloader version (CONFIG_BOOTLOADER_PROJECT_VER). */
  version: number;
  /** Byte 3: secure_version in newer IDF, reserved (0) before. */
  secureVersion: number;
  idfVersion: string;
  dateTime: string;
}

const PRINTABLE = /^[\x20-\x7e]*$/;

/**
 * Reads an esp_bootloader_desc_t from the start of `bytes`, or undefined when there is none. A single
 * magic byte is weak evidence, so the text fields must also look like text.
 */
export function parseBootloaderDescriptor(bytes: Uint8Array): BootloaderDescriptor | undefined {
  if (bytes.length < BOOTLOADER_DESC_SIZE || bytes[0] !== BOOTLOADER_DESC_MAGIC_BYTE) return undefined;
  const idf = bytes.subarray(8, 40);
  const date = bytes.subarray(40, 64);
  if (idf.indexOf(0) <= 0 || date.indexOf(0) === -1) return undefined;
  const idfVersion = cString(bytes, 8, 32);
  const dateTime = cString(bytes, 40, 24);
  if (!PRINTABLE.test(idfVersion) || !PRINTABLE.test(dateTime)) return undefined;
  return {
    version: new DataView(bytes.buffer, bytes.byteOffset + 4, 4).getUint32(0, true),
    secureVersion: bytes[3],
    idfVersion,
    dateTime,
  };
}

/** Builds the 80 bytes of an esp_bootloader_desc_t. */
export function encodeBootloaderDescriptor(fields: {
  version?: number;
  idfVersion?: string;
  dateTime?: string;
}): Uint8Array {
  const out = new Uint8Array(BOOTLOADER_DESC_SIZE);
  out[0] = BOOTLOADER_DESC_MAGIC_BYTE;
  new DataView(out.buffer).setUint32(4, fields.version ?? 1, true);
  putString(out, 8, 32, fields.idfVersion ?? 'v5.3.1', 'IDF version');
  putString(out, 40, 24, fields.dateTime ?? 'Jan  1 2026 12:00:00', 'date and time');
  return out;
}

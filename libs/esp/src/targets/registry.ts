import { EspError } from '../errors.js';
import { ESP32 } from './esp32.js';
import { ESP32C2 } from './esp32c2.js';
import { ESP32C3 } from './esp32c3.js';
import { ESP32C6 } from './esp32c6.js';
import { ESP32H2 } from './esp32h2.js';
import { ESP32P4 } from './esp32p4.js';
import { ESP32S2 } from './esp32s2.js';
import { ESP32S3 } from './esp32s3.js';
import { ESP8266 } from './esp8266.js';
import type { ChipIdentity, ChipName, ChipTarget, RegisterReader } from './types.js';

/** Address of the word that identifies the chip family (CHIP_DETECT_MAGIC_REG). */
export const CHIP_DETECT_MAGIC_REG_ADDR = 0x40001000;

/** Every supported chip, in the order esptool lists them. */
export const CHIP_TARGETS: readonly ChipTarget[] = [
  ESP8266,
  ESP32,
  ESP32S2,
  ESP32S3,
  ESP32C2,
  ESP32C3,
  ESP32C6,
  ESP32H2,
  ESP32P4,
];

const BY_NAME = new Map<string, ChipTarget>(CHIP_TARGETS.map((t) => [t.name, t]));

/** Image chip ids of pre-release silicon that no current tool accepts. */
const RETIRED_IMAGE_CHIP_IDS: Readonly<Record<number, string>> = {
  4: 'ESP32-S3 beta 2',
  6: 'ESP32-S3 beta 3',
  7: 'ESP32-C6 beta',
  10: 'ESP32-H2 beta 1',
  14: 'ESP32-H2 beta 2',
  17: 'ESP32-C5 beta 3',
};

/** True when `name` is a chip this library supports. */
export function isChipName(name: string): name is ChipName {
  return BY_NAME.has(name);
}

/** Looks a chip up by name; accepts esptool spellings like "ESP32-S3" or "esp32-s3". */
export function findTarget(name: string): ChipTarget | undefined {
  return BY_NAME.get(name.toLowerCase().replace(/[-_\s]/g, ''));
}

/** The target for a chip name; throws INVALID_ARGUMENT naming the supported chips otherwise. */
export function getTarget(name: string): ChipTarget {
  const target = findTarget(name);
  if (!target)
    throw new EspError(
      `Unknown chip "${name}". Supported chips: ${CHIP_TARGETS.map((t) => t.name).join(', ')}.`,
      {
        code: 'INVALID_ARGUMENT',
        detail: { chip: name },
      },
    );
  return target;
}

/** The chip whose magic word (READ_REG 0x40001000) this is, if any. */
export function detectChipFromMagic(word: number): ChipTarget | undefined {
  const value = word >>> 0;
  return CHIP_TARGETS.find((t) => t.magicValues.includes(value));
}

/** The chip an image extended header's chip_id names, if any. */
export function chipFromImageId(chipId: number): ChipTarget | undefined {
  return CHIP_TARGETS.find((t) => t.imageChipId === chipId);
}

/** Name of a retired pre-release chip id, for error messages. */
export function retiredChipName(chipId: number): string | undefined {
  return RETIRED_IMAGE_CHIP_IDS[chipId];
}

/** Flag bits of the GET_SECURITY_INFO reply. */
export const SECURITY_FLAG = {
  SECURE_BOOT_EN: 1 << 0,
  SECURE_BOOT_AGGRESSIVE_REVOKE: 1 << 1,
  SECURE_DOWNLOAD_ENABLE: 1 << 2,
  SECURE_BOOT_KEY_REVOKE0: 1 << 3,
  SECURE_BOOT_KEY_REVOKE1: 1 << 4,
  SECURE_BOOT_KEY_REVOKE2: 1 << 5,
  SOFT_DIS_JTAG: 1 << 6,
  HARD_DIS_JTAG: 1 << 7,
  DIS_USB: 1 << 8,
  DIS_DOWNLOAD_DCACHE: 1 << 9,
  DIS_DOWNLOAD_ICACHE: 1 << 10,
} as const;

/** Decoded GET_SECURITY_INFO payload. */
export interface SecurityInfo {
  flags: number;
  flashCryptCount: number;
  keyPurposes: number[];
  /** Absent in the 12-byte ESP32-S2 form. */
  chipId?: number;
  apiVersion?: number;
  secureBootEnabled: boolean;
  /** Secure Download Mode: only a subset of commands works and no stub can run. */
  secureDownloadEnabled: boolean;
  /** An odd number of set bits in flash_crypt_cnt. */
  flashEncryptionEnabled: boolean;
}

/** Parses a GET_SECURITY_INFO payload (12 bytes on ESP32-S2, 20 elsewhere; status bytes excluded). */
export function parseSecurityInfo(payload: Uint8Array): SecurityInfo {
  if (payload.length !== 12 && payload.length !== 20)
    throw new EspError(`GET_SECURITY_INFO returned ${payload.length} bytes; expected 12 (ESP32-S2) or 20.`, {
      code: 'FRAMING',
      stage: 'detect',
      command: 0x14,
      detail: { length: payload.length },
    });
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const flags = view.getUint32(0, true);
  const flashCryptCount = payload[4];
  let ones = 0;
  for (let v = flashCryptCount; v; v &= v - 1) ones++;
  return {
    flags,
    flashCryptCount,
    keyPurposes: Array.from(payload.subarray(5, 12)),
    chipId: payload.length === 20 ? view.getUint32(12, true) : undefined,
    apiVersion: payload.length === 20 ? view.getUint32(16, true) : undefined,
    secureBootEnabled: (flags & SECURITY_FLAG.SECURE_BOOT_EN) !== 0,
    secureDownloadEnabled: (flags & SECURITY_FLAG.SECURE_DOWNLOAD_ENABLE) !== 0,
    flashEncryptionEnabled: (ones & 1) === 1,
  };
}

/**
 * The chip a GET_SECURITY_INFO payload identifies: the 12-byte form is ESP32-S2, the 20-byte
 * form carries chip_id. Undefined for an unknown or retired id (the caller falls back to the magic read).
 */
export function chipFromSecurityInfo(payload: Uint8Array): ChipTarget | undefined {
  const info = parseSecurityInfo(payload);
  if (info.chipId === undefined) return ESP32S2;
  return CHIP_TARGETS.find((t) => t.securityInfoChipId === info.chipId);
}

/** Wraps already-read register values as a reader; a missing address is a bug in the caller. */
export function registerReader(
  values: ReadonlyMap<number, number> | Readonly<Record<number, number>>,
): RegisterReader {
  const get =
    values instanceof Map
      ? (a: number) => (values as ReadonlyMap<number, number>).get(a)
      : (a: number) => (values as Readonly<Record<number, number>>)[a];
  return (address) => {
    const value = get(address);
    if (value === undefined)
      throw new EspError(
        `Register 0x${address.toString(16).padStart(8, '0')} was not read; read every address the target lists first.`,
        {
          code: 'INTERNAL',
          stage: 'detect',
          detail: { address },
        },
      );
    return value >>> 0;
  };
}

/** Base MAC from the chip's eFuse/OTP words (read `target.macRegisters` first). */
export function decodeMac(chip: ChipTarget | ChipName, read: RegisterReader): Uint8Array {
  const target = typeof chip === 'string' ? getTarget(chip) : chip;
  return target.decodeMac(read);
}

/** MAC, revision, package and features (read `target.identityRegisters` first). */
export function describeChip(chip: ChipTarget | ChipName, read: RegisterReader): ChipIdentity {
  const target = typeof chip === 'string' ? getTarget(chip) : chip;
  return target.decodeIdentity(read);
}

/** "aa:bb:cc:dd:ee:ff", lowercase. */
export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/**
 * A MAC as people write it (AA-BB-CC-DD-EE-FF, aa:bb:…, aabbccddeeff,
 * aabb.ccdd.eeff) in the form formatMac() gives; undefined when it is not a 48-bit MAC.
 */
export function normalizeMac(text: string): string | undefined {
  const t = text.trim();
  const ok =
    /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i.test(t) ||
    /^[0-9a-f]{12}$/i.test(t) ||
    /^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i.test(t);
  return ok ? t.replace(/[:.-]/g, '').toLowerCase().match(/../g)!.join(':') : undefined;
}

/** Crystal frequency and, for estimated ones, the raw estimate. */
export interface CrystalEstimate {
  mhz: number;
  /** The unrounded estimate (equals mhz for fixed crystals). */
  estimatedMhz: number;
  /** True when the estimate was more than 1 MHz from a standard value (a baud mismatch or odd board). */
  suspicious: boolean;
}

/**
 * Crystal frequency: fixed on newer chips; on ESP8266/ESP32/C2 estimated from the UART divider the
 * ROM's autobaud chose at `baud` (pass the value read from `crystal.clkdivRegister`).
 */
export function crystalFrequency(
  target: ChipTarget,
  options: { clkdiv?: number; baud: number },
): CrystalEstimate {
  const source = target.crystal;
  if (source.kind === 'fixed') return { mhz: source.mhz, estimatedMhz: source.mhz, suspicious: false };
  if (options.clkdiv === undefined)
    throw new EspError(
      `${target.displayName} needs UART_CLKDIV (0x${source.clkdivRegister.toString(16)}) to estimate its crystal.`,
      {
        code: 'INVALID_ARGUMENT',
        stage: 'detect',
      },
    );
  const estimated = (options.baud * (options.clkdiv & 0xfffff)) / 1e6 / source.xtalClockDivider;
  const mhz = estimated > 45 ? 48 : estimated > 33 ? 40 : 26;
  return { mhz, estimatedMhz: estimated, suspicious: Math.abs(estimated - mhz) > 1 };
}

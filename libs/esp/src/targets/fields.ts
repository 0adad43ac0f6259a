import type { ChipRevision, RegisterReader, RomCapabilities, SpiRegisters } from './types.js';

/** Bits hi..lo (inclusive) of a register word. */
export function bits(word: number, hi: number, lo: number): number {
  const width = hi - lo + 1;
  return width >= 32 ? word >>> 0 : (word >>> lo) & ((1 << width) - 1);
}

/** The MAC layout of ESP32-S2 and later: mac1[15:8], mac1[7:0], mac0[31:24..7:0]. */
export function macFromWords(read: RegisterReader, mac0Address: number): Uint8Array {
  const mac0 = read(mac0Address);
  const mac1 = read(mac0Address + 4);
  return Uint8Array.of(
    bits(mac1, 15, 8),
    bits(mac1, 7, 0),
    bits(mac0, 31, 24),
    bits(mac0, 23, 16),
    bits(mac0, 15, 8),
    bits(mac0, 7, 0),
  );
}

/** A revision from its two eFuse fields. */
export function revision(major: number, minor: number): ChipRevision {
  return { major, minor, full: major * 100 + minor };
}

/** Flash size codes of the ESP32 family, 1 MB to 128 MB as esptool v5 accepts them (high nibble of header byte 3). */
export const FLASH_SIZES_UP_TO_128MB: Readonly<Record<string, number>> = {
  '1MB': 0x0,
  '2MB': 0x1,
  '4MB': 0x2,
  '8MB': 0x3,
  '16MB': 0x4,
  '32MB': 0x5,
  '64MB': 0x6,
  '128MB': 0x7,
};

/** The usual frequency codes (ESP8266, ESP32, S2, S3, C3, P4). */
export const FLASH_FREQ_STANDARD: Readonly<Record<string, number>> = {
  '80m': 0xf,
  '40m': 0x0,
  '26m': 0x1,
  '20m': 0x2,
};

/** ROM capabilities shared by every ESP32-family ROM after the original ESP32. */
export const ROM_S2_AND_LATER: RomCapabilities = {
  deflate: true,
  changeBaudrate: true,
  md5: true,
  readFlashSlow: true,
  spiSetParams: true,
  spiAttach: true,
  getSecurityInfo: true,
};

/** SPI register offsets of S2 and later (LSB-aligned address, data at W0 = +0x58). */
export function spiLayoutS2(base: number): SpiRegisters {
  return {
    base,
    usrOffset: 0x18,
    usr1Offset: 0x1c,
    usr2Offset: 0x20,
    mosiDlenOffset: 0x24,
    misoDlenOffset: 0x28,
    w0Offset: 0x58,
    addrMsbAligned: false,
  };
}

/** Register addresses word0..word(n-1) of an eFuse block. */
export function words(base: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => base + 4 * i);
}

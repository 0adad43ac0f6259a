import {
  bits,
  FLASH_FREQ_STANDARD,
  FLASH_SIZES_UP_TO_128MB,
  macFromWords,
  revision,
  words,
} from './fields.js';
import type { ChipTarget } from './types.js';

const EFUSE_RD_BASE = 0x3ff5a000;
const EFUSE_WORD = (n: number): number => EFUSE_RD_BASE + 4 * n;
const APB_CTL_DATE = 0x3ff6607c;

const PACKAGE_NAMES: Readonly<Record<number, string>> = {
  0: 'ESP32-D0WDQ6',
  1: 'ESP32-D0WD',
  2: 'ESP32-D2WD',
  4: 'ESP32-U4WDH',
  5: 'ESP32-PICO-D4',
  6: 'ESP32-PICO-V3-02',
  7: 'ESP32-D0WDR2-V3',
};

/** The original ESP32: 4-byte ROM status, no GET_SECURITY_INFO, crystal estimated from the UART divider. */
export const ESP32: ChipTarget = {
  name: 'esp32',
  displayName: 'ESP32',
  magicValues: [0x00f01d83],
  imageChipId: 0,
  bootloaderOffset: 0x1000,
  romStatusBytes: 4,
  rom: {
    deflate: true,
    changeBaudrate: true,
    md5: true,
    readFlashSlow: true,
    spiSetParams: true,
    spiAttach: true,
    getSecurityInfo: false,
  },
  uartDateRegister: 0x60000078,
  crystal: { kind: 'uart-divider', clkdivRegister: 0x3ff40014, xtalClockDivider: 1 },
  spi: {
    base: 0x3ff42000,
    usrOffset: 0x1c,
    usr1Offset: 0x20,
    usr2Offset: 0x24,
    mosiDlenOffset: 0x28,
    misoDlenOffset: 0x2c,
    w0Offset: 0x80,
    addrMsbAligned: true,
  },
  macRegisters: [EFUSE_WORD(1), EFUSE_WORD(2)],
  identityRegisters: [...words(EFUSE_RD_BASE, 7), APB_CTL_DATE],
  // word2 bits 31..16 are the MAC CRC and are dropped; the rest has the S2 layout with word1 as mac0.
  decodeMac: (read) => macFromWords(read, EFUSE_WORD(1)),
  decodeIdentity(read) {
    const word3 = read(EFUSE_WORD(3));
    const word5 = read(EFUSE_WORD(5));
    const combined =
      (bits(read(APB_CTL_DATE), 31, 31) << 2) | (bits(word5, 20, 20) << 1) | bits(word3, 15, 15);
    const major = ({ 0: 0, 1: 1, 3: 2, 7: 3 } as Record<number, number>)[combined] ?? 0;
    const minor = bits(word5, 25, 24);
    const pkg = bits(word3, 11, 9) | (bits(word3, 2, 2) << 3);
    const singleCore = bits(word3, 0, 0) === 1;
    let name = PACKAGE_NAMES[pkg] ?? 'unknown ESP32';
    if (singleCore && (pkg === 0 || pkg === 1)) name = name.replace('ESP32-D0', 'ESP32-S0');
    if (pkg === 5 && major === 3) name = 'ESP32-PICO-V3';
    if (name.startsWith('ESP32-D0WD') && major === 3) name += '-V3';
    const features = ['WiFi'];
    if (bits(word3, 1, 1) === 0) features.push('BT');
    features.push(singleCore ? 'Single Core' : 'Dual Core');
    if (bits(word3, 13, 13) === 1) features.push(bits(word3, 12, 12) === 1 ? '160MHz' : '240MHz');
    if ([2, 4, 5, 6].includes(pkg)) features.push('Embedded Flash');
    if (pkg === 6) features.push('Embedded PSRAM');
    return {
      mac: macFromWords(read, EFUSE_WORD(1)),
      revision: revision(major, minor),
      packageVersion: pkg,
      description: `${name} (revision v${major}.${minor})`,
      features,
    };
  },
  flashSizes: FLASH_SIZES_UP_TO_128MB,
  flashFrequencies: FLASH_FREQ_STANDARD,
  iromMap: { start: 0x400d0000, end: 0x40400000 },
  dromMap: { start: 0x3f400000, end: 0x3f800000 },
  memoryMap: [
    { name: 'PADDING', start: 0x00000000, end: 0x00010000 },
    { name: 'DROM', start: 0x3f400000, end: 0x3f800000 },
    { name: 'EXTRAM_DATA', start: 0x3f800000, end: 0x3fc00000 },
    { name: 'RTC_DRAM', start: 0x3ff80000, end: 0x3ff82000 },
    { name: 'DRAM', start: 0x3ffae000, end: 0x40000000 },
    // Cache memory of the PRO/APP CPUs, usable as IRAM by the bootloader while the cache is off.
    { name: 'CACHE', start: 0x40070000, end: 0x40080000 },
    { name: 'IRAM', start: 0x40080000, end: 0x400c0000 },
    { name: 'RTC_IRAM', start: 0x400c0000, end: 0x400c2000 },
    { name: 'IROM', start: 0x400d0000, end: 0x40400000 },
    { name: 'RTC_DATA', start: 0x50000000, end: 0x50002000 },
  ],
};

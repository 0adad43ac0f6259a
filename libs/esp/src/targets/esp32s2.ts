import {
  bits,
  FLASH_FREQ_STANDARD,
  macFromWords,
  revision,
  ROM_S2_AND_LATER,
  spiLayoutS2,
  words,
} from './fields.js';
import type { ChipTarget } from './types.js';

const BLOCK1 = 0x3f41a044;
const WORD = (n: number): number => BLOCK1 + 4 * n;

/** ESP32-S2: single core, USB-OTG, a 12-byte security info without chip id. */
export const ESP32S2: ChipTarget = {
  name: 'esp32s2',
  displayName: 'ESP32-S2',
  magicValues: [0x000007c6],
  imageChipId: 2,
  bootloaderOffset: 0x1000,
  romStatusBytes: 4,
  rom: ROM_S2_AND_LATER,
  uartDateRegister: 0x60000078,
  uartDevBufNo: { address: 0x3ffffd14, usbOtg: 2 },
  crystal: { kind: 'fixed', mhz: 40 },
  spi: spiLayoutS2(0x3f402000),
  macRegisters: [WORD(0), WORD(1)],
  identityRegisters: words(BLOCK1, 5),
  decodeMac: (read) => macFromWords(read, WORD(0)),
  decodeIdentity(read) {
    const word3 = read(WORD(3));
    const word4 = read(WORD(4));
    const major = bits(word3, 19, 18);
    const minor = (bits(word3, 20, 20) << 3) | bits(word4, 6, 4);
    const pkg = bits(word4, 3, 0);
    const flashCap = bits(word3, 24, 21);
    const psramCap = bits(word3, 31, 28);
    const name =
      (
        {
          0: 'ESP32-S2',
          1: 'ESP32-S2FH2',
          2: 'ESP32-S2FH4',
          100: 'ESP32-S2R2',
          102: 'ESP32-S2FNR2',
        } as Record<number, string>
      )[flashCap + psramCap * 100] ?? 'unknown ESP32-S2';
    const features = ['WiFi'];
    if (flashCap === 1) features.push('Embedded Flash 2MB');
    else if (flashCap === 2) features.push('Embedded Flash 4MB');
    if (psramCap === 1) features.push('Embedded PSRAM 2MB');
    else if (psramCap === 2) features.push('Embedded PSRAM 4MB');
    return {
      mac: macFromWords(read, WORD(0)),
      revision: revision(major, minor),
      packageVersion: pkg,
      description: `${name} (revision v${major}.${minor})`,
      features,
    };
  },
  flashSizes: {
    '1MB': 0x0,
    '2MB': 0x1,
    '4MB': 0x2,
    '8MB': 0x3,
    '16MB': 0x4,
    '32MB': 0x5,
    '64MB': 0x6,
    '128MB': 0x7,
  },
  flashFrequencies: FLASH_FREQ_STANDARD,
  iromMap: { start: 0x40080000, end: 0x40b80000 },
  dromMap: { start: 0x3f000000, end: 0x3f3f0000 },
  usbOtgReset: {
    forceDownloadRegister: 0x3f408128,
    forceDownloadMask: 0x1,
    gpioStrapRegister: 0x3f404038,
    strapSpiBootMask: 0x8,
  },
  memoryMap: [
    { name: 'PADDING', start: 0x00000000, end: 0x00010000 },
    { name: 'DROM', start: 0x3f000000, end: 0x3f3f0000 },
    { name: 'EXTRAM_DATA', start: 0x3f500000, end: 0x3ff80000 },
    { name: 'RTC_DRAM', start: 0x3ff9e000, end: 0x3ffa0000 },
    { name: 'DRAM', start: 0x3ffb0000, end: 0x40000000 },
    { name: 'IRAM', start: 0x40020000, end: 0x40070000 },
    { name: 'RTC_IRAM', start: 0x40070000, end: 0x40072000 },
    { name: 'IROM', start: 0x40080000, end: 0x40b80000 },
    { name: 'RTC_DATA', start: 0x50000000, end: 0x50002000 },
  ],
};

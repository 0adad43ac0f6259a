import {
  bits,
  FLASH_SIZES_UP_TO_128MB,
  macFromWords,
  revision,
  ROM_S2_AND_LATER,
  spiLayoutS2,
  words,
} from './fields.js';
import type { ChipTarget } from './types.js';

const BLOCK2 = 0x60008840;
const WORD = (n: number): number => BLOCK2 + 4 * n;

/** ESP32-C2 (ESP8684): 26 or 40 MHz crystal, its own flash frequency codes. */
export const ESP32C2: ChipTarget = {
  name: 'esp32c2',
  displayName: 'ESP32-C2',
  magicValues: [0x6f51306f, 0x7c41a06f, 0x0c21e06f],
  securityInfoChipId: 12,
  imageChipId: 12,
  bootloaderOffset: 0x0,
  romStatusBytes: 4,
  rom: ROM_S2_AND_LATER,
  uartDateRegister: 0x6000007c,
  crystal: { kind: 'uart-divider', clkdivRegister: 0x60000014, xtalClockDivider: 1 },
  spi: spiLayoutS2(0x60002000),
  macRegisters: [WORD(0), WORD(1)],
  identityRegisters: words(BLOCK2, 2),
  decodeMac: (read) => macFromWords(read, WORD(0)),
  decodeIdentity(read) {
    const word1 = read(WORD(1));
    const major = bits(word1, 21, 20);
    const minor = bits(word1, 19, 16);
    const pkg = bits(word1, 24, 22);
    return {
      mac: macFromWords(read, WORD(0)),
      revision: revision(major, minor),
      packageVersion: pkg,
      description: `${pkg <= 1 ? 'ESP32-C2' : 'unknown ESP32-C2'} (revision v${major}.${minor})`,
      features: ['WiFi', 'BLE'],
    };
  },
  flashSizes: FLASH_SIZES_UP_TO_128MB,
  flashFrequencies: { '60m': 0xf, '30m': 0x0, '20m': 0x1, '15m': 0x2 },
  iromMap: { start: 0x42000000, end: 0x42400000 },
  dromMap: { start: 0x3c000000, end: 0x3c400000 },
  memoryMap: [
    { name: 'PADDING', start: 0x00000000, end: 0x00010000 },
    { name: 'DROM', start: 0x3c000000, end: 0x3c400000 },
    { name: 'DRAM', start: 0x3fca0000, end: 0x3fce0000 },
    { name: 'IRAM', start: 0x4037c000, end: 0x403c0000 },
    { name: 'IROM', start: 0x42000000, end: 0x42400000 },
  ],
};

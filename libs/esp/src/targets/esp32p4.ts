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

const BLOCK1 = 0x5012d044;
const WORD = (n: number): number => BLOCK1 + 4 * n;
const LP_WDT = 0x50116000;

/** ESP32-P4: no radio, bootloader at 0x2000, USB-OTG and USB-Serial/JTAG. */
export const ESP32P4: ChipTarget = {
  name: 'esp32p4',
  displayName: 'ESP32-P4',
  // 0 is what a P4 ROM reads there; detection only trusts it after GET_SECURITY_INFO failed elsewhere.
  magicValues: [0x00000000, 0x0addbad0, 0x07039ad9],
  securityInfoChipId: 18,
  imageChipId: 18,
  bootloaderOffset: 0x2000,
  romStatusBytes: 4,
  rom: ROM_S2_AND_LATER,
  uartDateRegister: 0x500ca08c,
  crystal: { kind: 'fixed', mhz: 40 },
  spi: spiLayoutS2(0x5008d000),
  macRegisters: [WORD(0), WORD(1)],
  identityRegisters: words(BLOCK1, 3),
  decodeMac: (read) => macFromWords(read, WORD(0)),
  decodeIdentity(read) {
    const word2 = read(WORD(2));
    const minor = bits(word2, 3, 0);
    const major = (bits(word2, 23, 23) << 2) | bits(word2, 5, 4);
    return {
      mac: macFromWords(read, WORD(0)),
      revision: revision(major, minor),
      packageVersion: bits(word2, 22, 20),
      description: `ESP32-P4 (revision v${major}.${minor})`,
      features: ['Dual Core + LP Core', '400MHz'],
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
  iromMap: { start: 0x40000000, end: 0x4c000000 },
  dromMap: { start: 0x40000000, end: 0x4c000000 },
  memoryMap: [
    { name: 'PADDING', start: 0x00000000, end: 0x00010000 },
    { name: 'DROM', start: 0x40000000, end: 0x4c000000 },
    { name: 'DRAM', start: 0x4ff00000, end: 0x4ffa0000 },
  ],
  usbJtagWatchdog: {
    rtcWdtConfig0: LP_WDT + 0x0,
    rtcWdtConfig1: LP_WDT + 0x4,
    rtcWdtWriteProtect: LP_WDT + 0x18,
    rtcWdtKey: 0x50d83aa1,
    swdConfig: LP_WDT + 0x1c,
    swdWriteProtect: LP_WDT + 0x20,
    swdKey: 0x50d83aa1,
    swdAutoFeed: 1 << 18,
  },
};

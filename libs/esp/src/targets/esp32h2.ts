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

const BLOCK1 = 0x600b0844;
const WORD = (n: number): number => BLOCK1 + 4 * n;
const LP_WDT = 0x600b1c00;

/** ESP32-H2: 802.15.4 + BLE, 32 MHz crystal, its own flash frequency codes. */
export const ESP32H2: ChipTarget = {
  name: 'esp32h2',
  displayName: 'ESP32-H2',
  magicValues: [0xd7b73e80, 0x97e30068],
  securityInfoChipId: 16,
  imageChipId: 16,
  bootloaderOffset: 0x0,
  romStatusBytes: 4,
  rom: ROM_S2_AND_LATER,
  uartDateRegister: 0x6000007c,
  uartDevBufNo: { address: 0x4084fefc, usbJtagSerial: 3 },
  crystal: { kind: 'fixed', mhz: 32 },
  spi: spiLayoutS2(0x60003000),
  macRegisters: [WORD(0), WORD(1)],
  identityRegisters: words(BLOCK1, 5),
  decodeMac: (read) => macFromWords(read, WORD(0)),
  decodeIdentity(read) {
    const word3 = read(WORD(3));
    const major = bits(word3, 22, 21);
    const minor = bits(word3, 20, 18);
    const pkg = bits(read(WORD(4)), 2, 0);
    return {
      mac: macFromWords(read, WORD(0)),
      revision: revision(major, minor),
      packageVersion: pkg,
      description: `${pkg === 0 ? 'ESP32-H2' : 'unknown ESP32-H2'} (revision v${major}.${minor})`,
      features: ['BLE', 'IEEE802.15.4'],
    };
  },
  flashSizes: FLASH_SIZES_UP_TO_128MB,
  flashFrequencies: { '48m': 0xf, '24m': 0x0, '16m': 0x1, '12m': 0x2 },
  iromMap: { start: 0x42000000, end: 0x42800000 },
  dromMap: { start: 0x42800000, end: 0x43000000 },
  memoryMap: [
    { name: 'PADDING', start: 0x00000000, end: 0x00010000 },
    { name: 'DRAM', start: 0x40800000, end: 0x40850000 },
    { name: 'IROM', start: 0x42000000, end: 0x42800000 },
    { name: 'DROM', start: 0x42800000, end: 0x43000000 },
    { name: 'RTC_DATA', start: 0x50000000, end: 0x50001000 },
  ],
  usbJtagWatchdog: {
    rtcWdtConfig0: LP_WDT + 0x0,
    rtcWdtConfig1: LP_WDT + 0x4,
    rtcWdtWriteProtect: LP_WDT + 0x1c,
    rtcWdtKey: 0x50d83aa1,
    swdConfig: LP_WDT + 0x20,
    swdWriteProtect: LP_WDT + 0x24,
    swdKey: 0x50d83aa1,
    swdAutoFeed: 1 << 18,
  },
};

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

/** ESP32-C6: RISC-V, WiFi 6, USB-Serial/JTAG, flash windows at 0x42000000/0x42800000. */
export const ESP32C6: ChipTarget = {
  name: 'esp32c6',
  displayName: 'ESP32-C6',
  magicValues: [0x2ce0806f],
  securityInfoChipId: 13,
  imageChipId: 13,
  bootloaderOffset: 0x0,
  romStatusBytes: 4,
  rom: ROM_S2_AND_LATER,
  uartDateRegister: 0x6000007c,
  uartDevBufNo: { address: 0x4087f580, usbJtagSerial: 3 },
  crystal: { kind: 'fixed', mhz: 40 },
  spi: spiLayoutS2(0x60003000),
  macRegisters: [WORD(0), WORD(1)],
  identityRegisters: words(BLOCK1, 5),
  decodeMac: (read) => macFromWords(read, WORD(0)),
  decodeIdentity(read) {
    const word3 = read(WORD(3));
    const major = bits(word3, 23, 22);
    const minor = bits(word3, 21, 18);
    const pkg = bits(word3, 26, 24);
    const name =
      ({ 0: 'ESP32-C6 (QFN40)', 1: 'ESP32-C6FH4 (QFN32)' } as Record<number, string>)[pkg] ??
      'unknown ESP32-C6';
    const features = ['WiFi 6', 'BT 5', 'IEEE802.15.4'];
    if (bits(read(WORD(4)), 2, 0) !== 0) features.push('Embedded Flash');
    return {
      mac: macFromWords(read, WORD(0)),
      revision: revision(major, minor),
      packageVersion: pkg,
      description: `${name} (revision v${major}.${minor})`,
      features,
    };
  },
  flashSizes: FLASH_SIZES_UP_TO_128MB,
  // Code 0 stands for both 80m and 40m: esptool writes 0 for 80m to dodge a ROM MSPI divider bug.
  flashFrequencies: { '80m': 0x0, '40m': 0x0, '20m': 0x2 },
  iromMap: { start: 0x42000000, end: 0x42800000 },
  dromMap: { start: 0x42800000, end: 0x43000000 },
  memoryMap: [
    { name: 'PADDING', start: 0x00000000, end: 0x00010000 },
    { name: 'DRAM', start: 0x40800000, end: 0x40880000 },
    { name: 'IROM', start: 0x42000000, end: 0x42800000 },
    { name: 'DROM', start: 0x42800000, end: 0x43000000 },
    { name: 'RTC_DATA', start: 0x50000000, end: 0x50004000 },
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

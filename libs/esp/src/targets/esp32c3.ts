import {
  bits,
  FLASH_FREQ_STANDARD,
  FLASH_SIZES_UP_TO_128MB,
  macFromWords,
  revision,
  ROM_S2_AND_LATER,
  spiLayoutS2,
  words,
} from './fields.js';
import type { ChipTarget } from './types.js';

const BLOCK1 = 0x60008844;
const WORD = (n: number): number => BLOCK1 + 4 * n;
const RTC_CNTL = 0x60008000;

const EMBEDDED_FLASH: Readonly<Record<number, string>> = {
  1: 'Embedded Flash 4MB',
  2: 'Embedded Flash 2MB',
  3: 'Embedded Flash 1MB',
  4: 'Embedded Flash 8MB',
};

/** ESP32-C3: RISC-V, USB-Serial/JTAG, bootloader at 0. */
export const ESP32C3: ChipTarget = {
  name: 'esp32c3',
  displayName: 'ESP32-C3',
  magicValues: [0x6921506f, 0x1b31506f, 0x4881606f, 0x4361606f],
  securityInfoChipId: 5,
  imageChipId: 5,
  bootloaderOffset: 0x0,
  romStatusBytes: 4,
  rom: ROM_S2_AND_LATER,
  uartDateRegister: 0x6000007c,
  uartDevBufNo: { address: 0x3fcdf07c, usbJtagSerial: 3 },
  crystal: { kind: 'fixed', mhz: 40 },
  spi: spiLayoutS2(0x60002000),
  macRegisters: [WORD(0), WORD(1)],
  identityRegisters: words(BLOCK1, 6),
  decodeMac: (read) => macFromWords(read, WORD(0)),
  decodeIdentity(read) {
    const word3 = read(WORD(3));
    const word5 = read(WORD(5));
    const major = bits(word5, 25, 24);
    const minor = (bits(word5, 23, 23) << 3) | bits(word3, 20, 18);
    const pkg = bits(word3, 23, 21);
    const features = ['WiFi', 'BLE'];
    const flash = EMBEDDED_FLASH[bits(word3, 29, 27)];
    if (flash) features.push(flash);
    return {
      mac: macFromWords(read, WORD(0)),
      revision: revision(major, minor),
      packageVersion: pkg,
      description: `${pkg === 0 ? 'ESP32-C3' : 'unknown ESP32-C3'} (revision v${major}.${minor})`,
      features,
    };
  },
  flashSizes: FLASH_SIZES_UP_TO_128MB,
  flashFrequencies: FLASH_FREQ_STANDARD,
  iromMap: { start: 0x42000000, end: 0x42800000 },
  dromMap: { start: 0x3c000000, end: 0x3c800000 },
  memoryMap: [
    { name: 'PADDING', start: 0x00000000, end: 0x00010000 },
    { name: 'DROM', start: 0x3c000000, end: 0x3c800000 },
    { name: 'DRAM', start: 0x3fc80000, end: 0x3fce0000 },
    { name: 'IRAM', start: 0x4037c000, end: 0x403e0000 },
    { name: 'IROM', start: 0x42000000, end: 0x42800000 },
    { name: 'RTC_DATA', start: 0x50000000, end: 0x50002000 },
  ],
  usbJtagWatchdog: {
    rtcWdtConfig0: RTC_CNTL + 0x90,
    rtcWdtConfig1: RTC_CNTL + 0x94,
    rtcWdtWriteProtect: RTC_CNTL + 0xa8,
    rtcWdtKey: 0x50d83aa1,
    swdConfig: RTC_CNTL + 0xac,
    swdWriteProtect: RTC_CNTL + 0xb0,
    swdKey: 0x8f1d312a,
    swdAutoFeed: 0x80000000,
  },
};

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

const BLOCK1 = 0x60007044;
const WORD = (n: number): number => BLOCK1 + 4 * n;
/** BLK_VERSION_MAJOR lives in BLOCK2 word4. */
const BLOCK2_WORD4 = 0x6000706c;
const RTC_CNTL = 0x60008000;

/** ESP32-S3: dual core, USB-OTG and USB-Serial/JTAG, bootloader at 0. */
export const ESP32S3: ChipTarget = {
  name: 'esp32s3',
  displayName: 'ESP32-S3',
  magicValues: [0x00000009],
  securityInfoChipId: 9,
  imageChipId: 9,
  bootloaderOffset: 0x0,
  romStatusBytes: 4,
  rom: ROM_S2_AND_LATER,
  uartDateRegister: 0x60000080,
  uartDevBufNo: { address: 0x3fcef14c, usbOtg: 3, usbJtagSerial: 4 },
  crystal: { kind: 'fixed', mhz: 40 },
  spi: spiLayoutS2(0x60002000),
  macRegisters: [WORD(0), WORD(1)],
  identityRegisters: [...words(BLOCK1, 6), BLOCK2_WORD4],
  decodeMac: (read) => macFromWords(read, WORD(0)),
  decodeIdentity(read) {
    const word3 = read(WORD(3));
    const word5 = read(WORD(5));
    let minor = (bits(word5, 23, 23) << 3) | bits(word3, 20, 18);
    let major = bits(word5, 25, 24);
    // Early v0.0 parts reused the major field; their block version 1.1 gives them away.
    if ((minor & 7) === 0 && bits(read(BLOCK2_WORD4), 1, 0) === 1 && bits(word3, 26, 24) === 1) {
      major = 0;
      minor = 0;
    }
    return {
      mac: macFromWords(read, WORD(0)),
      revision: revision(major, minor),
      packageVersion: bits(word3, 23, 21),
      description: `ESP32-S3 (revision v${major}.${minor})`,
      features: ['WiFi', 'BLE', 'Dual Core'],
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
  iromMap: { start: 0x42000000, end: 0x44000000 },
  dromMap: { start: 0x3c000000, end: 0x3e000000 },
  usbOtgReset: {
    forceDownloadRegister: 0x6000812c,
    forceDownloadMask: 0x1,
    gpioStrapRegister: 0x60004038,
    strapSpiBootMask: 0x8,
  },
  memoryMap: [
    { name: 'PADDING', start: 0x00000000, end: 0x00010000 },
    { name: 'DROM', start: 0x3c000000, end: 0x3d000000 },
    { name: 'EXTRAM_DATA', start: 0x3d000000, end: 0x3e000000 },
    { name: 'DRAM', start: 0x3fc88000, end: 0x3fd00000 },
    { name: 'IRAM', start: 0x40370000, end: 0x403e0000 },
    { name: 'IROM', start: 0x42000000, end: 0x44000000 },
    { name: 'RTC_DATA', start: 0x50000000, end: 0x50002000 },
    { name: 'RTC_DRAM', start: 0x600fe000, end: 0x60100000 },
  ],
  usbJtagWatchdog: {
    rtcWdtConfig0: RTC_CNTL + 0x98,
    rtcWdtConfig1: RTC_CNTL + 0x9c,
    rtcWdtWriteProtect: RTC_CNTL + 0xb0,
    rtcWdtKey: 0x50d83aa1,
    swdConfig: RTC_CNTL + 0xb4,
    swdWriteProtect: RTC_CNTL + 0xb8,
    swdKey: 0x8f1d312a,
    swdAutoFeed: 0x80000000,
  },
};

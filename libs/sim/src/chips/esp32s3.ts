import {
  type ChipDefinition,
  type ChipIdentity,
  type ResetCause,
  decodeMacS2Layout,
  espRomResetLine,
  macLowWord,
} from './types.js';

const BLOCK1 = 0x60007044;

/** The S3/C3 revision layout: minor bit 3 in word5 bit 23, bits 2..0 in word3 bits 20..18, major in word5 bits 25..24. */
export function s3StyleRevisionWords(revision: number): { word3: number; word5: number } {
  const major = Math.floor(revision / 100) & 3;
  const minor = (revision % 100) & 0xf;
  return { word3: (minor & 7) << 18, word5: ((((minor >> 3) & 1) << 23) | (major << 24)) >>> 0 };
}

/** ESP32-S3: 20-byte security info with chip id 9; magic answered too (esptool-js ≤ 0.6 reads only the magic). */
export const esp32s3: ChipDefinition = {
  name: 'esp32s3',
  displayName: 'ESP32-S3',
  magic: 0x00000009,
  imageChipId: 9,
  romStatusBytes: 4,
  securityInfoBytes: 20,
  rom: {
    deflate: true,
    changeBaud: true,
    readFlashSlow: true,
    md5: true,
    spiAttach: true,
    spiSetParams: true,
  },
  defaultOui: [0x7c, 0xdf, 0xa1],
  defaultRevision: 2,
  defaultXtalMhz: 40,
  defaultFlashBytes: 8 * 1024 * 1024,
  uartClkdivReg: 0x60000014,
  uartClkFactor: 1,
  uartDevBufNoAddr: 0x3fcef14c,
  uartDevBufNoUsbJtag: 4,
  spi: {
    base: 0x60002000,
    usr: 0x18,
    usr1: 0x1c,
    usr2: 0x20,
    mosiDlen: 0x24,
    misoDlen: 0x28,
    w0: 0x58,
    addrMsbAligned: false,
  },
  flashAttachedAtBoot: false,
  // RTCCNTL_BASE_REG + WDTCONFIG0/1, WDTWPROTECT as esptool v5.3.1 targets/esp32s3.py names them.
  rtcWdt: { config0: 0x60008098, config1: 0x6000809c, wprotect: 0x600080b0, slowClockHz: 136_000 },
  bootloaderOffset: 0,
  bannerBaud: 115200,
  strapDownload: 0x0,
  strapFlashBoot: 0x8,
  romBannerHead: ['ESP-ROM:esp32s3-20210327', 'Build:Mar 27 2021'],
  resetLine(cause: ResetCause, strap: number, download: boolean): string {
    return espRomResetLine(cause, strap, 'DOWNLOAD(USB/UART0)', download);
  },
  identityRegisters({ mac, revision }: ChipIdentity): Map<number, number> {
    const { word3, word5 } = s3StyleRevisionWords(revision);
    return new Map<number, number>([
      [BLOCK1, macLowWord(mac)],
      [BLOCK1 + 4, (mac[0] << 8) | mac[1]],
      [BLOCK1 + 12, word3],
      [BLOCK1 + 20, word5],
    ]);
  },
  decodeMac: (read) => decodeMacS2Layout(read(BLOCK1), read(BLOCK1 + 4)),
  macRegisters: [BLOCK1, BLOCK1 + 4],
};

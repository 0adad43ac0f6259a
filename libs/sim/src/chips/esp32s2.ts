import {
  type ChipDefinition,
  type ChipIdentity,
  type ResetCause,
  decodeMacS2Layout,
  espRomResetLine,
  macLowWord,
} from './types.js';

const BLOCK1 = 0x3f41a044;

/** ESP32-S2: 4 status bytes, a 12-byte GET_SECURITY_INFO without chip id, detected by magic. */
export const esp32s2: ChipDefinition = {
  name: 'esp32s2',
  displayName: 'ESP32-S2',
  magic: 0x000007c6,
  imageChipId: 2,
  romStatusBytes: 4,
  securityInfoBytes: 12,
  rom: {
    deflate: true,
    changeBaud: true,
    readFlashSlow: true,
    md5: true,
    spiAttach: true,
    spiSetParams: true,
  },
  defaultOui: [0x7c, 0xdf, 0xa1],
  defaultRevision: 0,
  defaultXtalMhz: 40,
  defaultFlashBytes: 4 * 1024 * 1024,
  uartClkdivReg: 0x3f400014,
  uartClkFactor: 2,
  uartDevBufNoAddr: 0x3ffffd14,
  uartDevBufNoUsbJtag: null,
  spi: {
    base: 0x3f402000,
    usr: 0x18,
    usr1: 0x1c,
    usr2: 0x20,
    mosiDlen: 0x24,
    misoDlen: 0x28,
    w0: 0x58,
    addrMsbAligned: false,
  },
  flashAttachedAtBoot: true,
  // RTCCNTL_BASE_REG + WDTCONFIG0/1, WDTWPROTECT as esptool v5.3.1 targets/esp32s2.py names them.
  rtcWdt: { config0: 0x3f408094, config1: 0x3f408098, wprotect: 0x3f4080ac, slowClockHz: 90_000 },
  bootloaderOffset: 0x1000,
  bannerBaud: 115200,
  strapDownload: 0x0,
  strapFlashBoot: 0x8,
  romBannerHead: ['ESP-ROM:esp32s2-rc4-20191025', 'Build:Oct 25 2019'],
  resetLine(cause: ResetCause, strap: number, download: boolean): string {
    return espRomResetLine(cause, strap, 'DOWNLOAD(USB/UART0/1)', download);
  },
  identityRegisters({ mac, revision }: ChipIdentity): Map<number, number> {
    const major = Math.floor(revision / 100) & 3;
    const minor = (revision % 100) & 0xf;
    // Minor is split: bit 3 in word3 bit 20, bits 2..0 in word4 bits 6..4.
    const word3 = (major << 18) | (((minor >> 3) & 1) << 20);
    const word4 = (minor & 7) << 4;
    return new Map<number, number>([
      [BLOCK1, macLowWord(mac)],
      [BLOCK1 + 4, (mac[0] << 8) | mac[1]],
      [BLOCK1 + 12, word3 >>> 0],
      [BLOCK1 + 16, word4 >>> 0],
    ]);
  },
  decodeMac: (read) => decodeMacS2Layout(read(BLOCK1), read(BLOCK1 + 4)),
  macRegisters: [BLOCK1, BLOCK1 + 4],
};

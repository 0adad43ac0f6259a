import {
  type ChipDefinition,
  type ChipIdentity,
  type ResetCause,
  decodeMacS2Layout,
  espRomResetLine,
  macLowWord,
} from './types.js';
import { s3StyleRevisionWords } from './esp32s3.js';

const BLOCK1 = 0x60008844;

/** ESP32-C3 (RISC-V): 20-byte security info with chip id 5; boot strap on GPIO9. */
export const esp32c3: ChipDefinition = {
  name: 'esp32c3',
  displayName: 'ESP32-C3',
  magic: 0x1b31506f,
  imageChipId: 5,
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
  defaultRevision: 4,
  defaultXtalMhz: 40,
  defaultFlashBytes: 4 * 1024 * 1024,
  uartClkdivReg: 0x60000014,
  uartClkFactor: 1,
  uartDevBufNoAddr: 0x3fcdf07c,
  uartDevBufNoUsbJtag: 3,
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
  // RTCCNTL_BASE_REG + WDTCONFIG0/1, WDTWPROTECT as esptool v5.3.1 targets/esp32c3.py names them.
  rtcWdt: { config0: 0x60008090, config1: 0x60008094, wprotect: 0x600080a8, slowClockHz: 136_000 },
  bootloaderOffset: 0,
  bannerBaud: 115200,
  strapDownload: 0x5,
  strapFlashBoot: 0xc,
  romBannerHead: ['ESP-ROM:esp32c3-api1-20210207', 'Build:Feb  7 2021'],
  resetLine(cause: ResetCause, strap: number, download: boolean): string {
    return espRomResetLine(cause, strap, 'DOWNLOAD(USB/UART0/1)', download);
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

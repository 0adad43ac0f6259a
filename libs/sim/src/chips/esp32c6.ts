import {
  type ChipDefinition,
  type ChipIdentity,
  type ResetCause,
  decodeMacS2Layout,
  espRomResetLine,
  macLowWord,
} from './types.js';

const BLOCK1 = 0x600b0844;

/** ESP32-C6 (RISC-V): 20-byte security info with chip id 13; SPI controller at 0x60003000. */
export const esp32c6: ChipDefinition = {
  name: 'esp32c6',
  displayName: 'ESP32-C6',
  magic: 0x2ce0806f,
  imageChipId: 13,
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
  defaultRevision: 1,
  defaultXtalMhz: 40,
  defaultFlashBytes: 4 * 1024 * 1024,
  uartClkdivReg: 0x60000014,
  uartClkFactor: 1,
  uartDevBufNoAddr: 0x4087f580,
  uartDevBufNoUsbJtag: 3,
  spi: {
    base: 0x60003000,
    usr: 0x18,
    usr1: 0x1c,
    usr2: 0x20,
    mosiDlen: 0x24,
    misoDlen: 0x28,
    w0: 0x58,
    addrMsbAligned: false,
  },
  flashAttachedAtBoot: false,
  rtcWdt: null,
  bootloaderOffset: 0,
  bannerBaud: 115200,
  strapDownload: 0x4,
  strapFlashBoot: 0xc,
  romBannerHead: ['ESP-ROM:esp32c6-20220919', 'Build:Sep 19 2022'],
  resetLine(cause: ResetCause, strap: number, download: boolean): string {
    return espRomResetLine(cause, strap, 'DOWNLOAD(USB/UART0/SDIO_FEI_FEO)', download);
  },
  identityRegisters({ mac, revision }: ChipIdentity): Map<number, number> {
    const major = Math.floor(revision / 100) & 3;
    const minor = (revision % 100) & 0xf;
    return new Map<number, number>([
      [BLOCK1, macLowWord(mac)],
      [BLOCK1 + 4, (mac[0] << 8) | mac[1]],
      [BLOCK1 + 12, ((minor << 18) | (major << 22)) >>> 0],
    ]);
  },
  decodeMac: (read) => decodeMacS2Layout(read(BLOCK1), read(BLOCK1 + 4)),
  macRegisters: [BLOCK1, BLOCK1 + 4],
};

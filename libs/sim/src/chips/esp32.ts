import { type ChipDefinition, type ChipIdentity, type ResetCause, macLowWord } from './types.js';

const EFUSE_BASE = 0x3ff5a000;
const APB_CTL_DATE = 0x3ff6607c;
const RTC_CALI_CFG1 = 0x3ff5f06c;

/** CRC-8/MAXIM over the MAC bytes, as the ESP32 keeps it in eFuse word2 bits 23..16. */
function macCrc8(mac: Uint8Array): number {
  let crc = 0;
  for (const byte of mac) {
    let b = byte;
    for (let i = 0; i < 8; i++) {
      const mix = (crc ^ b) & 1;
      crc >>= 1;
      if (mix) crc ^= 0x8c;
      b >>= 1;
    }
  }
  return crc;
}

/** ESP32 (original): the ROM with 4 status bytes and no GET_SECURITY_INFO. */
export const esp32: ChipDefinition = {
  name: 'esp32',
  displayName: 'ESP32',
  magic: 0x00f01d83,
  imageChipId: 0,
  romStatusBytes: 4,
  securityInfoBytes: null,
  rom: {
    deflate: true,
    changeBaud: true,
    readFlashSlow: true,
    md5: true,
    spiAttach: true,
    spiSetParams: true,
  },
  defaultOui: [0x24, 0x0a, 0xc4],
  defaultRevision: 300,
  defaultXtalMhz: 40,
  defaultFlashBytes: 4 * 1024 * 1024,
  uartClkdivReg: 0x3ff40014,
  uartClkFactor: 1,
  uartDevBufNoAddr: null,
  uartDevBufNoUsbJtag: null,
  spi: {
    base: 0x3ff42000,
    usr: 0x1c,
    usr1: 0x20,
    usr2: 0x24,
    mosiDlen: 0x28,
    misoDlen: 0x2c,
    w0: 0x80,
    addrMsbAligned: true,
  },
  flashAttachedAtBoot: false,
  rtcWdt: null,
  bootloaderOffset: 0x1000,
  bannerBaud: 115200,
  strapDownload: 0x03,
  strapFlashBoot: 0x13,
  romBannerHead: ['ets Jul 29 2019 12:21:46', ''],
  resetLine(cause: ResetCause, strap: number, download: boolean): string {
    const causes: Record<ResetCause, string> = {
      poweron: '0x1 (POWERON_RESET)',
      'rtc-wdt': '0x10 (RTCWDT_RTC_RESET)',
      'sw-cpu': '0xc (SW_CPU_RESET)',
      'usb-uart': '0x1 (POWERON_RESET)',
    };
    const mode = download ? 'DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2)' : 'SPI_FAST_FLASH_BOOT';
    return `rst:${causes[cause]},boot:0x${strap.toString(16)} (${mode})`;
  },
  identityRegisters({ mac, revision }: ChipIdentity): Map<number, number> {
    const major = Math.floor(revision / 100);
    const minor = revision % 100;
    // Major revision is spread over three bits in three places (§4.5): 0→000, 1→001, 2→011, 3→111.
    const bits = [0b000, 0b001, 0b011, 0b111][Math.min(major, 3)];
    const pkgD0wd = 1;
    const word3 = ((bits & 1) << 15) | (pkgD0wd << 9);
    const word5 = (((bits >> 1) & 1) << 20) | ((minor & 3) << 24);
    return new Map<number, number>([
      [EFUSE_BASE + 4, macLowWord(mac)],
      [EFUSE_BASE + 8, ((macCrc8(mac) << 16) | (mac[0] << 8) | mac[1]) >>> 0],
      [EFUSE_BASE + 12, word3 >>> 0],
      // ck8m = 100 and cali = 1024 make esptool's CHANGE_BAUDRATE skew correction neutral (§4.6).
      [EFUSE_BASE + 16, 100],
      [EFUSE_BASE + 20, word5 >>> 0],
      [APB_CTL_DATE, ((bits >> 2) & 1) << 31],
      [RTC_CALI_CFG1, (1024 << 7) >>> 0],
    ]);
  },
  decodeMac(read: (addr: number) => number): Uint8Array {
    const w1 = read(EFUSE_BASE + 4);
    const w2 = read(EFUSE_BASE + 8);
    return Uint8Array.of(
      (w2 >>> 8) & 0xff,
      w2 & 0xff,
      (w1 >>> 24) & 0xff,
      (w1 >>> 16) & 0xff,
      (w1 >>> 8) & 0xff,
      w1 & 0xff,
    );
  },
  macRegisters: [EFUSE_BASE + 4, EFUSE_BASE + 8],
};

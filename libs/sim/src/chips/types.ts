/** The chips the simulator can be. */
export type ChipName = 'esp8266' | 'esp32' | 'esp32s2' | 'esp32s3' | 'esp32c3' | 'esp32c6';

/** A board's silicon identity, from which a chip file derives its eFuse words. */
export interface ChipIdentity {
  /** Base MAC, mac[0] first. */
  mac: Uint8Array;
  /** major × 100 + minor, the encoding of the image header's min/max_rev_full. */
  revision: number;
  /** Crystal in MHz. */
  xtalMhz: number;
}

/** Where the chip's SPI0/SPI1 controller keeps the user-command registers (§4.7). */
export interface SpiRegisterMap {
  base: number;
  usr: number;
  usr1: number;
  usr2: number;
  /** Absent on the ESP8266, which keeps bit lengths in USR1. */
  mosiDlen?: number;
  misoDlen?: number;
  w0: number;
  /** ESP8266/ESP32 expect the address left-aligned in the ADDR register. */
  addrMsbAligned: boolean;
}

/** RTC watchdog registers (RTC_CNTL_WDT*). */
export interface RtcWdtRegisters {
  /** RTC_CNTL_WDTCONFIG0_REG: bit 31 enables, bits 30..28 are stage 0's action (≥ 2 resets). */
  config0: number;
  /** RTC_CNTL_WDTCONFIG1_REG: stage 0's timeout in RTC slow clock cycles. */
  config1: number;
  /** RTC_CNTL_WDTWPROTECT_REG: CONFIG0/1 take writes only while it holds the key 0x50D83AA1. */
  wprotect: number;
  /** RTC slow clock (RC_SLOW), Hz. */
  slowClockHz: number;
}

/** Everything that makes one chip's ROM different from another's. Pure data plus the eFuse encoder. */
export interface ChipDefinition {
  name: ChipName;
  /** As esptool prints it: "ESP32-S3". */
  displayName: string;
  /** Word at 0x40001000. */
  magic: number;
  /** IMAGE_CHIP_ID in the image extended header; null for the ESP8266 (no extended header). */
  imageChipId: number | null;
  /** Status bytes at the end of a ROM reply (§1.5). */
  romStatusBytes: 2 | 4;
  /** GET_SECURITY_INFO payload length from the ROM; null = unsupported command. */
  securityInfoBytes: 12 | 20 | null;
  /** ROM features that differ across chips (§2.1). */
  rom: {
    deflate: boolean;
    changeBaud: boolean;
    readFlashSlow: boolean;
    md5: boolean;
    spiAttach: boolean;
    spiSetParams: boolean;
  };
  /** Espressif OUI used for default MACs. */
  defaultOui: readonly [number, number, number];
  defaultRevision: number;
  defaultXtalMhz: number;
  defaultFlashBytes: number;
  /** UART_CLKDIV register and the UART clock as a multiple of the crystal. */
  uartClkdivReg: number;
  uartClkFactor: number;
  /** ROM variable telling which console the ROM uses (0 = UART); null where esptool never reads it. */
  uartDevBufNoAddr: number | null;
  /** Value of that variable when the console is the internal USB-Serial/JTAG. */
  uartDevBufNoUsbJtag: number | null;
  spi: SpiRegisterMap;
  /**
   * In download mode the ROM leaves the SPI flash unattached until SPI_ATTACH (or, on the
   * ESP8266, FLASH_BEGIN): RDID/SFDP through the SPI registers read 0xFF. The ESP32-S2 ROM
   * attaches it at boot (esptool test_esptool.py test_attach_flash skips it for that reason).
   */
  flashAttachedAtBoot: boolean;
  /**
   * The RTC watchdog registers esptool's watchdog_reset() writes (targets/<chip>.py), and the
   * RTC slow clock that times it; null where esptool does not use one (ESP8266, ESP32; ESP32-C6,
   * where it is disabled for a USB-Serial/JTAG bug, falls back to a classic hard reset).
   */
  rtcWdt: RtcWdtRegisters | null;
  bootloaderOffset: number;
  /** Baud of the ROM's own boot messages. */
  bannerBaud: number;
  /** GPIO_STRAP values printed as boot:0xNN. */
  strapDownload: number;
  strapFlashBoot: number;
  /** ROM banner lines up to (excluding) the rst: line. */
  romBannerHead: readonly string[];
  /** The rst: line. */
  resetLine(cause: ResetCause, strap: number, download: boolean): string;
  /** eFuse and other read-only registers encoding the identity (address → word). */
  identityRegisters(identity: ChipIdentity): Map<number, number>;
  /** Decodes a MAC from those registers with the §4.4 formulas (tests use it to prove the encoding). */
  decodeMac(read: (addr: number) => number): Uint8Array;
  /** Register address whose reads answer the MAC (for documentation and tests). */
  macRegisters: readonly number[];
}

/** Why the chip last came out of reset, as the ROM prints it. */
export type ResetCause = 'poweron' | 'rtc-wdt' | 'sw-cpu' | 'usb-uart';

/** Converts a byte to two lowercase hex digits. */
export function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/** Formats a MAC as aa:bb:cc:dd:ee:ff. */
export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, hex2).join(':');
}

/** Packs mac[2..5] into one word (big-endian order inside the word), as every chip's MAC0 word holds them. */
export function macLowWord(mac: Uint8Array): number {
  return ((mac[2] << 24) | (mac[3] << 16) | (mac[4] << 8) | mac[5]) >>> 0;
}

/** The S2-and-later decoding: mac1[15:8], mac1[7:0], mac0[31:24..7:0]. */
export function decodeMacS2Layout(mac0: number, mac1: number): Uint8Array {
  return Uint8Array.of(
    (mac1 >>> 8) & 0xff,
    mac1 & 0xff,
    (mac0 >>> 24) & 0xff,
    (mac0 >>> 16) & 0xff,
    (mac0 >>> 8) & 0xff,
    mac0 & 0xff,
  );
}

/** The boot-mode text the newer ROMs (S2 and later) print after boot:0xNN. */
export function espRomResetLine(
  cause: ResetCause,
  strap: number,
  downloadText: string,
  download: boolean,
): string {
  const causes: Record<ResetCause, string> = {
    poweron: '0x1 (POWERON)',
    'rtc-wdt': '0x10 (RTCWDT_RTC_RST)',
    'sw-cpu': '0xc (RTC_SW_CPU_RST)',
    'usb-uart': '0x15 (USB_UART_CHIP_RESET)',
  };
  const mode = download ? downloadText : 'SPI_FAST_FLASH_BOOT';
  return `rst:${causes[cause]},boot:0x${strap.toString(16)} (${mode})`;
}

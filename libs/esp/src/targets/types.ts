/** Chip families the farm knows, named as esptool's `--chip` values. */
export type ChipName =
  'esp8266' | 'esp32' | 'esp32s2' | 'esp32s3' | 'esp32c2' | 'esp32c3' | 'esp32c6' | 'esp32h2' | 'esp32p4';

/** Returns the 32-bit value the flasher read (READ_REG) at an address. */
export type RegisterReader = (address: number) => number;

/** Commands the chip's ROM loader (not the stub) accepts. */
export interface RomCapabilities {
  /** FLASH_DEFL_BEGIN/DATA/END (compressed writes). */
  deflate: boolean;
  changeBaudrate: boolean;
  /** SPI_FLASH_MD5. */
  md5: boolean;
  readFlashSlow: boolean;
  spiSetParams: boolean;
  /** SPI_ATTACH (the ESP8266 ROM attaches inside FLASH_BEGIN instead). */
  spiAttach: boolean;
  getSecurityInfo: boolean;
}

/** SPI controller registers used to run flash commands (RDID, SFDP, status) by hand. */
export interface SpiRegisters {
  base: number;
  usrOffset: number;
  usr1Offset: number;
  usr2Offset: number;
  /** Absent on ESP8266, whose lengths live in USR1. */
  mosiDlenOffset?: number;
  misoDlenOffset?: number;
  w0Offset: number;
  /** ESP8266/ESP32 expect the address shifted to the top of the ADDR register. */
  addrMsbAligned: boolean;
}

/** Registers and keys to stop the RTC and super watchdogs while flashing over USB-Serial/JTAG. */
export interface UsbJtagWatchdog {
  rtcWdtConfig0: number;
  rtcWdtConfig1?: number;
  rtcWdtWriteProtect: number;
  rtcWdtKey: number;
  swdConfig: number;
  swdWriteProtect: number;
  swdKey: number;
  /** Bit mask of SWD auto-feed in swdConfig. */
  swdAutoFeed: number;
}

/** Facts for leaving download mode over the ROM's USB-OTG console (S2/S3). */
export interface UsbOtgReset {
  /** RTC_CNTL_OPTION1: the ROM's sticky "force download boot" bit; clear it before a hard reset. */
  forceDownloadRegister: number;
  forceDownloadMask: number;
  /** GPIO_STRAP: a clear SPI-boot bit means the board was strapped into download mode by GPIO0. */
  gpioStrapRegister: number;
  strapSpiBootMask: number;
}

/** How the crystal frequency is known. */
export type CrystalSource =
  | { kind: 'fixed'; mhz: number }
  /** Estimated from the divider the ROM's autobaud chose; divider = UART clock / XTAL. */
  | { kind: 'uart-divider'; clkdivRegister: number; xtalClockDivider: number };

/** A named address range of the chip's memory map. */
export interface MemoryRegion {
  name:
    | 'DROM'
    | 'IROM'
    | 'DRAM'
    | 'IRAM'
    | 'CACHE'
    | 'RTC_DRAM'
    | 'RTC_IRAM'
    | 'RTC_DATA'
    | 'EXTRAM_DATA'
    | 'PADDING';
  start: number;
  /** Exclusive. */
  end: number;
}

/** Chip revision as eFuse reports it; `full` uses the image header's major*100+minor encoding. */
export interface ChipRevision {
  major: number;
  minor: number;
  full: number;
}

/** What the eFuse says about a chip. */
export interface ChipIdentity {
  /** Base MAC, six bytes, mac[0] first. */
  mac: Uint8Array;
  revision: ChipRevision;
  packageVersion: number;
  /** esptool-style description, e.g. "ESP32-D0WD-V3 (revision v3.0)". */
  description: string;
  /** e.g. ["WiFi", "BT", "Dual Core", "Embedded Flash"]. */
  features: string[];
}

/** Everything libs/esp knows about one chip family. Passive data plus pure decoders. */
export interface ChipTarget {
  name: ChipName;
  displayName: string;
  /** Values of the word at 0x40001000 (CHIP_DETECT_MAGIC_REG) seen on this chip. */
  magicValues: readonly number[];
  /** chip_id in a 20-byte GET_SECURITY_INFO reply; absent when the ROM has none or it is the 12-byte S2 form. */
  securityInfoChipId?: number;
  /** chip_id in the image extended header; absent on ESP8266 (no extended header). */
  imageChipId?: number;
  /** Flash offset of the second-stage bootloader. */
  bootloaderOffset: number;
  /** Status bytes at the end of a ROM reply (the stub always sends 2). */
  romStatusBytes: 2 | 4;
  rom: RomCapabilities;
  /** UART_DATE register: a harmless address esptool writes with mask 0 to get a delay. */
  uartDateRegister: number;
  /** ROM .bss variable telling which console (UART/USB) the ROM uses; absent where unknown. */
  uartDevBufNo?: { address: number; usbOtg?: number; usbJtagSerial?: number };
  crystal: CrystalSource;
  spi: SpiRegisters;
  /** Registers to read for decodeMac. */
  macRegisters: readonly number[];
  /** Registers to read for decodeIdentity (includes macRegisters). */
  identityRegisters: readonly number[];
  decodeMac: (read: RegisterReader) => Uint8Array;
  decodeIdentity: (read: RegisterReader) => ChipIdentity;
  /** Flash size name -> header code (high nibble of byte 3). */
  flashSizes: Readonly<Record<string, number>>;
  /** Flash frequency name -> header code (low nibble of byte 3). */
  flashFrequencies: Readonly<Record<string, number>>;
  /** Flash-mapped instruction and data windows (an app's code and rodata live here). */
  iromMap: { start: number; end: number };
  dromMap: { start: number; end: number };
  memoryMap: readonly MemoryRegion[];
  usbJtagWatchdog?: UsbJtagWatchdog;
  usbOtgReset?: UsbOtgReset;
}

import { type ChipDefinition, type ChipIdentity, type ResetCause } from './types.js';

const OTP_MAC0 = 0x3ff00050;
const OTP_MAC1 = 0x3ff00054;
const OTP_MAC3 = 0x3ff0005c;

/** ESP8266: 2 status bytes, no compressed or MD5 commands in ROM, boot messages at 74 880 baud. */
export const esp8266: ChipDefinition = {
  name: 'esp8266',
  displayName: 'ESP8266',
  magic: 0xfff0c101,
  imageChipId: null,
  romStatusBytes: 2,
  securityInfoBytes: null,
  rom: {
    deflate: false,
    changeBaud: false,
    readFlashSlow: false,
    md5: false,
    spiAttach: false,
    spiSetParams: false,
  },
  defaultOui: [0x18, 0xfe, 0x34],
  defaultRevision: 0,
  defaultXtalMhz: 26,
  defaultFlashBytes: 4 * 1024 * 1024,
  uartClkdivReg: 0x60000014,
  uartClkFactor: 2,
  uartDevBufNoAddr: null,
  uartDevBufNoUsbJtag: null,
  spi: { base: 0x60000200, usr: 0x1c, usr1: 0x20, usr2: 0x24, w0: 0x40, addrMsbAligned: true },
  flashAttachedAtBoot: false,
  rtcWdt: null,
  bootloaderOffset: 0,
  bannerBaud: 74880,
  strapDownload: 1,
  strapFlashBoot: 3,
  romBannerHead: [''],
  resetLine(cause: ResetCause, strap: number): string {
    const causes: Record<ResetCause, number> = { poweron: 2, 'rtc-wdt': 4, 'sw-cpu': 2, 'usb-uart': 2 };
    // The ESP8266 ROM prints one line: date, reset cause and "boot mode:(strap,7)".
    return ` ets Jan  8 2013,rst cause:${causes[cause]}, boot mode:(${strap},7)`;
  },
  identityRegisters({ mac }: ChipIdentity): Map<number, number> {
    const oui = (mac[0] << 16) | (mac[1] << 8) | mac[2];
    // Two OUIs have a short code in MAC1[23:16]; any other OUI lives in MAC3.
    let ouiCode = 2;
    let mac3 = oui;
    if (oui === 0x18fe34) {
      ouiCode = 0;
      mac3 = 0;
    } else if (oui === 0xacd074) {
      ouiCode = 1;
      mac3 = 0;
    }
    // EFUSE_DATA_OUT0 bits 23..0 carry no identity esptool reads, except bit 4, which (with bit 80)
    // marks an ESP8285 with embedded flash (esptool targets/esp8266.py get_chip_description). An
    // ESP8266EX with external flash leaves both clear, so its flash size comes from the flash ID.
    const word0Low = 0x000000;
    return new Map<number, number>([
      [OTP_MAC0, ((mac[5] << 24) | word0Low) >>> 0],
      [OTP_MAC1, ((ouiCode << 16) | (mac[3] << 8) | mac[4]) >>> 0],
      [OTP_MAC3, mac3 >>> 0],
    ]);
  },
  decodeMac(read: (addr: number) => number): Uint8Array {
    const mac0 = read(OTP_MAC0);
    const mac1 = read(OTP_MAC1);
    const mac3 = read(OTP_MAC3);
    let oui: [number, number, number];
    if (mac3 !== 0) oui = [(mac3 >>> 16) & 0xff, (mac3 >>> 8) & 0xff, mac3 & 0xff];
    else if (((mac1 >>> 16) & 0xff) === 0) oui = [0x18, 0xfe, 0x34];
    else if (((mac1 >>> 16) & 0xff) === 1) oui = [0xac, 0xd0, 0x74];
    else throw new Error('Unknown OUI');
    return Uint8Array.of(...oui, (mac1 >>> 8) & 0xff, mac1 & 0xff, (mac0 >>> 24) & 0xff);
  },
  macRegisters: [OTP_MAC0, OTP_MAC1, OTP_MAC3],
};

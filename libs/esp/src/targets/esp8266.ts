import { EspError } from '../errors.js';
import { bits } from './fields.js';
import type { ChipTarget, RegisterReader } from './types.js';

const OTP_MAC0 = 0x3ff00050;
const OTP_MAC1 = 0x3ff00054;
const OTP_WORD2 = 0x3ff00058;
const OTP_MAC3 = 0x3ff0005c;

function decodeMac(read: RegisterReader): Uint8Array {
  const mac0 = read(OTP_MAC0);
  const mac1 = read(OTP_MAC1);
  const mac3 = read(OTP_MAC3);
  let oui: number[];
  if (mac3 !== 0) oui = [bits(mac3, 23, 16), bits(mac3, 15, 8), bits(mac3, 7, 0)];
  else if (bits(mac1, 23, 16) === 0) oui = [0x18, 0xfe, 0x34];
  else if (bits(mac1, 23, 16) === 1) oui = [0xac, 0xd0, 0x74];
  else
    throw new EspError(
      `ESP8266 OTP holds an unknown OUI selector ${bits(mac1, 23, 16)}; the MAC cannot be derived.`,
      {
        code: 'INTERNAL',
        stage: 'detect',
        detail: { mac1 },
      },
    );
  return Uint8Array.of(...oui, bits(mac1, 15, 8), bits(mac1, 7, 0), bits(mac0, 31, 24));
}

/** ESP8266 (and ESP8285): 2-byte ROM status, no extended image header, no security info. */
export const ESP8266: ChipTarget = {
  name: 'esp8266',
  displayName: 'ESP8266',
  magicValues: [0xfff0c101],
  bootloaderOffset: 0x0,
  romStatusBytes: 2,
  rom: {
    deflate: false,
    changeBaudrate: false,
    md5: false,
    readFlashSlow: false,
    spiSetParams: false,
    spiAttach: false,
    getSecurityInfo: false,
  },
  uartDateRegister: 0x60000078,
  crystal: { kind: 'uart-divider', clkdivRegister: 0x60000014, xtalClockDivider: 2 },
  spi: {
    base: 0x60000200,
    usrOffset: 0x1c,
    usr1Offset: 0x20,
    usr2Offset: 0x24,
    w0Offset: 0x40,
    addrMsbAligned: true,
  },
  macRegisters: [OTP_MAC0, OTP_MAC1, OTP_MAC3],
  identityRegisters: [OTP_MAC0, OTP_MAC1, OTP_WORD2, OTP_MAC3],
  decodeMac,
  decodeIdentity(read) {
    const w0 = read(OTP_MAC0);
    const w2 = read(OTP_WORD2);
    const w3 = read(OTP_MAC3);
    // ESP8285 (embedded flash) sets one of two OTP bits: word0 bit 4 or word2 bit 16.
    const is8285 = (w0 & (1 << 4)) !== 0 || (w2 & (1 << 16)) !== 0;
    let description = 'ESP8266EX';
    if (is8285) {
      const r0_4 = (w0 & (1 << 4)) !== 0;
      const r3_25 = (w3 & (1 << 25)) !== 0;
      const r3_26 = (w3 & (1 << 26)) !== 0;
      const r3_27 = (w3 & (1 << 27)) !== 0;
      let flashMb = -1;
      if (r0_4 && !r3_25 && !r3_27) flashMb = r3_26 ? 2 : 1;
      else if (!r0_4 && r3_25 && !r3_27) flashMb = r3_26 ? 4 : 2;
      const hot = (w0 & (1 << 5)) !== 0;
      description =
        flashMb === 1
          ? hot
            ? 'ESP8285H08'
            : 'ESP8285N08'
          : flashMb === 2
            ? hot
              ? 'ESP8285H16'
              : 'ESP8285N16'
            : 'ESP8285';
    }
    return {
      mac: decodeMac(read),
      revision: { major: 0, minor: 0, full: 0 },
      packageVersion: is8285 ? 1 : 0,
      description,
      features: is8285 ? ['WiFi', 'Embedded Flash'] : ['WiFi'],
    };
  },
  flashSizes: {
    '512KB': 0x0,
    '256KB': 0x1,
    '1MB': 0x2,
    '2MB': 0x3,
    '4MB': 0x4,
    '2MB-c1': 0x5,
    '4MB-c1': 0x6,
    '8MB': 0x8,
    '16MB': 0x9,
  },
  flashFrequencies: { '80m': 0xf, '40m': 0x0, '26m': 0x1, '20m': 0x2 },
  // The ESP8266 has no flash-mapped data window; IROM is mapped at 0x40200000.
  iromMap: { start: 0x40200000, end: 0x40300000 },
  dromMap: { start: 0, end: 0 },
  memoryMap: [
    { name: 'DRAM', start: 0x3ffe8000, end: 0x40000000 },
    { name: 'IRAM', start: 0x40100000, end: 0x40108000 },
    { name: 'IROM', start: 0x40200000, end: 0x40300000 },
  ],
};

import { describe, expect, it } from '@jest/globals';
import {
  CHIP_TARGETS,
  chipFromSecurityInfo,
  crystalFrequency,
  decodeMac,
  describeChip,
  detectChipFromMagic,
  findTarget,
  flashSizeBytes,
  flashSizeFromJedecId,
  flashSizeName,
  formatMac,
  getTarget,
  isAbsentFlashId,
  parseSecurityInfo,
  registerReader,
} from './index.js';
import type { ChipName } from './types.js';

/** Register words that hold `mac` in the layout of the reference's MAC table (the inverse of the decoders). */
function encodeMac(chip: ChipName, mac: number[]): Map<number, number> {
  const [a, b, c, d, e, f] = mac as [number, number, number, number, number, number];
  const low = ((c << 24) | (d << 16) | (e << 8) | f) >>> 0;
  const high = (a << 8) | b;
  const crcBits = 0xbeef0000; // bits the decoder must ignore
  if (chip === 'esp8266')
    // OUI given explicitly through MAC3; MAC1 carries bytes 3-4, MAC0[31:24] byte 5.
    return new Map([
      [0x3ff00050, (f << 24) | 0x123456],
      [0x3ff00054, (d << 8) | e],
      [0x3ff0005c, (a << 16) | (b << 8) | c],
    ]);
  if (chip === 'esp32')
    return new Map([
      [0x3ff5a004, low],
      [0x3ff5a008, (crcBits | high) >>> 0],
    ]);
  const base = {
    esp32s2: 0x3f41a044,
    esp32s3: 0x60007044,
    esp32c3: 0x60008844,
    esp32c2: 0x60008840,
    esp32c6: 0x600b0844,
    esp32h2: 0x600b0844,
    esp32p4: 0x5012d044,
  }[chip];
  return new Map([
    [base, low],
    [base + 4, (crcBits | high) >>> 0],
  ]);
}

describe('chip targets', () => {
  it('lists every required chip with consistent facts', () => {
    const names = CHIP_TARGETS.map((t) => t.name);
    expect(names).toEqual([
      'esp8266',
      'esp32',
      'esp32s2',
      'esp32s3',
      'esp32c2',
      'esp32c3',
      'esp32c6',
      'esp32h2',
      'esp32p4',
    ]);
    for (const t of CHIP_TARGETS) {
      expect(t.macRegisters.every((a) => t.identityRegisters.includes(a))).toBe(true);
      expect(t.romStatusBytes).toBe(t.name === 'esp8266' ? 2 : 4);
    }
    expect(getTarget('esp32s3').bootloaderOffset).toBe(0);
    expect(getTarget('esp32').bootloaderOffset).toBe(0x1000);
    expect(getTarget('esp32s2').bootloaderOffset).toBe(0x1000);
    expect(getTarget('esp32p4').bootloaderOffset).toBe(0x2000);
    expect(findTarget('ESP32-S3')?.name).toBe('esp32s3');
    expect(() => getTarget('esp31')).toThrow(/Unknown chip "esp31".*esp32c3/);
  });

  it('detects chips from the magic word', () => {
    expect(detectChipFromMagic(0x00f01d83)?.name).toBe('esp32');
    expect(detectChipFromMagic(0xfff0c101)?.name).toBe('esp8266');
    expect(detectChipFromMagic(0x000007c6)?.name).toBe('esp32s2');
    expect(detectChipFromMagic(0x9)?.name).toBe('esp32s3');
    expect(detectChipFromMagic(0x1b31506f)?.name).toBe('esp32c3');
    expect(detectChipFromMagic(0x2ce0806f)?.name).toBe('esp32c6');
    expect(detectChipFromMagic(0x0c21e06f)?.name).toBe('esp32c2');
    expect(detectChipFromMagic(0xd7b73e80)?.name).toBe('esp32h2');
    expect(detectChipFromMagic(0x12345678)).toBeUndefined();
  });

  it('identifies chips from GET_SECURITY_INFO payloads', () => {
    const c6 = Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0d, 0, 0, 0, 0, 0, 0, 0]);
    expect(chipFromSecurityInfo(c6)?.name).toBe('esp32c6');
    expect(chipFromSecurityInfo(new Uint8Array(12))?.name).toBe('esp32s2');
    const unknown = c6.slice();
    unknown[12] = 0x63;
    expect(chipFromSecurityInfo(unknown)).toBeUndefined();
    const sdm = c6.slice();
    sdm[0] = 0x05; // secure boot + secure download
    sdm[4] = 0b111; // three bits: encryption on
    const info = parseSecurityInfo(sdm);
    expect(info).toMatchObject({
      secureBootEnabled: true,
      secureDownloadEnabled: true,
      flashEncryptionEnabled: true,
      chipId: 13,
    });
    expect(() => parseSecurityInfo(new Uint8Array(16))).toThrow(/16 bytes/);
  });

  it.each(CHIP_TARGETS.map((t) => t.name))('round-trips the MAC of %s through its eFuse layout', (name) => {
    const mac =
      name === 'esp8266' ? [0x5c, 0xcf, 0x7f, 0x01, 0x02, 0x03] : [0x24, 0x0a, 0xc4, 0xfe, 0x81, 0x7c];
    const read = registerReader(encodeMac(name, mac));
    expect(Array.from(decodeMac(name, read))).toEqual(mac);
  });

  it('derives the ESP8266 OUI from MAC1 when MAC3 is empty', () => {
    const read = registerReader(
      new Map([
        [0x3ff00050, 0xab000000],
        [0x3ff00054, 0x010203],
        [0x3ff0005c, 0],
      ]),
    );
    expect(formatMac(decodeMac('esp8266', read))).toBe('ac:d0:74:02:03:ab');
    const bad = registerReader(
      new Map([
        [0x3ff00050, 0],
        [0x3ff00054, 0x020000],
        [0x3ff0005c, 0],
      ]),
    );
    expect(() => decodeMac('esp8266', bad)).toThrow(/unknown OUI/);
  });

  it('decodes ESP32 revision, package and features', () => {
    const regs = new Map<number, number>();
    for (const a of getTarget('esp32').identityRegisters) regs.set(a, 0);
    regs.set(0x3ff5a004, 0xc4fe817c);
    regs.set(0x3ff5a008, 0x240a);
    regs.set(0x3ff5a00c, (1 << 15) | (1 << 9)); // rev bit0, package 1 (D0WD)
    regs.set(0x3ff5a014, (1 << 20) | (1 << 24)); // rev bit1, minor 1
    regs.set(0x3ff6607c, 0x80000000); // rev bit2
    const id = describeChip('esp32', registerReader(regs));
    expect(id.revision).toEqual({ major: 3, minor: 1, full: 301 });
    expect(id.description).toBe('ESP32-D0WD-V3 (revision v3.1)');
    expect(id.features).toEqual(['WiFi', 'BT', 'Dual Core']);
    expect(formatMac(id.mac)).toBe('24:0a:c4:fe:81:7c');
  });

  it('decodes revisions of the newer chips from the reference bit positions', () => {
    const zero = (name: ChipName) =>
      new Map(getTarget(name).identityRegisters.map((a) => [a, 0] as [number, number]));
    const s3 = zero('esp32s3');
    s3.set(0x60007050, 2 << 18);
    s3.set(0x60007058, (1 << 24) | (1 << 23));
    expect(describeChip('esp32s3', registerReader(s3)).revision.full).toBe(110);
    const c3 = zero('esp32c3');
    c3.set(0x60008850, (4 << 18) | (1 << 27));
    c3.set(0x60008858, 0);
    const c3id = describeChip('esp32c3', registerReader(c3));
    expect(c3id.revision.full).toBe(4);
    expect(c3id.features).toContain('Embedded Flash 4MB');
    const c6 = zero('esp32c6');
    c6.set(0x600b0850, (1 << 18) | (0 << 22));
    expect(describeChip('esp32c6', registerReader(c6)).revision.full).toBe(1);
    const h2 = zero('esp32h2');
    h2.set(0x600b0850, (1 << 21) | (2 << 18));
    expect(describeChip('esp32h2', registerReader(h2)).revision.full).toBe(102);
    const c2 = zero('esp32c2');
    c2.set(0x60008844, (1 << 20) | (2 << 16));
    expect(describeChip('esp32c2', registerReader(c2)).revision.full).toBe(102);
    const s2 = zero('esp32s2');
    s2.set(0x3f41a050, (1 << 18) | (1 << 21));
    s2.set(0x3f41a054, 1 << 4);
    const s2id = describeChip('esp32s2', registerReader(s2));
    expect(s2id.revision.full).toBe(101);
    expect(s2id.description).toBe('ESP32-S2FH2 (revision v1.1)');
  });

  it('decoders do not depend on being called as methods', () => {
    for (const t of CHIP_TARGETS) {
      const { decodeIdentity } = t;
      const regs = new Map(t.identityRegisters.map((a) => [a, 0] as [number, number]));
      if (t.name === 'esp8266') regs.set(0x3ff0005c, 0x5ccf7f);
      expect(decodeIdentity(registerReader(regs)).mac).toHaveLength(6);
    }
  });

  it('refuses to decode from registers that were not read', () => {
    expect(() => describeChip('esp32c3', registerReader(new Map()))).toThrow(/was not read/);
  });

  it('estimates crystals from the UART divider or reports fixed ones', () => {
    expect(crystalFrequency(getTarget('esp32'), { clkdiv: 347, baud: 115200 }).mhz).toBe(40);
    expect(crystalFrequency(getTarget('esp8266'), { clkdiv: 451, baud: 115200 }).mhz).toBe(26);
    expect(crystalFrequency(getTarget('esp32h2'), { baud: 115200 }).mhz).toBe(32);
    expect(crystalFrequency(getTarget('esp32'), { clkdiv: 300, baud: 115200 }).suspicious).toBe(true);
  });

  it('carries the USB-Serial/JTAG watchdog facts for the chips that have it', () => {
    const wdt = (name: ChipName) => getTarget(name).usbJtagWatchdog;
    expect(wdt('esp32s3')).toMatchObject({
      rtcWdtKey: 0x50d83aa1,
      swdKey: 0x8f1d312a,
      swdAutoFeed: 0x80000000,
    });
    expect(wdt('esp32c3')).toMatchObject({ rtcWdtWriteProtect: 0x600080a8, swdConfig: 0x600080ac });
    expect(wdt('esp32c6')).toMatchObject({ swdKey: 0x50d83aa1, swdAutoFeed: 1 << 18 });
    expect(wdt('esp32h2')).toMatchObject({ rtcWdtWriteProtect: 0x600b1c1c, swdKey: 0x50d83aa1 });
    expect(wdt('esp32')).toBeUndefined();
    expect(wdt('esp32s2')).toBeUndefined();
    expect(getTarget('esp32s3').usbOtgReset?.forceDownloadRegister).toBe(0x6000812c);
    expect(getTarget('esp32s3').uartDateRegister).toBe(0x60000080);
    expect(getTarget('esp32c6').uartDateRegister).toBe(0x6000007c);
  });

  it('maps JEDEC ids and names flash sizes', () => {
    expect(flashSizeFromJedecId(0x1640ef)).toBe(4 * 1024 * 1024); // Winbond W25Q32
    expect(flashSizeFromJedecId(0x18ba20)).toBe(16 * 1024 * 1024);
    expect(flashSizeFromJedecId(0x00461f)).toBe(2 * 1024 * 1024); // Adesto, type 0x46 -> code 6
    expect(flashSizeFromJedecId(0x9940ef)).toBeUndefined();
    expect(isAbsentFlashId(0xffffff)).toBe(true);
    expect(isAbsentFlashId(0x1640ef)).toBe(false);
    expect(flashSizeName(4 * 1024 * 1024)).toBe('4MB');
    expect(flashSizeName(512 * 1024)).toBe('512KB');
    expect(flashSizeBytes('2MB-c1')).toBe(2 * 1024 * 1024);
    expect(flashSizeBytes('detect')).toBeUndefined();
  });
});

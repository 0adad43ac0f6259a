/**
 * Commands that ask the board something or poke it without touching flash
 * data: read-mac, chip-id, flash-id, get-security-info, read-mem, write-mem,
 * run. They run on the ROM loader (no stub upload, no baud change): every one
 * of them is a handful of register reads, so the stub would only cost time.
 */
import {
  EspError,
  flashSizeFromJedecId,
  flashSizeName,
  isAbsentFlashId,
  type Prepared,
  type SecurityInfo,
} from '#esp';
import { parseInteger, usageError } from './args.js';
import type { EsptoolContext } from './context.js';
import { onBoard } from './session.js';

const ROM_ONLY = { noStub: true, baud: 115_200 } as const;
const label = (text: string) => `${text}:`.padEnd(20);
const hex32 = (v: number) => `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
const macText = (bytes: readonly number[]) => bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');

function print(ctx: EsptoolContext, lines: readonly string[]): void {
  ctx.out.write(`${lines.join('\n')}\n`);
}

function noArguments(ctx: EsptoolContext, command: string): void {
  if (ctx.positionals.length)
    throw usageError(`${command} takes no arguments (got "${ctx.positionals.join(' ')}").`);
}

/** The MAC lines esptool prints: EUI-64, base MAC and extension on chips with an 802.15.4 radio. */
async function macLines(p: Prepared): Promise<string[]> {
  const target = p.session.target;
  if (target.name !== 'esp32c6' && target.name !== 'esp32h2') return [`${label('MAC')}${p.info.mac}`];
  const mac1 = await p.session.readReg(target.macRegisters[1]);
  const base = p.info.mac.split(':').map((h) => parseInt(h, 16));
  const ext = [(mac1 >>> 24) & 0xff, (mac1 >>> 16) & 0xff];
  return [
    `${label('MAC')}${macText([...base.slice(0, 3), ...ext, ...base.slice(3)])}`,
    `${label('BASE MAC')}${p.info.mac}`,
    `${label('MAC_EXT')}${macText(ext)}`,
  ];
}

/** read-mac */
export async function readMacCommand(ctx: EsptoolContext): Promise<number> {
  noArguments(ctx, 'read-mac');
  await onBoard(ctx, async (p) => print(ctx, await macLines(p)), ROM_ONLY);
  return 0;
}

/** ESP8266 OTP words holding the chip id (what the SDK's system_get_chip_id() returns). */
const ESP8266_OTP_MAC0 = 0x3ff00050;
const ESP8266_OTP_MAC1 = 0x3ff00054;

/** chip-id: the ESP8266 chip id; other chips have none, so their MAC, as esptool does. */
export async function chipIdCommand(ctx: EsptoolContext): Promise<number> {
  noArguments(ctx, 'chip-id');
  const lines = await onBoard(
    ctx,
    async (p) => {
      if (p.session.target.name !== 'esp8266')
        return [
          `Warning: ${p.info.displayName} has no chip ID. Reading MAC address instead.`,
          ...(await macLines(p)),
        ];
      const id0 = await p.session.readReg(ESP8266_OTP_MAC0);
      const id1 = await p.session.readReg(ESP8266_OTP_MAC1);
      return [`Chip ID: ${hex32((id0 >>> 24) | ((id1 & 0xffffff) << 8))}`];
    },
    ROM_ONLY,
  );
  ctx.out.write(`${lines.join('\n')}\n`);
  return 0;
}

/** flash-id: manufacturer and device from the JEDEC ID, and the size they mean. */
export async function flashIdCommand(ctx: EsptoolContext): Promise<number> {
  noArguments(ctx, 'flash-id');
  await onBoard(
    ctx,
    (p) => {
      const id = p.info.flashId;
      if (id === undefined || isAbsentFlashId(id))
        throw new EspError(
          `The flash chip did not answer its ID command (read 0x${(id ?? 0).toString(16)}). Check the flash wiring and power, and the SPI pins of a module with external flash.`,
          { code: 'FLASH_ERROR', stage: 'attach' },
        );
      const size = flashSizeFromJedecId(id);
      const title = 'Flash Memory Information:';
      print(ctx, [
        title,
        '='.repeat(title.length),
        `Manufacturer: ${(id & 0xff).toString(16).padStart(2, '0')}`,
        `Device: ${(((id >>> 16) & 0xff) | (((id >>> 8) & 0xff) << 8)).toString(16).padStart(4, '0')}`,
        `Detected flash size: ${size === undefined ? 'Unknown' : flashSizeName(size)}`,
      ]);
      return Promise.resolve();
    },
    ROM_ONLY,
  );
  return 0;
}

/** eFuse key purposes by chip, as esptool names them (ESP32-C6 shares the C3 table). */
const KEY_PURPOSES: Readonly<Record<string, readonly string[]>> = {
  esp32s2: [
    'USER/EMPTY',
    'RESERVED',
    'XTS_AES_256_KEY_1',
    'XTS_AES_256_KEY_2',
    'XTS_AES_128_KEY',
    'HMAC_DOWN_ALL',
    'HMAC_DOWN_JTAG',
    'HMAC_DOWN_DIGITAL_SIGNATURE',
    'HMAC_UP',
    'SECURE_BOOT_DIGEST0',
    'SECURE_BOOT_DIGEST1',
    'SECURE_BOOT_DIGEST2',
  ],
  esp32s3: [
    'USER/EMPTY',
    'RESERVED',
    'XTS_AES_256_KEY_1',
    'XTS_AES_256_KEY_2',
    'XTS_AES_128_KEY',
    'HMAC_DOWN_ALL',
    'HMAC_DOWN_JTAG',
    'HMAC_DOWN_DIGITAL_SIGNATURE',
    'HMAC_UP',
    'SECURE_BOOT_DIGEST0',
    'SECURE_BOOT_DIGEST1',
    'SECURE_BOOT_DIGEST2',
  ],
  esp32c3: [
    'USER/EMPTY',
    'RESERVED',
    'UNKNOWN',
    'UNKNOWN',
    'XTS_AES_128_KEY',
    'HMAC_DOWN_ALL',
    'HMAC_DOWN_JTAG',
    'HMAC_DOWN_DIGITAL_SIGNATURE',
    'HMAC_UP',
    'SECURE_BOOT_DIGEST0',
    'SECURE_BOOT_DIGEST1',
    'SECURE_BOOT_DIGEST2',
  ],
  esp32c6: [
    'USER/EMPTY',
    'RESERVED',
    'UNKNOWN',
    'UNKNOWN',
    'XTS_AES_128_KEY',
    'HMAC_DOWN_ALL',
    'HMAC_DOWN_JTAG',
    'HMAC_DOWN_DIGITAL_SIGNATURE',
    'HMAC_UP',
    'SECURE_BOOT_DIGEST0',
    'SECURE_BOOT_DIGEST1',
    'SECURE_BOOT_DIGEST2',
  ],
  esp32h2: [
    'USER/EMPTY',
    'ECDSA_KEY',
    'XTS_AES_256_KEY_1',
    'XTS_AES_256_KEY_2',
    'XTS_AES_128_KEY',
    'HMAC_DOWN_ALL',
    'HMAC_DOWN_JTAG',
    'HMAC_DOWN_DIGITAL_SIGNATURE',
    'HMAC_UP',
    'SECURE_BOOT_DIGEST0',
    'SECURE_BOOT_DIGEST1',
    'SECURE_BOOT_DIGEST2',
  ],
};
/** Key blocks esptool lists (BLOCK_KEY0..5). */
const EFUSE_MAX_KEY = 5;

function securityLines(chip: string, si: SecurityInfo): string[] {
  const flag = (bit: number) => (si.flags & bit) !== 0;
  const title = 'Security Information:';
  const lines = [
    title,
    '='.repeat(title.length),
    `Flags: ${hex32(si.flags)} (0b${(si.flags >>> 0).toString(2)})`,
  ];
  const purposes = KEY_PURPOSES[chip];
  if (purposes) {
    lines.push(`Key Purposes: (${si.keyPurposes.join(', ')})`);
    lines.push(
      `  ${si.keyPurposes
        .slice(0, EFUSE_MAX_KEY + 1)
        .map((p, i) => `BLOCK_KEY${i} - ${purposes[p] ?? 'UNKNOWN'}`)
        .join('\n  ')}`,
    );
  }
  if (si.chipId !== undefined && si.apiVersion !== undefined)
    lines.push(`Chip ID: ${si.chipId}`, `API Version: ${si.apiVersion}`);
  if (si.secureBootEnabled) {
    lines.push('Secure Boot: Enabled');
    if (flag(1 << 1)) lines.push('Secure Boot Aggressive key revocation: Enabled');
    const revoked = [3, 4, 5].map((bit, i) => (flag(1 << bit) ? i : -1)).filter((i) => i >= 0);
    if (revoked.length)
      lines.push(
        'Secure Boot Key Revocation Status:\n',
        ...revoked.map((i) => `\tSecure Boot Key${i} is Revoked\n`),
      );
  } else lines.push('Secure Boot: Disabled');
  lines.push(`Flash Encryption: ${si.flashEncryptionEnabled ? 'Enabled' : 'Disabled'}`);
  lines.push(`SPI Boot Crypt Count (SPI_BOOT_CRYPT_CNT): 0x${si.flashCryptCount.toString(16)}`);
  if (flag(1 << 9)) lines.push('Dcache in UART download mode: Disabled');
  if (flag(1 << 10)) lines.push('Icache in UART download mode: Disabled');
  if (flag(1 << 7)) lines.push('JTAG: Permanently Disabled');
  else if (flag(1 << 6)) lines.push('JTAG: Software Access Disabled');
  if (flag(1 << 8)) lines.push('USB Access: Disabled');
  return lines;
}

/** get-security-info */
export async function securityInfoCommand(ctx: EsptoolContext): Promise<number> {
  noArguments(ctx, 'get-security-info');
  await onBoard(
    ctx,
    (p) => {
      if (!p.info.security)
        throw new EspError(
          `${p.info.displayName} does not support get-security-info: its ROM has no GET_SECURITY_INFO command (ESP32-S2 and later chips have it). Read its eFuses instead (espefuse summary).`,
          { code: 'INVALID_ARGUMENT', stage: 'detect' },
        );
      print(ctx, securityLines(p.session.target.name, p.info.security));
      return Promise.resolve();
    },
    ROM_ONLY,
  );
  return 0;
}

/** read-mem ADDRESS */
export async function readMemCommand(ctx: EsptoolContext): Promise<number> {
  if (ctx.positionals.length !== 1) throw usageError('read-mem needs one ADDRESS, e.g. read-mem 0x3ff5a004.');
  const address = parseInteger(ctx.positionals[0], 'Address');
  await onBoard(
    ctx,
    async (p) => print(ctx, [`${hex32(address)} = ${hex32(await p.session.readReg(address, 'read'))}`]),
    ROM_ONLY,
  );
  return 0;
}

/** write-mem ADDRESS VALUE [MASK] */
export async function writeMemCommand(ctx: EsptoolContext): Promise<number> {
  const [a, v, m] = ctx.positionals;
  if (v === undefined || ctx.positionals.length > 3)
    throw usageError('write-mem needs ADDRESS VALUE [MASK], e.g. write-mem 0x3ff00050 0x1 0x1.');
  const address = parseInteger(a, 'Address');
  const value = parseInteger(v, 'Value') >>> 0;
  const mask = m === undefined ? 0xffffffff : parseInteger(m, 'Mask') >>> 0;
  await onBoard(
    ctx,
    async (p) => {
      await p.session.writeReg([{ addr: address, value, mask }], 'write');
      print(ctx, [`Wrote ${hex32(value)} with mask ${hex32(mask)} to ${hex32(address)}.`]);
    },
    ROM_ONLY,
  );
  return 0;
}

/** run: leave the loader and start the firmware in flash (then --after, hard-reset by default). */
export async function runCommand(ctx: EsptoolContext): Promise<number> {
  noArguments(ctx, 'run');
  await onBoard(ctx, (p, run) => run.finish('soft-reset', p.session), ROM_ONLY);
  return 0;
}

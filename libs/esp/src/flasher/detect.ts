/** Chip identification after SYNC (reference §4). */
import { EspError } from '../errors.js';
import { Op, parseStatus } from '../protocol/commands.js';
import type { Connection } from '../protocol/connection.js';
import { delay } from '../reset/sequence.js';
import {
  CHIP_DETECT_MAGIC_REG_ADDR,
  chipFromSecurityInfo,
  crystalFrequency,
  detectChipFromMagic,
  formatMac,
  parseSecurityInfo,
  registerReader,
  type SecurityInfo,
} from '../targets/registry.js';
import type { ChipTarget } from '../targets/types.js';

/** Everything the flasher learnt about the board. */
export interface ChipInfo {
  chip: ChipTarget['name'];
  displayName: string;
  /** esptool-style, e.g. "ESP32-D0WD-V3 (revision v3.0)". */
  description: string;
  revision: { major: number; minor: number; full: number };
  features: string[];
  crystalMhz: number;
  /** "aa:bb:cc:dd:ee:ff". */
  mac: string;
  /** JEDEC ID (RDID) once read, 24 bits. */
  flashId?: number;
  flashSizeBytes?: number;
  secureDownloadMode: boolean;
  /** The GET_SECURITY_INFO answer, on chips whose ROM has the command (ESP32-S2 and later). */
  security?: SecurityInfo;
}

/** Pause before dropping the repeated copies of an unsupported-command reply (§1.8). */
const UNSUPPORTED_DRAIN_MS = 50;

async function securityInfo(
  conn: Connection,
): Promise<{ raw: Uint8Array; parsed: SecurityInfo } | undefined> {
  try {
    await conn.writePacket(new Uint8Array([0, Op.GET_SECURITY_INFO, 0, 0, 0, 0, 0, 0]));
    const reply = await conn.readReply(Op.GET_SECURITY_INFO, 1000 + 2 * conn.transport.latencyMs, 'detect');
    // 20-byte form (S3 and later) or the 12-byte S2 form; the status follows either.
    const payloadLen = reply.data.length >= 22 ? 20 : 12;
    const status = parseStatus(reply.data, payloadLen);
    if (!status || status.first !== 0 || status.payload.length !== payloadLen) throw new Error('unsupported');
    return { raw: status.payload, parsed: parseSecurityInfo(status.payload) };
  } catch (err) {
    if (err instanceof EspError && err.code === 'CANCELLED') throw err;
    // ESP8266/ESP32 ROMs refuse the command, possibly several times: let the copies arrive, then drop them.
    await delay(UNSUPPORTED_DRAIN_MS);
    await conn.flushInput();
    return undefined;
  }
}

/** Identifies the chip: security info first, then the magic word. */
export async function detectChip(
  conn: Connection,
  romBaud: number,
): Promise<{ target: ChipTarget; info: ChipInfo }> {
  const sec = await securityInfo(conn);
  let target = sec ? chipFromSecurityInfo(sec.raw) : undefined;
  if (!target) {
    const magic =
      (await conn.command(Op.READ_REG, u32(CHIP_DETECT_MAGIC_REG_ADDR), { stage: 'detect' })).value >>> 0;
    target = detectChipFromMagic(magic);
    if (!target) {
      throw new EspError(
        `Unknown chip (magic 0x${magic.toString(16).padStart(8, '0')}): this board is not a supported Espressif chip.`,
        {
          code: 'CHIP_MISMATCH',
          stage: 'detect',
          detail: { magic },
        },
      );
    }
  }
  const values = new Map<number, number>();
  for (const addr of new Set([...target.identityRegisters, ...target.macRegisters])) {
    values.set(addr, (await conn.command(Op.READ_REG, u32(addr), { stage: 'detect' })).value >>> 0);
  }
  const identity = target.decodeIdentity(registerReader(values));
  let crystalMhz: number;
  if (target.crystal.kind === 'fixed') crystalMhz = target.crystal.mhz;
  else {
    const clkdiv =
      (await conn.command(Op.READ_REG, u32(target.crystal.clkdivRegister), { stage: 'detect' })).value >>> 0;
    crystalMhz = crystalFrequency(target, { clkdiv, baud: romBaud }).mhz;
  }
  return {
    target,
    info: {
      chip: target.name,
      displayName: target.displayName,
      description: identity.description,
      revision: identity.revision,
      features: identity.features,
      crystalMhz,
      mac: formatMac(identity.mac),
      secureDownloadMode: sec?.parsed.secureDownloadEnabled ?? false,
      security: sec?.parsed,
    },
  };
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0, true);
  return b;
}

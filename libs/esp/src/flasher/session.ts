/**
 * Operations on a connected loader (ROM or stub): registers, SPI flash
 * commands, attach, baud change, MD5, erase, read. One instance per
 * connection; flash.ts drives it.
 */
import { createHash } from 'node:crypto';
import { EspError, type EspStage } from '../errors.js';
import {
  beginBody,
  concatBytes,
  Op,
  readFlashBody,
  type RegWrite,
  spiSetParamsBody,
  u32le,
  writeRegBody,
} from '../protocol/commands.js';
import type { Connection } from '../protocol/connection.js';
import { slipEncode } from '../protocol/slip.js';
import {
  CHIP_ERASE_TIMEOUT_MS,
  ERASE_REGION_TIMEOUT_PER_MB_MS,
  MD5_TIMEOUT_PER_MB_MS,
  READ_FLASH_PACKET_TIMEOUT_MS,
  timeoutForSize,
  withLatency,
} from '../protocol/timeouts.js';
import type { ChipTarget } from '../targets/types.js';
import { delay } from '../reset/sequence.js';

/** Flash geometry. */
export const FLASH_SECTOR_BYTES = 0x1000;
/** See FLASH_SECTOR_BYTES. */
export const FLASH_BLOCK_BYTES = 0x10000;
/** FLASH_DATA payload on the ROM. */
export const ROM_FLASH_WRITE_BYTES = 0x400;
/** FLASH_(DEFL_)DATA payload on the stub. */
export const STUB_FLASH_WRITE_BYTES = 0x4000;
/** READ_FLASH packet size (must be ≤ 4096). */
export const READ_FLASH_PACKET_BYTES = 0x1000;
/** READ_FLASH frames allowed unacknowledged (both stubs keep 1 in practice). */
export const READ_FLASH_MAX_IN_FLIGHT = 1;
/** READ_FLASH_SLOW bytes per command. */
export const READ_FLASH_SLOW_BYTES = 64;
/** Settling time after a baud change before the line is trusted. */
export const BAUD_SETTLE_MS = 50;
/** SPI user-command completion polls. */
const SPI_CMD_POLLS = 10;

/** Address esptool reads to tell chips apart. */
export const CHIP_DETECT_MAGIC_REG = 0x40001000;

/** Rounds up to a multiple. */
export function alignUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Hex MD5 of bytes. */
export function md5Hex(data: Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

/**
 * Erase size to send to the ESP8266 ROM so it erases what we mean
 * (reference §2.5: the ROM erases about n + min(n, head) sectors).
 */
export function esp8266RomEraseSize(offset: number, size: number): number {
  const sectors = Math.ceil(size / FLASH_SECTOR_BYTES);
  const start = Math.floor(offset / FLASH_SECTOR_BYTES);
  const head = Math.min(sectors, 16 - (start % 16));
  return sectors < 2 * head
    ? Math.ceil(sectors / 2) * FLASH_SECTOR_BYTES
    : (sectors - head) * FLASH_SECTOR_BYTES;
}

/** A loader on the other end of a connection, with its chip. */
export class LoaderSession {
  constructor(
    readonly conn: Connection,
    public target: ChipTarget,
  ) {}

  get isStub(): boolean {
    return this.conn.isStub;
  }

  /** READ_REG. */
  async readReg(addr: number, stage: EspStage = 'detect'): Promise<number> {
    return (await this.conn.command(Op.READ_REG, u32le(addr), { stage })).value >>> 0;
  }

  /** WRITE_REG with one or more tuples. */
  async writeReg(writes: RegWrite[], stage: EspStage = 'attach'): Promise<void> {
    await this.conn.command(Op.WRITE_REG, writeRegBody(writes), { stage });
  }

  /**
   * Runs one SPI flash command through the controller's user-command
   * registers (reference §4.7) and returns W0.
   */
  async spiCommand(
    cmd: number,
    readBits: number,
    opts: { addr?: number; addrBits?: number; dummyBits?: number } = {},
  ): Promise<number> {
    const spi = this.target.spi;
    const reg = (off: number): number => spi.base + off;
    const savedUsr = await this.readReg(reg(spi.usrOffset), 'attach');
    const savedUsr2 = await this.readReg(reg(spi.usr2Offset), 'attach');
    const addrBits = opts.addrBits ?? 0;
    const dummyBits = opts.dummyBits ?? 0;
    const writes: RegWrite[] = [];
    if (spi.misoDlenOffset !== undefined) {
      if (readBits > 0) writes.push({ addr: reg(spi.misoDlenOffset), value: readBits - 1 });
      if (addrBits > 0 || dummyBits > 0) {
        writes.push({
          addr: reg(spi.usr1Offset),
          value: (Math.max(addrBits, 1) - 1) * (1 << 26) + Math.max(dummyBits - 1, 0),
        });
      }
    } else {
      // ESP8266: lengths live in USR1.
      const miso = readBits > 0 ? readBits - 1 : 0;
      writes.push({
        addr: reg(spi.usr1Offset),
        value: ((miso << 8) | ((addrBits > 0 ? addrBits - 1 : 0) << 26)) >>> 0,
      });
    }
    let usr = 1 << 31; // COMMAND
    if (readBits > 0) usr |= 1 << 28; // MISO
    if (addrBits > 0) usr |= 1 << 30; // ADDR
    if (dummyBits > 0) usr |= 1 << 29; // DUMMY
    writes.push({ addr: reg(spi.usrOffset), value: usr >>> 0 });
    writes.push({ addr: reg(spi.usr2Offset), value: ((7 << 28) | cmd) >>> 0 });
    if (addrBits > 0) {
      const a = opts.addr ?? 0;
      writes.push({ addr: reg(4), value: spi.addrMsbAligned ? (a << (32 - addrBits)) >>> 0 : a });
    }
    writes.push({ addr: reg(spi.w0Offset), value: 0 });
    for (const w of writes) await this.writeReg([w], 'attach');
    await this.writeReg([{ addr: spi.base, value: 1 << 18 }], 'attach');
    let done = false;
    for (let i = 0; i < SPI_CMD_POLLS; i++) {
      if (((await this.readReg(spi.base, 'attach')) & (1 << 18)) === 0) {
        done = true;
        break;
      }
    }
    if (!done)
      throw new EspError('The SPI flash command did not complete: the flash chip is not answering.', {
        code: 'FLASH_ERROR',
        stage: 'attach',
      });
    const result = await this.readReg(reg(spi.w0Offset), 'attach');
    await this.writeReg([{ addr: reg(spi.usrOffset), value: savedUsr }], 'attach');
    await this.writeReg([{ addr: reg(spi.usr2Offset), value: savedUsr2 }], 'attach');
    return result >>> 0;
  }

  /** JEDEC ID (RDID 0x9F), 24 bits: manufacturer in bits 7..0. */
  async flashId(): Promise<number> {
    return (await this.spiCommand(0x9f, 24)) & 0xffffff;
  }

  /** Attaches the SPI flash (ROM paths only; the stub attaches itself). */
  async attach(): Promise<void> {
    if (this.isStub) return;
    if (this.target.rom.spiAttach) {
      await this.conn.command(Op.SPI_ATTACH, u32le(0, 0), { stage: 'attach' });
    } else {
      // ESP8266 ROM attaches the flash as part of FLASH_BEGIN.
      await this.conn.command(Op.FLASH_BEGIN, beginBody(0, 0, ROM_FLASH_WRITE_BYTES, 0), { stage: 'attach' });
    }
  }

  /** Tells the loader the flash size (the ROM assumes 2 MB otherwise). */
  async setFlashSize(bytes: number): Promise<void> {
    if (!this.isStub && !this.target.rom.spiSetParams) return;
    await this.conn.command(Op.SPI_SET_PARAMS, spiSetParamsBody(bytes), { stage: 'attach' });
  }

  /** True when this loader can change baud. */
  get canChangeBaud(): boolean {
    return this.isStub || this.target.rom.changeBaudrate;
  }

  /** CHANGE_BAUDRATE, then the host side, then a settle and a flush. */
  async changeBaud(baud: number, signal?: AbortSignal): Promise<void> {
    const transport = this.conn.transport;
    const old = this.isStub ? transport.baudRate : 0;
    await this.conn.command(Op.CHANGE_BAUDRATE, u32le(baud, old), { stage: 'baud' });
    await transport.setBaudRate(baud);
    await delay(BAUD_SETTLE_MS, signal);
    await this.conn.flushInput();
  }

  /** True when this loader computes MD5s. */
  get canMd5(): boolean {
    return this.isStub || this.target.rom.md5;
  }

  /** SPI_FLASH_MD5 of a flash range, as lowercase hex. */
  async flashMd5(offset: number, size: number, stage: EspStage = 'verify'): Promise<string> {
    const timeoutMs = timeoutForSize(size, MD5_TIMEOUT_PER_MB_MS);
    if (this.isStub) {
      const r = await this.conn.command(Op.SPI_FLASH_MD5, u32le(offset, size, 0, 0), {
        stage,
        timeoutMs,
        expectPayload: 16,
      });
      if (r.payload.length !== 16) throw this.shortReply(Op.SPI_FLASH_MD5, stage);
      return Buffer.from(r.payload).toString('hex');
    }
    const r = await this.conn.command(Op.SPI_FLASH_MD5, u32le(offset, size, 0, 0), {
      stage,
      timeoutMs,
      expectPayload: 32,
    });
    if (r.payload.length !== 32) throw this.shortReply(Op.SPI_FLASH_MD5, stage);
    return Buffer.from(r.payload).toString('latin1').toLowerCase();
  }

  /** Erases the whole chip (stub only). */
  async eraseAll(): Promise<void> {
    if (!this.isStub) {
      throw new EspError(
        'Erasing the whole flash needs the flasher stub; run without --no-stub, or erase a region.',
        {
          code: 'INVALID_ARGUMENT',
          stage: 'erase',
        },
      );
    }
    await this.conn.command(Op.ERASE_FLASH, undefined, { stage: 'erase', timeoutMs: CHIP_ERASE_TIMEOUT_MS });
  }

  /** Erases a sector-aligned region (stub: ERASE_REGION; ROM: FLASH_BEGIN with no data). */
  async eraseRegion(offset: number, size: number): Promise<void> {
    if (offset % FLASH_SECTOR_BYTES !== 0 || size % FLASH_SECTOR_BYTES !== 0) {
      throw new EspError(
        `Erase region 0x${offset.toString(16)}+0x${size.toString(16)} is not 4 KiB aligned.`,
        {
          code: 'INVALID_ARGUMENT',
          stage: 'erase',
        },
      );
    }
    const timeoutMs = timeoutForSize(size, ERASE_REGION_TIMEOUT_PER_MB_MS);
    if (this.isStub) {
      await this.conn.command(Op.ERASE_REGION, u32le(offset, size), { stage: 'erase', timeoutMs });
      return;
    }
    const eraseSize = this.target.name === 'esp8266' ? esp8266RomEraseSize(offset, size) : size;
    await this.conn.command(Op.FLASH_BEGIN, this.romBeginBody(eraseSize, 0, ROM_FLASH_WRITE_BYTES, offset), {
      stage: 'erase',
      timeoutMs,
    });
  }

  /** BEGIN body for the ROM: the fifth (encryption) word on S2 and later ROMs only. */
  romBeginBody(size: number, blocks: number, blockSize: number, offset: number): Uint8Array {
    const fifth = this.target.name === 'esp8266' || this.target.name === 'esp32' ? undefined : 0;
    return beginBody(size, blocks, blockSize, offset, fifth);
  }

  /** Reads flash: stub streaming with acks and MD5 trailer, or ROM READ_FLASH_SLOW. */
  async readFlash(offset: number, size: number, onProgress?: (done: number) => void): Promise<Uint8Array> {
    if (this.isStub) return this.readFlashStub(offset, size, onProgress);
    if (!this.target.rom.readFlashSlow) {
      throw new EspError(
        `The ${this.target.displayName} ROM cannot read flash; run with the stub (without --no-stub).`,
        {
          code: 'INVALID_ARGUMENT',
          stage: 'read',
        },
      );
    }
    const out = new Uint8Array(size);
    for (let done = 0; done < size;) {
      const n = Math.min(READ_FLASH_SLOW_BYTES, size - done);
      const r = await this.conn.command(Op.READ_FLASH_SLOW, u32le(offset + done, n), {
        stage: 'read',
        expectPayload: READ_FLASH_SLOW_BYTES,
      });
      if (r.payload.length < n) throw this.shortReply(Op.READ_FLASH_SLOW, 'read');
      out.set(r.payload.subarray(0, n), done);
      done += n;
      onProgress?.(done);
    }
    return out;
  }

  private async readFlashStub(
    offset: number,
    size: number,
    onProgress?: (done: number) => void,
  ): Promise<Uint8Array> {
    await this.conn.command(
      Op.READ_FLASH,
      readFlashBody(offset, size, READ_FLASH_PACKET_BYTES, READ_FLASH_MAX_IN_FLIGHT),
      { stage: 'read' },
    );
    const parts: Uint8Array[] = [];
    let received = 0;
    const packetTimeout = withLatency(
      READ_FLASH_PACKET_TIMEOUT_MS,
      this.conn.transport,
      READ_FLASH_PACKET_BYTES + 16,
    );
    while (received < size) {
      const frame = await this.conn.readFrame(packetTimeout, 'read', Op.READ_FLASH);
      if (frame.length < READ_FLASH_PACKET_BYTES && received + frame.length < size) {
        throw new EspError(`Corrupt READ_FLASH data: a ${frame.length}-byte packet before the end.`, {
          code: 'FRAMING',
          stage: 'read',
          command: Op.READ_FLASH,
        });
      }
      parts.push(frame);
      received += frame.length;
      // The ack is a bare frame with the running total.
      await this.conn.transport.write(slipEncode(u32le(received)));
      onProgress?.(Math.min(received, size));
    }
    const data = concatBytes(...parts).subarray(0, size);
    const digest = await this.conn.readFrame(packetTimeout, 'read', Op.READ_FLASH);
    if (digest.length !== 16) {
      throw new EspError('READ_FLASH ended without its 16-byte MD5.', {
        code: 'FRAMING',
        stage: 'read',
        command: Op.READ_FLASH,
      });
    }
    const want = Buffer.from(digest).toString('hex');
    const got = md5Hex(data);
    if (want !== got) {
      throw new EspError(
        `Data read from flash is corrupt (MD5 ${got}, the stub computed ${want}); retry, or lower the baud rate.`,
        {
          code: 'DIGEST_MISMATCH',
          stage: 'read',
          command: Op.READ_FLASH,
        },
      );
    }
    return data;
  }

  private shortReply(op: number, stage: EspStage): EspError {
    return new EspError(`The reply to command 0x${op.toString(16)} is shorter than its payload.`, {
      code: 'FRAMING',
      stage,
      command: op,
    });
  }
}

import { type Outcome, type SimChip } from './chip.js';
import { FLASH_SECTOR_BYTES, eraseTimeMs, programTimeMs, readTimeMs } from './flash-memory.js';
import { BlockInflater } from './inflate.js';
import {
  Op,
  ROM_SYNC_VALUE,
  type Request,
  RomError,
  SYNC_BODY,
  checksum,
  encodeReply,
  u32le,
  words,
} from './protocol.js';

/** Replies the ROM sends for one unsupported command (esptool drains up to 8 of them). */
export const ROM_UNSUPPORTED_REPLY_COPIES = 8;
/** Simulated time the ROM spends decoding and answering a command. */
const ROM_COMMAND_MS = 0.1;
/** Time from MEM_END's reply to the stub's OHAI (the stub zeroes BSS and sets up flash). */
const STUB_STARTUP_MS = 5;

const OHAI = Uint8Array.of(0x4f, 0x48, 0x41, 0x49);

function status(chip: SimChip, error: number): Uint8Array {
  const out = new Uint8Array(chip.def.romStatusBytes);
  if (error !== 0) {
    out[0] = 1;
    out[1] = error;
  }
  return out;
}

function answer(
  chip: SimChip,
  op: number,
  options: {
    value?: number;
    payload?: Uint8Array;
    error?: number;
    simMs?: number;
    afterSend?: () => void;
  } = {},
): Outcome {
  chip.romLastReplyOp = op;
  const frame = encodeReply(
    op,
    options.value ?? 0,
    options.payload ?? new Uint8Array(0),
    status(chip, options.error ?? 0),
  );
  return {
    out: [frame],
    delayMs: chip.env.clock.scaled(ROM_COMMAND_MS + (options.simMs ?? 0)),
    afterSend: options.afterSend,
  };
}

function fail(chip: SimChip, op: number, error: number, simMs = 0): Outcome {
  return answer(chip, op, { error, simMs });
}

/**
 * Shape (a) of §1.8: a failure reply whose opcode is not the request's, sent
 * several times. esptool and esptool-js turn it into UnsupportedCommandError.
 */
function unsupported(chip: SimChip): Outcome {
  // The ROM reuses its response header: an unknown command goes out under the previous reply's opcode (§11.1).
  const op = chip.romLastReplyOp;
  const frame = encodeReply(op, 0, new Uint8Array(0), status(chip, RomError.INVALID_FORMAT));
  return {
    out: new Array<Uint8Array>(ROM_UNSUPPORTED_REPLY_COPIES).fill(frame),
    delayMs: chip.env.clock.scaled(ROM_COMMAND_MS),
  };
}

/** The ESP8266 ROM erases about n + min(n, head) sectors for a request of n (§2.5). */
export function esp8266RomEraseBytes(offset: number, requested: number): number {
  const n = Math.ceil(requested / FLASH_SECTOR_BYTES);
  const head = 16 - (Math.floor(offset / FLASH_SECTOR_BYTES) % 16);
  return (n + Math.min(n, head)) * FLASH_SECTOR_BYTES;
}

function isSupported(chip: SimChip, op: number): boolean {
  const rom = chip.def.rom;
  switch (op) {
    case Op.FLASH_BEGIN:
    case Op.FLASH_DATA:
    case Op.FLASH_END:
    case Op.MEM_BEGIN:
    case Op.MEM_DATA:
    case Op.MEM_END:
    case Op.SYNC:
    case Op.WRITE_REG:
    case Op.READ_REG:
      return true;
    case Op.SPI_SET_PARAMS:
      return rom.spiSetParams;
    case Op.SPI_ATTACH:
      return rom.spiAttach;
    case Op.READ_FLASH_SLOW:
      return rom.readFlashSlow;
    case Op.CHANGE_BAUDRATE:
      return rom.changeBaud;
    case Op.FLASH_DEFL_BEGIN:
    case Op.FLASH_DEFL_DATA:
    case Op.FLASH_DEFL_END:
      return rom.deflate;
    case Op.SPI_FLASH_MD5:
      return rom.md5;
    case Op.GET_SECURITY_INFO:
      return chip.def.securityInfoBytes !== null;
    default:
      return false;
  }
}

/** GET_SECURITY_INFO payload of a plain development chip: no secure boot, no encryption (§4.3). */
export function securityInfoPayload(length: 12 | 20, chipId: number): Uint8Array {
  const out = new Uint8Array(length);
  if (length === 20) out.set(u32le(chipId), 12);
  return out;
}

/** Writes a WRITE_REG body (one or more 16-byte tuples) and returns the simulated delay it asked for. */
export function applyWriteReg(chip: SimChip, body: Uint8Array): number {
  const tuples = body.length / 16;
  let delayUs = 0;
  for (let i = 0; i < tuples; i++) {
    const [addr, value, mask, delay] = words(body.subarray(i * 16, i * 16 + 16), 4) as [
      number,
      number,
      number,
      number,
    ];
    delayUs += delay;
    chip.regs.write(addr, value, mask);
  }
  return delayUs / 1000;
}

/** The ROM download loader (§2, §10.1): handles one request. */
export function romHandler(chip: SimChip, req: Request): Outcome | Promise<Outcome> {
  // Replies are for the host; a frame that claims to be one is noise to the ROM.
  if (req.direction !== 0x00) return { out: [], delayMs: 0 };
  if (!isSupported(chip, req.op)) return unsupported(chip);
  const { op, body } = req;
  if (req.size !== body.length) return fail(chip, op, RomError.INVALID_FORMAT);
  switch (op) {
    case Op.SYNC: {
      if (chip.syncsToIgnore > 0) {
        chip.syncsToIgnore--;
        return { out: [], delayMs: 0 };
      }
      if (body.length !== SYNC_BODY.length || !body.every((b, i) => b === SYNC_BODY[i]))
        return fail(chip, op, RomError.INVALID_FORMAT);
      const one = answer(chip, op, { value: ROM_SYNC_VALUE });
      return { ...one, out: new Array<Uint8Array>(8).fill(one.out[0]) };
    }
    case Op.READ_REG: {
      if (body.length !== 4) return fail(chip, op, RomError.INVALID_FORMAT);
      return answer(chip, op, { value: chip.regs.read(words(body, 1)[0]) });
    }
    case Op.WRITE_REG: {
      if (body.length === 0 || body.length % 16 !== 0) return fail(chip, op, RomError.INVALID_FORMAT);
      return answer(chip, op, { simMs: applyWriteReg(chip, body) });
    }
    case Op.SPI_ATTACH:
      // The ROM expects 8 bytes; esptool-js sends 4, which real ROMs are known to accept.
      if (body.length !== 8 && body.length !== 4) return fail(chip, op, RomError.INVALID_FORMAT);
      chip.spiAttached = true;
      return answer(chip, op);
    case Op.SPI_SET_PARAMS: {
      if (body.length !== 24) return fail(chip, op, RomError.INVALID_FORMAT);
      const totalSize = words(body, 2)[1];
      if (totalSize === 0 || totalSize > 128 * 1024 * 1024) return fail(chip, op, RomError.INVALID_PARAM);
      chip.spiParamsSize = totalSize;
      return answer(chip, op);
    }
    case Op.FLASH_BEGIN:
    case Op.FLASH_DEFL_BEGIN:
      return flashBegin(chip, req);
    case Op.FLASH_DATA:
    case Op.FLASH_DEFL_DATA:
      return flashData(chip, req);
    case Op.FLASH_END:
    case Op.FLASH_DEFL_END: {
      if (body.length !== 4) return fail(chip, op, RomError.INVALID_FORMAT);
      const flag = words(body, 1)[0];
      chip.flashSession?.inflater?.close();
      chip.flashSession = null;
      // The ROM replies first, then leaves the loader: 0 = reboot (straps stay latched), else run the app.
      return answer(chip, op, { afterSend: () => chip.env.softReset(flag === 0 ? 'reboot' : 'run-app') });
    }
    case Op.MEM_BEGIN: {
      if (body.length !== 16) return fail(chip, op, RomError.INVALID_FORMAT);
      const [size, numBlocks, blockSize, address] = words(body, 4) as [number, number, number, number];
      if (size > 0x80000 || blockSize === 0 || numBlocks * blockSize < size)
        return fail(chip, op, RomError.INVALID_PARAM);
      chip.memSession = {
        address,
        size,
        numBlocks,
        blockSize,
        nextSeq: 0,
        data: new Uint8Array(size),
        received: 0,
      };
      return answer(chip, op);
    }
    case Op.MEM_DATA: {
      const session = chip.memSession;
      if (!session || body.length < 16) return fail(chip, op, RomError.INVALID_FORMAT);
      const [len, seq] = words(body, 2) as [number, number];
      const data = body.subarray(16);
      if (len !== data.length) return fail(chip, op, RomError.INVALID_FORMAT);
      if (checksum(data) !== (req.checksum & 0xff)) return fail(chip, op, RomError.BAD_CHECKSUM);
      if (seq !== session.nextSeq || session.received + len > session.size)
        return fail(chip, op, RomError.INVALID_FORMAT);
      session.data.set(data, session.received);
      session.received += len;
      session.nextSeq++;
      if (session.received === session.size) {
        chip.ram.push({ address: session.address, data: session.data });
        chip.memSession = null;
      }
      return answer(chip, op);
    }
    case Op.MEM_END: {
      if (body.length !== 8) return fail(chip, op, RomError.INVALID_FORMAT);
      const [flag, entry] = words(body, 2) as [number, number];
      if (chip.memSession) return fail(chip, op, RomError.INVALID_FORMAT);
      if (flag !== 0) return answer(chip, op);
      return answer(chip, op, { afterSend: () => chip.startRamCode(entry) });
    }
    case Op.CHANGE_BAUDRATE: {
      if (body.length !== 8) return fail(chip, op, RomError.INVALID_FORMAT);
      const newBaud = words(body, 1)[0];
      if (newBaud < 300 || newBaud > 5_000_000) return fail(chip, op, RomError.INVALID_PARAM);
      // Reply at the old rate, then switch (§6.6).
      return answer(chip, op, {
        afterSend: () => {
          chip.baud = newBaud;
          chip.autobaud = false;
        },
      });
    }
    case Op.SPI_FLASH_MD5: {
      if (body.length !== 16) return fail(chip, op, RomError.INVALID_FORMAT);
      const [addr, size] = words(body, 2) as [number, number];
      if (addr + size > chip.flash.sizeBytes) return fail(chip, op, RomError.INVALID_PARAM);
      const hex = Buffer.from(chip.flash.md5(addr, size)).toString('hex');
      chip.served.md5s++;
      return answer(chip, op, { payload: Buffer.from(hex, 'ascii'), simMs: readTimeMs(size) });
    }
    case Op.READ_FLASH_SLOW: {
      if (body.length !== 8) return fail(chip, op, RomError.INVALID_FORMAT);
      const [addr, len] = words(body, 2) as [number, number];
      if (len > 64) return fail(chip, op, RomError.INVALID_PARAM);
      if (addr + len > chip.flash.sizeBytes) return fail(chip, op, RomError.FLASH_READ);
      const payload = new Uint8Array(64).fill(0xff);
      payload.set(chip.flash.read(addr, len));
      return answer(chip, op, { payload, simMs: readTimeMs(64) });
    }
    case Op.GET_SECURITY_INFO: {
      if (body.length !== 0) return fail(chip, op, RomError.INVALID_FORMAT);
      return answer(chip, op, {
        payload: securityInfoPayload(chip.def.securityInfoBytes!, chip.def.imageChipId ?? 0),
      });
    }
    default:
      return unsupported(chip);
  }
}

function flashBegin(chip: SimChip, req: Request): Outcome {
  const { op, body } = req;
  if (body.length !== 16 && body.length !== 20) return fail(chip, op, RomError.INVALID_FORMAT);
  const [size, numBlocks, blockSize, offset] = words(body, 4) as [number, number, number, number];
  if (blockSize === 0 || blockSize > 0x4000) return fail(chip, op, RomError.INVALID_PARAM);
  let eraseBytes = size;
  if (chip.def.name === 'esp8266' && size > 0) eraseBytes = esp8266RomEraseBytes(offset, size);
  if (offset > chip.flash.sizeBytes || offset + size > chip.flash.sizeBytes)
    return fail(chip, op, RomError.INVALID_PARAM);
  // The quirk can run past the end of the chip; the part just stops there.
  eraseBytes = Math.min(eraseBytes, chip.flash.sizeBytes - offset);
  // The ESP8266 ROM has no SPI_ATTACH: its flash_begin attaches the flash (esptool's flash_spi_attach relies on it).
  if (chip.def.name === 'esp8266') chip.spiAttached = true;
  chip.flashSession?.inflater?.close();
  const compressed = op === Op.FLASH_DEFL_BEGIN;
  chip.flashSession = {
    compressed,
    offset,
    size,
    numBlocks,
    blockSize,
    nextSeq: 0,
    written: 0,
    inflater: compressed ? new BlockInflater() : null,
  };
  // The ROM erases everything up front and only then replies (§2.6).
  const start = Math.floor(offset / FLASH_SECTOR_BYTES) * FLASH_SECTOR_BYTES;
  const length = eraseBytes > 0 ? offset + eraseBytes - start : 0;
  chip.flash.erase(start, length);
  chip.served.flashBegins++;
  chip.served.md5sAtLastBegin = chip.served.md5s;
  return answer(chip, op, { simMs: eraseTimeMs(start, length) });
}

async function flashData(chip: SimChip, req: Request): Promise<Outcome> {
  const { op, body } = req;
  const session = chip.flashSession;
  const compressed = op === Op.FLASH_DEFL_DATA;
  if (!session || session.compressed !== compressed || body.length < 16)
    return fail(chip, op, RomError.INVALID_FORMAT);
  const [len, seq] = words(body, 2) as [number, number];
  const data = body.subarray(16);
  if (len !== data.length) return fail(chip, op, RomError.INVALID_FORMAT);
  if (checksum(data) !== (req.checksum & 0xff)) return fail(chip, op, RomError.BAD_CHECKSUM);
  // Uncompressed blocks must be exactly block_size (the host pads the last one); compressed ones may be shorter.
  if (compressed ? len > session.blockSize : len !== session.blockSize)
    return fail(chip, op, RomError.INVALID_FORMAT);
  if (seq >= session.numBlocks) return fail(chip, op, RomError.INVALID_FORMAT);
  if (!compressed) {
    // A retry of the block just written (its ack was lost) is accepted and rewritten.
    if (seq !== session.nextSeq && seq + 1 !== session.nextSeq)
      return fail(chip, op, RomError.INVALID_FORMAT);
    const address = session.offset + seq * session.blockSize;
    return program(chip, op, address, data, () => {
      session.nextSeq = seq + 1;
      session.written = Math.max(session.written, (seq + 1) * session.blockSize);
    });
  }
  if (seq !== session.nextSeq) return fail(chip, op, RomError.INVALID_FORMAT);
  const step = await session.inflater!.push(data);
  if (step.error) return fail(chip, op, RomError.DEFLATE);
  const address = session.offset + session.written;
  return program(chip, op, address, step.output, () => {
    session.nextSeq++;
    session.written += step.output.length;
  });
}

function program(chip: SimChip, op: number, address: number, data: Uint8Array, advance: () => void): Outcome {
  if (address + data.length > chip.flash.sizeBytes) return fail(chip, op, RomError.FLASH_WRITE);
  if (chip.env.flashWriteFails(address, data.length))
    return fail(chip, op, RomError.FLASH_WRITE, programTimeMs(data.length));
  if (data.length > 0) chip.flash.program(address, data);
  advance();
  return answer(chip, op, { simMs: programTimeMs(data.length) });
}

/** The stub's greeting: a bare SLIP frame "OHAI" (§5.3). */
export function ohaiFrame(): Uint8Array {
  return Uint8Array.of(0xc0, ...OHAI, 0xc0);
}

export { STUB_STARTUP_MS };

import { type Outcome, type SimChip } from './chip.js';
import {
  FLASH_BLOCK_BYTES,
  FLASH_SECTOR_BYTES,
  eraseTimeMs,
  programTimeMs,
  readTimeMs,
} from './flash-memory.js';
import { BlockInflater } from './inflate.js';
import { Op, type Request, StubError, SYNC_BODY, checksum, encodeReply, words } from './protocol.js';
import { applyWriteReg, securityInfoPayload } from './rom-loader.js';
import { slipEncode } from './slip.js';

/** Simulated time the stub spends on a command before answering. */
const STUB_COMMAND_MS = 0.05;
/** The stub's data buffer: a FLASH_(DEFL_)DATA block may not exceed it. */
export const STUB_MAX_BLOCK_BYTES = 0x4000;
/** READ_FLASH packets larger than this are refused. */
const STUB_MAX_READ_PACKET = 0x1000;

function answer(
  chip: SimChip,
  op: number,
  options: {
    value?: number;
    payload?: Uint8Array;
    error?: number;
    delayMs?: number;
    afterSend?: () => void;
  } = {},
): Outcome {
  const statusBytes = Uint8Array.of(options.error ?? 0, 0);
  const frame = encodeReply(op, options.value ?? 0, options.payload ?? new Uint8Array(0), statusBytes);
  return {
    out: [frame],
    delayMs: chip.env.clock.scaled(STUB_COMMAND_MS) + (options.delayMs ?? 0),
    afterSend: options.afterSend,
  };
}

function fail(chip: SimChip, op: number, error: number): Outcome {
  return answer(chip, op, { error });
}

/** Real milliseconds until the writes already acknowledged are on the flash. */
function flashWait(chip: SimChip): number {
  return Math.max(0, chip.stubFlashIdleAt - chip.env.clock.now());
}

/** Books simulated flash work after whatever is already in progress (the stub writes while receiving). */
function queueFlashWork(chip: SimChip, simMs: number): void {
  const now = chip.env.clock.now();
  chip.stubFlashIdleAt = Math.max(now, chip.stubFlashIdleAt) + chip.env.clock.scaled(simMs);
}

/** Per-session state the stub keeps beyond the common FlashSession: how far it has erased. */
const erasedUpTo = new WeakMap<object, number>();

/**
 * Writes data at address the way the stub does: erase lazily just ahead of
 * the write pointer (64 KiB blocks where aligned, 4 KiB sectors otherwise,
 * skipping blank ones), then program. Returns false when the write failed.
 */
function stubWrite(chip: SimChip, session: object, address: number, data: Uint8Array): boolean {
  if (data.length === 0) return true;
  const end = address + data.length;
  let erased = erasedUpTo.get(session) ?? Math.floor(address / FLASH_SECTOR_BYTES) * FLASH_SECTOR_BYTES;
  let simMs = 0;
  while (erased < end) {
    const useBlock = erased % FLASH_BLOCK_BYTES === 0 && end - erased >= FLASH_BLOCK_BYTES;
    const span = Math.min(useBlock ? FLASH_BLOCK_BYTES : FLASH_SECTOR_BYTES, chip.flash.sizeBytes - erased);
    if (span <= 0) break;
    if (!chip.flash.isErased(erased, span)) {
      chip.flash.erase(erased, span);
      simMs += eraseTimeMs(erased, span);
    }
    erased += span;
  }
  erasedUpTo.set(session, erased);
  if (chip.env.flashWriteFails(address, data.length)) {
    queueFlashWork(chip, simMs + programTimeMs(data.length));
    return false;
  }
  chip.flash.program(address, data);
  queueFlashWork(chip, simMs + programTimeMs(data.length));
  return true;
}

/**
 * The esp-flasher-stub personality that esptool-js 0.7.0 uploads (§5.4,
 * §10.2): 2 status bytes, ack before write with deferred errors that make
 * the next command fail unexecuted, lazy erase, streaming READ_FLASH.
 */
export function stubHandler(chip: SimChip, req: Request): Outcome | Promise<Outcome> {
  const { op, body } = req;
  if (req.direction !== 0x00) return fail(chip, op, StubError.INVALID_COMMAND);
  if (chip.stubDeferredError !== null) {
    const error = chip.stubDeferredError;
    chip.stubDeferredError = null;
    return fail(chip, op, error);
  }
  if (req.size !== body.length) return fail(chip, op, StubError.BAD_DATA_LEN);
  switch (op) {
    case Op.SYNC: {
      if (body.length !== SYNC_BODY.length) return fail(chip, op, StubError.BAD_DATA_LEN);
      const one = answer(chip, op);
      return { ...one, out: new Array<Uint8Array>(8).fill(one.out[0]) };
    }
    case Op.READ_REG:
      if (body.length !== 4) return fail(chip, op, StubError.BAD_DATA_LEN);
      return answer(chip, op, { value: chip.regs.read(words(body, 1)[0]) });
    case Op.WRITE_REG:
      if (body.length === 0 || body.length % 16 !== 0) return fail(chip, op, StubError.BAD_DATA_LEN);
      return answer(chip, op, { delayMs: chip.env.clock.scaled(applyWriteReg(chip, body)) });
    case Op.SPI_ATTACH:
      if (body.length !== 4) return fail(chip, op, StubError.BAD_DATA_LEN);
      chip.spiAttached = true;
      return answer(chip, op);
    case Op.SPI_SET_PARAMS:
      if (body.length !== 24) return fail(chip, op, StubError.BAD_DATA_LEN);
      chip.spiParamsSize = words(body, 2)[1]!;
      return answer(chip, op);
    case Op.FLASH_BEGIN:
    case Op.FLASH_DEFL_BEGIN: {
      if (body.length !== 16 && body.length !== 20) return fail(chip, op, StubError.BAD_DATA_LEN);
      const [size, numBlocks, blockSize, offset] = words(body, 4) as [number, number, number, number];
      if (blockSize > STUB_MAX_BLOCK_BYTES) return fail(chip, op, StubError.BAD_BLOCKSIZE);
      if (offset + size > chip.flash.sizeBytes) return fail(chip, op, StubError.FAILED_SPI_OP);
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
      chip.served.flashBegins++;
      chip.served.md5sAtLastBegin = chip.served.md5s;
      // Erasing happens lazily while writing, so BEGIN answers at once (§2.6).
      return answer(chip, op, { delayMs: flashWait(chip) });
    }
    case Op.FLASH_DATA:
    case Op.FLASH_DEFL_DATA:
      return flashData(chip, req);
    case Op.FLASH_END:
    case Op.FLASH_DEFL_END: {
      if (body.length !== 4) return fail(chip, op, StubError.BAD_DATA_LEN);
      const session = chip.flashSession;
      if (!session) return fail(chip, op, StubError.NOT_IN_FLASH_MODE);
      const flag = words(body, 1)[0];
      const missing = session.written < session.size;
      session.inflater?.close();
      chip.flashSession = null;
      // The reply waits for the last acknowledged block to reach the flash: END is the write barrier.
      if (missing) return answer(chip, op, { error: StubError.BAD_DATA_LEN, delayMs: flashWait(chip) });
      return answer(chip, op, {
        delayMs: flashWait(chip),
        afterSend: flag === 0 ? () => chip.env.softReset('reboot') : undefined,
      });
    }
    case Op.MEM_BEGIN: {
      if (body.length !== 16) return fail(chip, op, StubError.BAD_DATA_LEN);
      const [size, numBlocks, blockSize, address] = words(body, 4) as [number, number, number, number];
      if (size > 0x80000) return fail(chip, op, StubError.BAD_DATA_LEN);
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
      if (!session) return fail(chip, op, StubError.NOT_IN_FLASH_MODE);
      if (body.length < 16) return fail(chip, op, StubError.NOT_ENOUGH_DATA);
      const [len] = words(body, 1) as [number];
      const data = body.subarray(16);
      if (len !== data.length) return fail(chip, op, StubError.BAD_DATA_LEN);
      if (checksum(data) !== (req.checksum & 0xff)) return fail(chip, op, StubError.BAD_DATA_CHECKSUM);
      if (session.received + len > session.size) return fail(chip, op, StubError.TOO_MUCH_DATA);
      session.data.set(data, session.received);
      session.received += len;
      return answer(chip, op);
    }
    case Op.MEM_END: {
      if (body.length !== 8) return fail(chip, op, StubError.BAD_DATA_LEN);
      const session = chip.memSession;
      if (!session) return fail(chip, op, StubError.NOT_IN_FLASH_MODE);
      if (session.received < session.size) return fail(chip, op, StubError.NOT_ENOUGH_DATA);
      chip.memSession = null;
      const [flag] = words(body, 1) as [number];
      // Jumping elsewhere from the stub leaves the simulated world: the chip goes quiet.
      return answer(chip, op, { afterSend: flag === 0 ? () => chip.runSilent('halted') : undefined });
    }
    case Op.CHANGE_BAUDRATE: {
      if (body.length !== 8) return fail(chip, op, StubError.BAD_DATA_LEN);
      const newBaud = words(body, 1)[0];
      if (newBaud < 300 || newBaud > 5_000_000) return fail(chip, op, StubError.BAD_DATA_LEN);
      return answer(chip, op, {
        afterSend: () => {
          chip.baud = newBaud;
          chip.autobaud = false;
        },
      });
    }
    case Op.SPI_FLASH_MD5: {
      if (body.length !== 16) return fail(chip, op, StubError.BAD_DATA_LEN);
      const [addr, size] = words(body, 2) as [number, number];
      if (addr + size > chip.flash.sizeBytes) return fail(chip, op, StubError.FAILED_SPI_OP);
      chip.served.md5s++;
      return answer(chip, op, {
        payload: chip.flash.md5(addr, size),
        delayMs: flashWait(chip) + chip.env.clock.scaled(readTimeMs(size)),
      });
    }
    case Op.GET_SECURITY_INFO: {
      const length = chip.def.securityInfoBytes;
      if (length === null) return fail(chip, op, 0xff);
      return answer(chip, op, { payload: securityInfoPayload(length, chip.def.imageChipId ?? 0) });
    }
    case Op.ERASE_FLASH: {
      if (body.length !== 0) return fail(chip, op, StubError.BAD_DATA_LEN);
      chip.flash.eraseAll();
      return answer(chip, op, {
        delayMs: flashWait(chip) + chip.env.clock.scaled(eraseTimeMs(0, chip.flash.sizeBytes)),
      });
    }
    case Op.ERASE_REGION: {
      if (body.length !== 8) return fail(chip, op, StubError.BAD_DATA_LEN);
      const [offset, size] = words(body, 2) as [number, number];
      if (offset % FLASH_SECTOR_BYTES !== 0 || size % FLASH_SECTOR_BYTES !== 0)
        return fail(chip, op, StubError.BAD_DATA_LEN);
      if (offset + size > chip.flash.sizeBytes) return fail(chip, op, StubError.FAILED_SPI_OP);
      chip.flash.erase(offset, size);
      return answer(chip, op, {
        delayMs: flashWait(chip) + chip.env.clock.scaled(eraseTimeMs(offset, size)),
      });
    }
    case Op.READ_FLASH:
      return readFlash(chip, req);
    case Op.RUN_USER_CODE:
      if (chip.def.name !== 'esp8266') return fail(chip, op, StubError.INVALID_COMMAND);
      // No reply: the stub jumps straight into the app (§2.1).
      return { out: [], delayMs: 0, afterSend: () => chip.env.softReset('run-app') };
    default:
      return fail(chip, op, StubError.INVALID_COMMAND);
  }
}

async function flashData(chip: SimChip, req: Request): Promise<Outcome> {
  const { op, body } = req;
  const session = chip.flashSession;
  const compressed = op === Op.FLASH_DEFL_DATA;
  if (!session || session.compressed !== compressed) return fail(chip, op, StubError.NOT_IN_FLASH_MODE);
  if (body.length < 16) return fail(chip, op, StubError.NOT_ENOUGH_DATA);
  const [len] = words(body, 1) as [number];
  const data = body.subarray(16);
  if (len !== data.length) return fail(chip, op, StubError.BAD_DATA_LEN);
  if (checksum(data) !== (req.checksum & 0xff)) return fail(chip, op, StubError.BAD_DATA_CHECKSUM);
  // The ack waits only for the previous block's write (double buffering), not for this one.
  const ack = answer(chip, op, { delayMs: flashWait(chip) });
  let output: Uint8Array = data;
  if (compressed) {
    const step = await session.inflater!.push(data);
    if (step.error) {
      chip.stubDeferredError = StubError.INFLATE_ERROR;
      return ack;
    }
    output = step.output;
  }
  const remaining = session.size - session.written;
  if (remaining === 0 && output.length > 0) {
    chip.stubDeferredError = StubError.TOO_MUCH_DATA;
    return ack;
  }
  // An uncompressed last block arrives padded to the block size; only the declared bytes are written.
  const toWrite = output.subarray(0, Math.min(output.length, remaining));
  if (compressed && output.length > remaining) chip.stubDeferredError = StubError.TOO_MUCH_DATA;
  if (!stubWrite(chip, session, session.offset + session.written, toWrite)) {
    chip.stubDeferredError = StubError.FAILED_SPI_OP;
    return ack;
  }
  session.written += toWrite.length;
  session.nextSeq++;
  return ack;
}

function readFlash(chip: SimChip, req: Request): Outcome {
  const { op, body } = req;
  if (body.length !== 16) return fail(chip, op, StubError.BAD_DATA_LEN);
  const [offset, length, packet] = words(body, 3) as [number, number, number];
  if (packet === 0 || packet > STUB_MAX_READ_PACKET) return fail(chip, op, StubError.BAD_DATA_LEN);
  if (offset + length > chip.flash.sizeBytes) return fail(chip, op, StubError.FAILED_SPI_OP);
  return answer(chip, op, {
    delayMs: flashWait(chip),
    afterSend: () => {
      chip.readStream = { offset, length, packet, sent: 0, acked: 0 };
      chip.onReadAck = (frame) => onAck(chip, frame);
      sendNextPacket(chip);
    },
  });
}

/** Sends the next packet; one packet is in flight at a time (both stubs behave so, §6.4). */
function sendNextPacket(chip: SimChip): void {
  const stream = chip.readStream;
  if (!stream) return;
  if (stream.sent >= stream.length) {
    finishRead(chip);
    return;
  }
  const n = Math.min(stream.packet, stream.length - stream.sent);
  const data = chip.flash.read(stream.offset + stream.sent, n);
  stream.sent += n;
  chip.schedule(readTimeMs(n), () => chip.send(slipEncode(data)));
}

function onAck(chip: SimChip, frame: Uint8Array): void {
  const stream = chip.readStream;
  if (!stream) return;
  if (frame.length !== 4) {
    // A malformed ack ends the stream; the digest of what was sent still follows.
    stream.length = stream.sent;
    finishRead(chip);
    return;
  }
  stream.acked = new DataView(frame.buffer, frame.byteOffset, 4).getUint32(0, true);
  if (stream.acked >= stream.sent) sendNextPacket(chip);
}

function finishRead(chip: SimChip): void {
  const stream = chip.readStream;
  if (!stream) return;
  chip.readStream = null;
  chip.send(slipEncode(chip.flash.md5(stream.offset, stream.sent)));
}

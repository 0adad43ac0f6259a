import { type FlashSession, type Outcome, type SimChip } from './chip.js';
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
import { FLASH_ENCRYPT_DATA, type StubBehaviour } from './stub-behaviour.js';

/** Simulated time the stub spends on a command before answering. */
const STUB_COMMAND_MS = 0.05;
/** The stubs' data buffer: a FLASH_(DEFL_)DATA block may not exceed it. */
export const STUB_MAX_BLOCK_BYTES = 0x4000;
/** READ_FLASH packets larger than the stubs' 4 KiB read buffer are refused. */
const STUB_MAX_READ_PACKET = 0x1000;
/** Code 0xFF: "command not implemented" (legacy default, esp-flasher-stub's empty plugin slots). */
const CMD_NOT_IMPLEMENTED = 0xff;
/** The legacy stub's status for a frame longer than its buffer: C0 EE. */
const LEGACY_OVERSIZE_STATUS = Uint8Array.of(StubError.BAD_DATA_LEN, 0xee);

/** The behaviour of the stub running on the chip (the handler only runs while one does). */
function behaviourOf(chip: SimChip): StubBehaviour {
  return chip.stub!.behaviour;
}

/** The two status bytes of a reply in the stub's layout. */
function statusBytes(b: StubBehaviour, error: number): Uint8Array {
  if (error === 0) return new Uint8Array(2);
  return b.statusLayout === 'code-first' ? Uint8Array.of(error, 0) : Uint8Array.of(1, error);
}

function answer(
  chip: SimChip,
  op: number,
  options: {
    value?: number;
    payload?: Uint8Array;
    error?: number;
    status?: Uint8Array;
    delayMs?: number;
    afterSend?: () => void;
  } = {},
): Outcome {
  const status = options.status ?? statusBytes(behaviourOf(chip), options.error ?? 0);
  const frame = encodeReply(op, options.value ?? 0, options.payload ?? new Uint8Array(0), status);
  return {
    out: [frame],
    delayMs: chip.env.clock.scaled(STUB_COMMAND_MS) + (options.delayMs ?? 0),
    afterSend: options.afterSend,
  };
}

/** A failed reply from one of the stub's command handlers. */
function fail(chip: SimChip, op: number, error: number): Outcome {
  // `verify_data_len(...) || handler(...)` in the legacy stub is a C boolean: every failure becomes 1.
  const code = behaviourOf(chip).booleanErrorOps.includes(op) ? 1 : error;
  return answer(chip, op, { error: code });
}

/** The reply to an opcode the stub has no handler for. */
function notImplemented(chip: SimChip, op: number, error: number): Outcome {
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

/** Per-session state the stub keeps beyond the common FlashSession. */
interface StubWriteState {
  /** Everything below this address (of the session's range) is erased or known blank. */
  erasedUpTo: number;
  /** End of the range the session may erase: offset + size rounded up to a sector. */
  eraseEnd: number;
  /** esp-flasher-stub ≥ v1.1.0: a non-blank sector was met, so the rest is erased unread. */
  dirtySeen: boolean;
  /** Legacy stub: the sticky error of a failed write, reported on every DATA and at END. */
  lastError: number;
}

const writeStates = new WeakMap<FlashSession, StubWriteState>();

function writeState(session: FlashSession): StubWriteState {
  let state = writeStates.get(session);
  if (!state) {
    const start = Math.floor(session.offset / FLASH_SECTOR_BYTES) * FLASH_SECTOR_BYTES;
    const end = Math.ceil((session.offset + session.size) / FLASH_SECTOR_BYTES) * FLASH_SECTOR_BYTES;
    state = { erasedUpTo: start, eraseEnd: end, dirtySeen: false, lastError: 0 };
    writeStates.set(session, state);
  }
  return state;
}

/** Erases [erasedUpTo, target) the way the running stub does; returns the simulated time it took. */
function eraseAhead(chip: SimChip, state: StubWriteState, target: number): number {
  const b = behaviourOf(chip);
  const end = Math.min(target, state.eraseEnd, chip.flash.sizeBytes);
  let simMs = 0;
  while (state.erasedUpTo < end) {
    const at = state.erasedUpTo;
    if (b.erase === 'skip-blank-until-dirty' && !state.dirtySeen) {
      // Reads the sector first: a blank one is skipped, the first non-blank one ends the reading.
      simMs += readTimeMs(FLASH_SECTOR_BYTES);
      if (chip.flash.isErased(at, FLASH_SECTOR_BYTES)) {
        state.erasedUpTo += FLASH_SECTOR_BYTES;
        continue;
      }
      state.dirtySeen = true;
    }
    // A 64 KiB block erase where aligned and the range still holds a whole block, else one sector.
    const span =
      at % FLASH_BLOCK_BYTES === 0 && state.eraseEnd - at >= FLASH_BLOCK_BYTES
        ? FLASH_BLOCK_BYTES
        : FLASH_SECTOR_BYTES;
    const length = Math.min(span, chip.flash.sizeBytes - at);
    chip.flash.erase(at, length);
    simMs += eraseTimeMs(at, length);
    state.erasedUpTo += span;
  }
  return simMs;
}

/**
 * Writes data at address the way the stub does: erase just ahead of the
 * write pointer, then program. Returns false when the write failed.
 */
function stubWrite(chip: SimChip, session: FlashSession, address: number, data: Uint8Array): boolean {
  if (data.length === 0) return true;
  const state = writeState(session);
  const simMs = eraseAhead(chip, state, address + data.length);
  queueFlashWork(chip, simMs + programTimeMs(data.length));
  if (chip.env.flashWriteFails(address, data.length)) return false;
  chip.flash.program(address, data);
  return true;
}

/** Records the error of an acknowledged block where the running stub keeps it. */
function deferError(chip: SimChip, session: FlashSession, error: number): void {
  switch (behaviourOf(chip).deferredError) {
    case 'next-command':
      chip.stubDeferredError = error;
      return;
    case 'next-flash-command': {
      const state = writeState(session);
      if (state.lastError === 0) state.lastError = error;
      return;
    }
    case 'lost':
      return;
  }
}

/** Whether the stub has a handler for op on this chip (FLASH_ENCRYPT_DATA is not built for the ESP8266). */
function implemented(chip: SimChip, b: StubBehaviour, op: number): boolean {
  if (op === FLASH_ENCRYPT_DATA && chip.def.name === 'esp8266') return false;
  return b.commands.includes(op);
}

function isNotImplemented(b: StubBehaviour, op: number): boolean {
  const range = b.notImplementedOpcodes;
  return range !== null && op >= range[0] && op <= range[1];
}

/**
 * The flasher stub personality (§5.4, §10.2), parameterised by the stub's
 * catalogued behaviour: 2 status bytes, acks before writes with the error of
 * a failed write reported where that stub reports it, erase just ahead of
 * the writes, streaming READ_FLASH.
 */
export function stubHandler(chip: SimChip, req: Request): Outcome | Promise<Outcome> {
  const b = behaviourOf(chip);
  const { op, body } = req;
  if (req.direction !== 0x00) return fail(chip, op, StubError.INVALID_COMMAND);
  if (b.oversizedFrame === 'reply-c0-ee' && req.size > b.maxBlockBytes + 16)
    return answer(chip, op, { status: LEGACY_OVERSIZE_STATUS });
  if (req.size !== body.length) return answer(chip, op, { error: StubError.BAD_DATA_LEN });
  if (chip.stubDeferredError !== null) {
    const error = chip.stubDeferredError;
    chip.stubDeferredError = null;
    return answer(chip, op, { error });
  }
  if (!implemented(chip, b, op))
    return notImplemented(chip, op, isNotImplemented(b, op) ? CMD_NOT_IMPLEMENTED : b.unknownCommandError);
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
      return writeReg(chip, req);
    case Op.SPI_ATTACH:
      // The Rust stub reads the first word of whatever it gets; the C stubs want exactly 4 bytes.
      if (b.family === 'esp-rs-flasher-stub' ? body.length < 4 : body.length !== 4)
        return fail(chip, op, StubError.BAD_DATA_LEN);
      chip.spiAttached = true;
      return answer(chip, op);
    case Op.SPI_SET_PARAMS:
      if (body.length !== 24) return fail(chip, op, StubError.BAD_DATA_LEN);
      chip.spiParamsSize = words(body, 2)[1]!;
      return answer(chip, op);
    case Op.FLASH_BEGIN:
    case Op.FLASH_DEFL_BEGIN:
      return flashBegin(chip, req);
    case Op.FLASH_DATA:
    case Op.FLASH_DEFL_DATA:
    case FLASH_ENCRYPT_DATA:
      return flashData(chip, req);
    case Op.FLASH_END:
    case Op.FLASH_DEFL_END:
      return flashEnd(chip, req);
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
      const [flag, entry] = words(body, 2) as [number, number];
      const jumps = b.memEndJumps === 'flag-zero' ? flag === 0 : entry !== 0;
      // Jumping elsewhere from the stub leaves the simulated world: the chip goes quiet.
      return answer(chip, op, { afterSend: jumps ? () => chip.runSilent('halted') : undefined });
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
      // Every stub answers the 16 raw digest bytes (the ROM sends 32 hex characters).
      return answer(chip, op, {
        payload: chip.flash.md5(addr, size),
        delayMs: flashWait(chip) + chip.env.clock.scaled(readTimeMs(size)),
      });
    }
    case Op.GET_SECURITY_INFO: {
      const length = chip.def.securityInfoBytes;
      // ESP8266/ESP32 have no security info: the C stubs say "not implemented", the Rust one InvalidCommand.
      if (length === null)
        return notImplemented(
          chip,
          op,
          b.family === 'esp-rs-flasher-stub' ? StubError.INVALID_COMMAND : CMD_NOT_IMPLEMENTED,
        );
      return answer(chip, op, { payload: securityInfoPayload(length, chip.def.imageChipId ?? 0) });
    }
    case Op.ERASE_FLASH: {
      if (b.family === 'esptool-legacy' && body.length !== 0) return fail(chip, op, StubError.BAD_DATA_LEN);
      chip.flash.eraseAll();
      return answer(chip, op, {
        delayMs: flashWait(chip) + chip.env.clock.scaled(eraseTimeMs(0, chip.flash.sizeBytes)),
      });
    }
    case Op.ERASE_REGION: {
      if (body.length !== 8) return fail(chip, op, StubError.BAD_DATA_LEN);
      const [offset, size] = words(body, 2) as [number, number];
      if (offset % FLASH_SECTOR_BYTES !== 0 || size % FLASH_SECTOR_BYTES !== 0)
        return fail(chip, op, b.misalignedEraseError);
      if (offset + size > chip.flash.sizeBytes) return fail(chip, op, StubError.FAILED_SPI_OP);
      chip.flash.erase(offset, size);
      return answer(chip, op, {
        delayMs: flashWait(chip) + chip.env.clock.scaled(eraseTimeMs(offset, size)),
      });
    }
    case Op.READ_FLASH:
      return readFlash(chip, req);
    case Op.RUN_USER_CODE:
      // No reply in any stub.
      switch (b.runUserCode) {
        case 'run-app':
          // The legacy stub returns from its main; on the ESP8266 that return address is the ROM's app boot.
          return {
            out: [],
            delayMs: 0,
            afterSend: () =>
              chip.def.name === 'esp8266' ? chip.env.softReset('run-app') : chip.runSilent('halted'),
          };
        case 'soft-reset':
          return { out: [], delayMs: 0, afterSend: () => chip.env.softReset('reboot') };
        case 'ignore':
          return { out: [], delayMs: 0 };
      }
      break;
    default:
      break;
  }
  return fail(chip, op, b.unknownCommandError);
}

function writeReg(chip: SimChip, req: Request): Outcome {
  const { op, body } = req;
  if (behaviourOf(chip).writeRegAllTuples) {
    if (body.length === 0 || body.length % 16 !== 0) return fail(chip, op, StubError.BAD_DATA_LEN);
    return answer(chip, op, { delayMs: chip.env.clock.scaled(applyWriteReg(chip, body)) });
  }
  // The Rust stub writes the first tuple's value as is: no mask, no delay, later tuples ignored.
  if (body.length < 16) return fail(chip, op, StubError.BAD_DATA_LEN);
  const [addr, value] = words(body, 2) as [number, number];
  chip.regs.write(addr, value);
  return answer(chip, op);
}

function flashBegin(chip: SimChip, req: Request): Outcome {
  const b = behaviourOf(chip);
  const { op, body } = req;
  if (body.length !== 16 && body.length !== 20) return fail(chip, op, StubError.BAD_DATA_LEN);
  const [size, numBlocks, blockSize, offset] = words(body, 4) as [number, number, number, number];
  if (b.beginChecksBlockSize && blockSize > b.maxBlockBytes) return fail(chip, op, StubError.BAD_BLOCKSIZE);
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
  // Erasing happens while writing, so BEGIN answers at once (§2.6).
  return answer(chip, op, { delayMs: flashWait(chip) });
}

async function flashData(chip: SimChip, req: Request): Promise<Outcome> {
  const b = behaviourOf(chip);
  const { op, body } = req;
  const session = chip.flashSession;
  const compressed = op === Op.FLASH_DEFL_DATA;
  if (!session || session.compressed !== compressed) return fail(chip, op, StubError.NOT_IN_FLASH_MODE);
  if (body.length < 16) return fail(chip, op, StubError.NOT_ENOUGH_DATA);
  const [len] = words(body, 1) as [number];
  const data = body.subarray(16);
  if (len !== data.length) return fail(chip, op, b.dataLengthError);
  if (checksum(data) !== (req.checksum & 0xff)) return fail(chip, op, StubError.BAD_DATA_CHECKSUM);
  // The legacy stub answers every block after a failed write with that error and drops the block.
  const sticky = b.deferredError === 'next-flash-command' ? writeState(session).lastError : 0;
  if (sticky !== 0) return fail(chip, op, sticky);
  // The ack waits only for the previous block's write (double buffering), not for this one.
  const ack = answer(chip, op, { delayMs: flashWait(chip) });
  let output: Uint8Array = data;
  if (compressed) {
    const step = await session.inflater!.push(data);
    if (step.error) {
      deferError(chip, session, StubError.INFLATE_ERROR);
      return ack;
    }
    output = step.output;
  }
  const remaining = session.size - session.written;
  if (remaining === 0 && output.length > 0) {
    deferError(chip, session, StubError.TOO_MUCH_DATA);
    return ack;
  }
  // An uncompressed last block arrives padded to the block size; only the declared bytes are written.
  const toWrite = output.subarray(0, Math.min(output.length, remaining));
  if (compressed && output.length > remaining) deferError(chip, session, StubError.TOO_MUCH_DATA);
  if (!stubWrite(chip, session, session.offset + session.written, toWrite)) {
    deferError(chip, session, StubError.FAILED_SPI_OP);
    // The legacy and Rust stubs move their write pointer past a failed write; esp-flasher-stub does not.
    if (b.deferredError !== 'next-command') session.written += toWrite.length;
    return ack;
  }
  session.written += toWrite.length;
  session.nextSeq++;
  return ack;
}

function flashEnd(chip: SimChip, req: Request): Outcome {
  const b = behaviourOf(chip);
  const { op, body } = req;
  if (body.length !== 4) return fail(chip, op, StubError.BAD_DATA_LEN);
  const session = chip.flashSession;
  if (!session) return fail(chip, op, StubError.NOT_IN_FLASH_MODE);
  // Data still missing: the session stays open (the stubs check before leaving flash mode).
  if (session.written < session.size)
    return answer(chip, op, { error: b.missingDataError, delayMs: flashWait(chip) });
  const flag = words(body, 1)[0];
  const sticky = b.deferredError === 'next-flash-command' ? writeState(session).lastError : 0;
  session.inflater?.close();
  chip.flashSession = null;
  // The reply waits for the last acknowledged block to reach the flash: END is the write barrier.
  if (sticky !== 0) return answer(chip, op, { error: sticky, delayMs: flashWait(chip) });
  const reboot = flag === 0 && b.flashEndZeroReboots;
  return answer(chip, op, {
    delayMs: flashWait(chip),
    afterSend: reboot ? () => chip.env.softReset('reboot') : undefined,
  });
}

function readFlash(chip: SimChip, req: Request): Outcome {
  const b = behaviourOf(chip);
  const { op, body } = req;
  if (body.length !== 16) return fail(chip, op, StubError.BAD_DATA_LEN);
  const [offset, length, packet, maxInFlight] = words(body, 4) as [number, number, number, number];
  if (offset + length > chip.flash.sizeBytes) return fail(chip, op, StubError.FAILED_SPI_OP);
  if (packet === 0 || packet > STUB_MAX_READ_PACKET) {
    // Every stub acknowledges first. esp-flasher-stub then reports BAD_DATA_LEN on the next
    // command; the legacy stub returns without a digest; the Rust stub overruns its buffer.
    return answer(chip, op, {
      afterSend: () => {
        if (b.deferredError === 'next-command') chip.stubDeferredError = StubError.BAD_DATA_LEN;
        else if (b.family === 'esp-rs-flasher-stub') chip.runSilent('halted');
      },
    });
  }
  // How many bytes may be unacknowledged before the stub waits (§6.4).
  let window: number;
  switch (b.readFlashWindow) {
    case 'in-flight-bytes':
      // `num_sent - num_acked < max_in_flight` in bytes: with esptool's 64 that is one packet.
      window = maxInFlight;
      break;
    case 'packets':
      window = maxInFlight * packet;
      break;
    case 'one-packet':
      window = 1;
      break;
  }
  return answer(chip, op, {
    delayMs: flashWait(chip),
    afterSend: () => {
      chip.readStream = { offset, length, packet, sent: 0, acked: 0, window, reading: false };
      chip.onReadAck = (frame) => onAck(chip, frame);
      sendPackets(chip);
    },
  });
}

/**
 * Reads and sends the next packet while the window allows, one after the
 * other (each waits for its flash read, then the next is read); the digest
 * follows once everything sent is acknowledged.
 */
function sendPackets(chip: SimChip): void {
  const stream = chip.readStream;
  if (!stream || stream.reading) return;
  if (stream.acked >= stream.length) {
    finishRead(chip);
    return;
  }
  if (stream.sent >= stream.length || stream.sent - stream.acked >= stream.window) return;
  const n = Math.min(stream.packet, stream.length - stream.sent);
  const data = chip.flash.read(stream.offset + stream.sent, n);
  stream.sent += n;
  stream.reading = true;
  // Chained rather than scheduled all at once, so packets leave in order whatever the timers do.
  chip.schedule(readTimeMs(n), () => {
    stream.reading = false;
    chip.send(slipEncode(data));
    sendPackets(chip);
  });
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
  sendPackets(chip);
}

function finishRead(chip: SimChip): void {
  const stream = chip.readStream;
  if (!stream) return;
  chip.readStream = null;
  chip.send(slipEncode(chip.flash.md5(stream.offset, stream.sent)));
}

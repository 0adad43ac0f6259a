/** Uploads and starts the flasher stub (reference §5.1). */
import { RETRY_BUDGETS } from '#contracts';
import { EspError, RomError } from '../errors.js';
import { dataCommandBody, Op, OHAI, beginBody, u32le } from '../protocol/commands.js';
import type { Connection } from '../protocol/connection.js';
import { MEM_END_ROM_TIMEOUT_MS, STUB_START_TIMEOUT_MS, withLatency } from '../protocol/timeouts.js';
import type { StubImage } from './images.js';

/** Tries per MEM_DATA block (the first send included). */
export const MEM_BLOCK_ATTEMPTS = RETRY_BUDGETS.flasher.stubBlockAttempts;
/** MEM_DATA payload per block. */
export const ESP_RAM_BLOCK_BYTES = 0x1800;

async function uploadSegment(conn: Connection, data: Uint8Array, address: number): Promise<void> {
  const blocks = Math.ceil(data.length / ESP_RAM_BLOCK_BYTES);
  await conn.command(Op.MEM_BEGIN, beginBody(data.length, blocks, ESP_RAM_BLOCK_BYTES, address), {
    stage: 'stub',
  });
  for (let seq = 0; seq < blocks; seq++) {
    // The last block is short and not padded.
    const chunk = data.subarray(seq * ESP_RAM_BLOCK_BYTES, (seq + 1) * ESP_RAM_BLOCK_BYTES);
    const { body, checksum } = dataCommandBody(chunk, seq);
    for (let attempt = 1; ; attempt++) {
      try {
        await conn.command(Op.MEM_DATA, body, { checksum, stage: 'stub' });
        break;
      } catch (err) {
        // A damaged block is refused (checksum or format) or its reply is lost: send it again.
        const lineError =
          (err instanceof RomError && (err.error === 0x05 || err.error === 0x07)) ||
          (err instanceof EspError && (err.code === 'FRAMING' || err.code === 'TIMEOUT'));
        if (!lineError || attempt >= MEM_BLOCK_ATTEMPTS) throw err;
        await conn.flushInput();
      }
    }
  }
}

/**
 * MEM_BEGIN/DATA for text then data, MEM_END(0, entry), then the OHAI frame.
 * MEM_END's reply may be lost as the ROM jumps away; its errors are ignored.
 */
export async function runStub(conn: Connection, stub: StubImage): Promise<void> {
  await uploadSegment(conn, stub.text, stub.textStart);
  if (stub.data.length > 0) await uploadSegment(conn, stub.data, stub.dataStart);
  try {
    await conn.command(Op.MEM_END, u32le(0, stub.entry), {
      stage: 'stub',
      timeoutMs: MEM_END_ROM_TIMEOUT_MS,
    });
  } catch (err) {
    if (err instanceof EspError && err.code === 'CANCELLED') throw err;
  }
  const deadline = Date.now() + withLatency(STUB_START_TIMEOUT_MS, conn.transport);
  for (;;) {
    let frame: Uint8Array;
    try {
      frame = await conn.readFrame(Math.max(1, deadline - Date.now()), 'stub');
    } catch (err) {
      if (err instanceof EspError && (err.code === 'TIMEOUT' || err.code === 'FRAMING')) {
        throw new EspError(
          'The flasher stub did not start (no OHAI after MEM_END). Retry, or run with --no-stub.',
          {
            code: 'STUB_ERROR',
            stage: 'stub',
            command: Op.MEM_END,
            cause: err,
          },
        );
      }
      throw err;
    }
    if (frame.length === OHAI.length && frame.every((b, i) => b === OHAI[i])) break;
    // A late MEM_END reply may still be in the pipe: skip it.
  }
  conn.isStub = true;
}

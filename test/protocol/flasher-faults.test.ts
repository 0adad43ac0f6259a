/**
 * The flasher against simulated boards with faults switched on: it either
 * succeeds (and says how) or fails with the right code and an actionable
 * message, and never leaves the port open after a failure.
 */
import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { FAILURE_POLICY } from '#contracts';
import { flash, type FlasherEvent, type FlashRegion, Op, SlipDecoder, slipEncode } from '#esp';
import { SimTransport } from '#serial';
import { type SimBoard } from '#sim';
import { simBoards, failure } from './support/sim-board.js';

const setup = simBoards('faults');

/** Deterministic, moderately compressible bytes. */
function payload(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = (x >>> 24) & (i % 64 < 32 ? 0x0f : 0xff);
  }
  return out;
}

function threeRegions(): FlashRegion[] {
  return [
    { offset: 0x1000, data: payload(0x5000, 1), name: 'bootloader' },
    { offset: 0x8000, data: payload(0xc00, 2), name: 'partitions' },
    { offset: 0x10000, data: payload(0x30000, 3), name: 'app' },
  ];
}

function expectFlashHolds(board: SimBoard, regions: FlashRegion[]): void {
  for (const r of regions) {
    const got = board.flash.read(r.offset, r.data.length);
    expect(createHash('md5').update(got).digest('hex')).toBe(createHash('md5').update(r.data).digest('hex'));
  }
}

/**
 * A link that silently corrupts one byte of the first FLASH_DATA payload and
 * fixes the checksum up, so the loader accepts and writes wrong data: only the
 * MD5 verify can notice.
 */
class OneSilentCorruption extends SimTransport {
  corrupted = false;
  override write(data: Uint8Array): Promise<void> {
    if (this.corrupted) return super.write(data);
    const frames = new SlipDecoder().push(data).filter((e) => e.kind === 'frame');
    const frame = frames.length === 1 && frames[0].kind === 'frame' ? frames[0].data.slice() : undefined;
    if (!frame || frame[0] !== 0 || frame[1] !== Op.FLASH_DATA) return super.write(data);
    this.corrupted = true;
    const at = 8 + 16 + 100;
    const view = new DataView(frame.buffer);
    frame[at] = frame[at] ^ 0x01;
    view.setUint32(4, view.getUint32(4, true) ^ 0x01, true);
    return super.write(slipEncode(frame));
  }
}

describe('flasher under faults', () => {
  it('a block corrupted without a checksum error is caught by the MD5 verify and the region rewritten once', async () => {
    const { board, transport } = await setup({ name: 'silent' }, (b) => new OneSilentCorruption(b));
    const regions = threeRegions();
    const logs: string[] = [];
    const result = await flash(transport, regions, {
      compress: false,
      onEvent: (e) => void (e.type === 'log' && logs.push(e.text)),
    });
    expect(transport.corrupted).toBe(true);
    expect(logs.some((l) => /MD5 in flash is .* Rewriting the whole region once/.test(l))).toBe(true);
    expect(result.retries).toBeGreaterThanOrEqual(1);
    expect(result.regions.every((r) => r.verified)).toBe(true);
    expectFlashHolds(board, regions);
  });

  it('falls back down the baud ladder when the bridge corrupts data above 460 800 baud, and says so', async () => {
    const { board, transport } = await setup({
      faults: { bitErrors: { aboveBaud: 460_800, bitErrorRate: 2e-4 } },
    });
    const logs: string[] = [];
    const regions = threeRegions();
    const result = await flash(transport, regions, {
      baud: 921_600,
      onEvent: (e: FlasherEvent) => void (e.type === 'log' && logs.push(e.text)),
    });
    expect(result.baud).toBe(460_800);
    expect(result.baudFallbacks).toEqual([921_600]);
    expect(logs.some((l) => /falling back to 460800/.test(l))).toBe(true);
    expect(result.regions.every((r) => r.verified)).toBe(true);
    expectFlashHolds(board, regions);
  });

  it('absorbs occasional bit errors with block retries, without leaving the requested baud', async () => {
    const { board, transport } = await setup({
      seed: 7,
      faults: { bitErrors: { aboveBaud: 115_200, bitErrorRate: 3e-6 } },
    });
    const regions = threeRegions();
    const retries: string[] = [];
    const result = await flash(transport, regions, {
      baud: 921_600,
      onEvent: (e: FlasherEvent) =>
        void (e.type === 'log' && /^re-sending block|^restarting/.test(e.text) && retries.push(e.text)),
    });
    expect(result.retries).toBeGreaterThan(0);
    expect(result.retries).toBe(retries.length);
    expect(result.baud).toBe(921_600);
    expect(result.regions.every((r) => r.verified)).toBe(true);
    expectFlashHolds(board, regions);
  });

  it('resumes from the last verified region after the board is unplugged mid-flash', async () => {
    const { board, transport } = await setup({ timeScale: 0.02 });
    const regions = threeRegions();
    const writes: string[] = [];
    let pulled = false;
    const result = await flash(transport, regions, {
      onEvent: (e) => {
        if (e.type === 'log' && e.text.startsWith('writing ')) writes.push(e.text);
        if (!pulled && e.type === 'progress' && e.stage === 'write' && e.region === 2 && e.percent >= 30) {
          pulled = true;
          board.unplug();
          setTimeout(() => board.plug(), 200);
        }
      },
    });
    expect(pulled).toBe(true);
    expect(result.reconnects).toBeGreaterThanOrEqual(1);
    // The bootloader and partition table were verified before the cut: written once, not again.
    expect(writes.filter((w) => w.startsWith('writing bootloader')).length).toBe(1);
    expect(writes.filter((w) => w.startsWith('writing partitions')).length).toBe(1);
    expect(writes.filter((w) => w.startsWith('writing app')).length).toBe(2);
    expectFlashHolds(board, regions);
  });

  it('a board that stays unplugged ends with DEVICE_GONE after the configured reopen wait', async () => {
    const { board, transport } = await setup({ timeScale: 0.02 });
    let pulledAt = 0;
    const err = await failure(
      flash(transport, threeRegions(), {
        reopenWaitMs: 400,
        onEvent: (e) => {
          if (!pulledAt && e.type === 'progress' && e.stage === 'write' && e.region === 1) {
            pulledAt = Date.now();
            board.unplug();
          }
        },
      }),
    );
    expect(pulledAt).toBeGreaterThan(0);
    expect(err.code).toBe('DEVICE_GONE');
    expect(err.message).toMatch(/did not come back within 0.4 s/);
    expect(transport.isOpen).toBe(false);
  });

  it('IO0 not wired: WRONG_BOOT_MODE telling to check IO0 / hold BOOT, and the port is closed', async () => {
    const { transport } = await setup({ faults: { io0NotWired: true } });
    const err = await failure(flash(transport, threeRegions(), { connectAttempts: 2 }));
    expect(err.code).toBe('WRONG_BOOT_MODE');
    expect(err.message).toMatch(/not entering download mode/);
    expect(err.message).toMatch(/IO0/);
    expect(err.message).toMatch(/hold BOOT/);
    expect(transport.isOpen).toBe(false);
  });

  it('nothing answers: NO_SYNC telling to check port, power and cable', async () => {
    const { transport } = await setup({ faults: { dropRate: 1 } });
    const err = await failure(flash(transport, threeRegions(), { connectAttempts: 2, syncsPerAttempt: 2 }));
    expect(err.code).toBe('NO_SYNC');
    expect(err.message).toMatch(/Nothing answers/);
    expect(err.message).toMatch(/power/);
    expect(transport.isOpen).toBe(false);
  });

  it('a flash write failure ends with FLASH_ERROR from the stub, not a silent retry loop', async () => {
    const { transport } = await setup({ faults: { flashWriteFailAt: 0x20000 } });
    const warnings: string[] = [];
    const err = await failure(
      flash(transport, threeRegions(), {
        onEvent: (e) => void (e.type === 'log' && e.level !== 'info' && warnings.push(e.text)),
      }),
    );
    expect(err.code).toBe('FLASH_ERROR');
    expect(err.message).toMatch(/flash/i);
    // The policy leaves FLASH_ERROR to the agent (one fresh session): the flasher itself retries nothing.
    expect(FAILURE_POLICY.FLASH_ERROR.flasher).toBe('none');
    expect(warnings.filter((w) => /re-sending|restarting|reconnecting|falling back/.test(w))).toEqual([]);
    expect(transport.isOpen).toBe(false);
  });

  it('a flash write failure on the ROM path is the ROM error 0x08 as FLASH_ERROR', async () => {
    const { transport } = await setup({ faults: { flashWriteFailAt: 0x8000 } });
    const err = await failure(flash(transport, threeRegions(), { noStub: true }));
    expect(err.code).toBe('FLASH_ERROR');
    expect(err.detail).toMatchObject({ error: 0x08 });
  });

  it('cancellation leaves the port closed and the board reset out of download mode', async () => {
    const { board, transport } = await setup({ timeScale: 0.02 });
    const ac = new AbortController();
    const err = await failure(
      flash(transport, threeRegions(), {
        signal: ac.signal,
        onEvent: (e) => {
          if (e.type === 'progress' && e.stage === 'write') ac.abort();
        },
      }),
    );
    expect(err.code).toBe('CANCELLED');
    expect(transport.isOpen).toBe(false);
    await board.waitForConsole(/boot:0x1[0-9a-f]/, 5000);
    expect(board.mode).not.toBe('rom');
  });
});

/** Board operations besides writing: identify, read (back up), erase. */
import { EspError, type EspStage } from '../errors.js';
import { flashSizeName } from '../targets/flash-tables.js';
import type { Transport } from '../transport.js';
import { ROM_BAUD } from './connect.js';
import type { ChipInfo } from './detect.js';
import { type Prepared, runSession, type SessionOptions } from './run.js';

/** Connects and identifies the board (chip, revision, MAC, crystal, flash) on the ROM loader (no stub unless noStub is false); then runs `after` (default hard-reset). */
export async function chipInfo(
  transport: Transport,
  options: SessionOptions = {},
): Promise<ChipInfo & { resetStrategy: string; usedStub: boolean }> {
  return runSession(
    transport,
    { ...options, baud: options.baud ?? ROM_BAUD, noStub: options.noStub ?? true },
    'hard-reset',
    async (run) => {
      const p = await run.withRecovery((q) => Promise.resolve(q));
      return { ...p.info, resetStrategy: run.strategyName, usedStub: p.session.isStub };
    },
  );
}

/** Flash beyond 16 MiB is out of reach of every ROM and of the stubs other than on these chips (esptool). */
const BEYOND_16MB_WITH_STUB: readonly string[] = ['esp32s3', 'esp32p4'];
const SIXTEEN_MB = 0x1000000;

/**
 * Refuses a range the loader cannot reach before any command touches it, so
 * a typo never turns into a stub's FLASH_ERROR ("check the power supply"):
 * past 16 MiB where the loader cannot address it, or past the detected size.
 */
export function checkFlashRange(
  p: Pick<Prepared, 'session' | 'flashSizeBytes'>,
  offset: number,
  size: number,
  stage: EspStage,
): void {
  const reach = p.session.isStub && BEYOND_16MB_WITH_STUB.includes(p.session.target.name);
  const fail = (message: string): never => {
    throw new EspError(message, {
      code: 'INVALID_ARGUMENT',
      stage,
      detail: { offset, size, flashSizeBytes: p.flashSizeBytes },
    });
  };
  if (!reach && offset + size > SIXTEEN_MB)
    fail(
      `Can't access flash regions larger than 16MB (set size 0x${size.toString(16)} from address 0x${offset.toString(16).padStart(8, '0')} goes past 16MB by 0x${(offset + size - SIXTEEN_MB).toString(16)} bytes).`,
    );
  if (offset + size > p.flashSizeBytes)
    fail(
      `Can't access flash regions larger than detected flash size (set size 0x${size.toString(16)} from address 0x${offset.toString(16).padStart(8, '0')} goes past ${flashSizeName(p.flashSizeBytes)} by 0x${(offset + size - p.flashSizeBytes).toString(16)} bytes). Stay within the flash: this board has ${flashSizeName(p.flashSizeBytes)}.`,
    );
}

/**
 * Reads flash (to back a board up): stub streaming with MD5 check, or ROM
 * READ_FLASH_SLOW. `size` 'all' reads the whole detected flash (then
 * `offset` must be 0, as with esptool).
 */
export async function readFlash(
  transport: Transport,
  offset: number,
  size: number | 'all',
  options: SessionOptions = {},
): Promise<Uint8Array> {
  return runSession(transport, options, 'hard-reset', (run) =>
    run.withRecovery(async (p) => {
      const bytes = size === 'all' ? p.flashSizeBytes : size;
      checkFlashRange(p, offset, bytes, 'read');
      return p.session.readFlash(offset, bytes, (d) => run.events.progress('read', d, bytes, run.baud));
    }),
  );
}

/** Erases the whole flash, or the given sector-aligned regions. */
export async function eraseFlash(
  transport: Transport,
  options: SessionOptions & { regions?: Array<{ offset: number; size: number }> } = {},
): Promise<void> {
  await runSession(transport, options, 'hard-reset', (run) =>
    run.withRecovery(async (p) => {
      if (!options.regions?.length) {
        run.events.log('info', 'erase', 'erasing the whole flash');
        await p.session.eraseAll();
        return;
      }
      for (const r of options.regions) checkFlashRange(p, r.offset, r.size, 'erase');
      for (const r of options.regions) {
        run.events.log('info', 'erase', `erasing 0x${r.offset.toString(16)}+0x${r.size.toString(16)}`);
        await p.session.eraseRegion(r.offset, r.size);
      }
    }),
  );
}

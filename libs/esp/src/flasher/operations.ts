/** Board operations besides writing: identify, read (back up), erase. */
import { EspError } from '../errors.js';
import type { Transport } from '../transport.js';
import { ROM_BAUD } from './connect.js';
import type { ChipInfo } from './detect.js';
import { runSession, type SessionOptions } from './run.js';

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

/** Reads flash (to back a board up): stub streaming with MD5 check, or ROM READ_FLASH_SLOW. */
export async function readFlash(
  transport: Transport,
  offset: number,
  size: number,
  options: SessionOptions = {},
): Promise<Uint8Array> {
  return runSession(transport, options, 'hard-reset', (run) =>
    run.withRecovery(async (p) => {
      if (offset + size > p.flashSizeBytes) {
        throw new EspError(
          `0x${offset.toString(16)}+0x${size.toString(16)} is past the end of the ${p.flashSizeBytes / 1048576} MiB flash.`,
          {
            code: 'INVALID_ARGUMENT',
            stage: 'read',
          },
        );
      }
      return p.session.readFlash(offset, size, (d) => run.events.progress('read', d, size, run.baud));
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
      for (const r of options.regions) {
        run.events.log('info', 'erase', `erasing 0x${r.offset.toString(16)}+0x${r.size.toString(16)}`);
        await p.session.eraseRegion(r.offset, r.size);
      }
    }),
  );
}

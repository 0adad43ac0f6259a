/**
 * Running a command on a connected board: the connection summary esptool
 * prints ("Connected to ESP32 on …", chip type, features, crystal, MAC), the
 * session with its recovery and ending reset, and the line that says how the
 * board was left.
 */
import {
  type AfterAction,
  type ChipInfo,
  type Prepared,
  type Run,
  runSession,
  type SessionOptions,
} from '#esp';
import { type EsptoolContext, sessionOptions } from './context.js';
import { withBoard } from './ports.js';

/** `0x00001000`: addresses as esptool prints them. */
export function hex8(value: number): string {
  return `0x${(value >>> 0).toString(16).padStart(8, '0')}`;
}

const label = (text: string) => `${text}:`.padEnd(20);

/** esptool's connection summary. */
export function printChip(ctx: EsptoolContext, info: ChipInfo, port: string): void {
  const lines = [`Connected to ${info.displayName} on ${port}:`];
  if (info.secureDownloadMode) lines.push(`${label('Chip type')}${info.displayName} in Secure Download Mode`);
  else {
    lines.push(`${label('Chip type')}${info.description}`);
    lines.push(`${label('Features')}${info.features.join(', ')}`);
    lines.push(`${label('Crystal frequency')}${info.crystalMhz}MHz`);
    lines.push(`${label('MAC')}${info.mac}`);
  }
  ctx.out.write(`${lines.join('\n')}\n\n`);
}

/** What esptool prints for the ending reset. */
export function afterMessage(after: AfterAction): string {
  switch (after) {
    case 'hard-reset':
      return 'Hard resetting via RTS pin...';
    case 'soft-reset':
      return 'Soft resetting...';
    case 'no-reset':
      return 'Staying in bootloader.';
    case 'no-reset-stub':
      return 'Staying in flasher stub.';
    case 'watchdog-reset':
      return 'Hard resetting with a watchdog...';
  }
}

/**
 * Connects (on -p or the first port that answers), prints the summary once,
 * runs `body` with the flasher's recovery around it, then ends the session
 * with --after (or `defaultAfter`).
 */
export function onBoard<T>(
  ctx: EsptoolContext,
  body: (p: Prepared, run: Run) => Promise<T>,
  overrides: Partial<SessionOptions> = {},
): Promise<T> {
  return withBoard(ctx, async (transport, port) => {
    const options = sessionOptions(ctx, port, overrides);
    let printed = false;
    const result = await runSession(transport, options, options.after ?? 'hard-reset', (run) =>
      run.withRecovery(async (p) => {
        if (!printed) {
          printChip(ctx, p.info, port);
          printed = true;
        }
        return body(p, run);
      }),
    );
    ctx.out.write(`\n${afterMessage(options.after ?? 'hard-reset')}\n`);
    return result;
  });
}

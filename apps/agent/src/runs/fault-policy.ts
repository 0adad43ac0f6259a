/**
 * What a run does after a failure, from the failure's class and its remedy
 * in #contracts. Attempts on one board are bounded; a vanished board gives the
 * run back so another board (or a later attempt) can take it.
 */
import { FLASH_ERROR_REMEDY, FlashErrorCode } from '#contracts';
import { BAUD_LADDER } from '#esp';

/** The next step after a failed attempt. */
export type FailureAction =
  | { kind: 'retry'; baud: number; resetStrategy: string | undefined; why: string }
  | { kind: 'requeue' }
  | { kind: 'fail' };

const CODES = new Set<string>(Object.values(FlashErrorCode));

/** The FlashErrorCode an error carries, INTERNAL when it carries none. */
export function errorCodeOf(error: unknown): FlashErrorCode {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CODES.has(code) ? (code as FlashErrorCode) : FlashErrorCode.INTERNAL;
}

/** The ladder step below `baud` (the flasher's own ladder), or undefined at the bottom. */
export function lowerBaud(baud: number): number | undefined {
  return BAUD_LADDER.find((b) => b < baud);
}

/**
 * Decides after attempt `attempt` (0-based) of `maxRetries + 1` failed with `code`.
 * Retries keep the board; "lower-baud" also steps down; "other-reset" forgets a
 * learned reset strategy so the flasher tries its whole list.
 */
export function decideAfterFailure(
  code: FlashErrorCode,
  state: { attempt: number; maxRetries: number; baud: number; resetStrategy: string | undefined },
): FailureAction {
  const remedy = FLASH_ERROR_REMEDY[code];
  if (remedy === 'rebind') return { kind: 'requeue' };
  if (remedy === 'fail' || remedy === 'quarantine') return { kind: 'fail' };
  if (state.attempt >= state.maxRetries) return { kind: 'fail' };
  switch (remedy) {
    case 'retry':
      return {
        kind: 'retry',
        baud: state.baud,
        resetStrategy: state.resetStrategy,
        why: `${code}: retrying`,
      };
    case 'lower-baud': {
      const next = lowerBaud(state.baud) ?? state.baud;
      return {
        kind: 'retry',
        baud: next,
        resetStrategy: state.resetStrategy,
        why: `${code}: retrying at ${next} baud`,
      };
    }
    case 'other-reset':
      return {
        kind: 'retry',
        baud: state.baud,
        resetStrategy: undefined,
        why: `${code}: retrying with every reset strategy`,
      };
  }
}

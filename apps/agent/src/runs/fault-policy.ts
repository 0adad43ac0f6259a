/**
 * The agent's part of the failure policy (FAILURE_POLICY in #contracts): after
 * a failed flasher session, another session on the same board, hand the run
 * back to the api, or fail. The flasher has already spent its own in-session
 * budget (connect ladder, baud ladder, reconnects, region rewrite) when an
 * error reaches this point, so nothing here walks those ladders again.
 */
import { FAILURE_POLICY, FlashErrorCode, isFlashErrorCode } from '#contracts';

/** The next step after a failed session. */
export type FailureAction =
  { kind: 'retry'; resetStrategy: string | undefined; why: string } | { kind: 'requeue' } | { kind: 'fail' };

/** The FlashErrorCode an error carries, INTERNAL when it carries none. */
export function errorCodeOf(error: unknown): FlashErrorCode {
  const code = (error as { code?: unknown } | null)?.code;
  return isFlashErrorCode(code) ? code : FlashErrorCode.INTERNAL;
}

/** What the agent knows when a session failed. */
export interface SameBoardState {
  /** Fresh sessions already tried on this board for this run, any code. */
  retries: number;
  /** Of those, the ones that followed a failure with this same code. */
  retriesOfCode: number;
  /** FLASHFARM_AGENT_RUN_RETRIES: fresh sessions allowed per run. */
  maxRetries: number;
  /** The reset strategy the failed session was limited to, undefined when it had them all. */
  resetStrategy: string | undefined;
}

/** Decides after a session failed with `code`, from the code's `agent` column in FAILURE_POLICY. */
export function decideAfterFailure(code: FlashErrorCode, state: SameBoardState): FailureAction {
  const rule = FAILURE_POLICY[code].agent;
  if (rule === 'hand-back') return { kind: 'requeue' };
  if (rule === 'none' || state.retries >= state.maxRetries) return { kind: 'fail' };
  switch (rule) {
    case 'budget':
      return { kind: 'retry', resetStrategy: state.resetStrategy, why: `${code}: retrying` };
    case 'once':
      return state.retriesOfCode >= 1
        ? { kind: 'fail' }
        : { kind: 'retry', resetStrategy: state.resetStrategy, why: `${code}: retrying once` };
    case 'widen-reset':
      // The flasher walked every strategy it was given; only a session limited to one can be widened.
      return state.resetStrategy === undefined || state.retriesOfCode >= 1
        ? { kind: 'fail' }
        : { kind: 'retry', resetStrategy: undefined, why: `${code}: retrying with every reset strategy` };
  }
}

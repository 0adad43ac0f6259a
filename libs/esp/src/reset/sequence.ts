/**
 * DTR/RTS reset sequences as data (reference §3.3–§3.5), a parser for the
 * `D0|R1|W100|…` notation, and the executor.
 */
import { EspError } from '../errors.js';
import type { Transport } from '../transport.js';

/** One step of a reset sequence. Signal values: true = asserted (line low). */
export type ResetStep =
  | { op: 'D'; value: boolean }
  /** Sets RTS, then rewrites the current DTR (the usbser.sys workaround, §3.3). */
  | { op: 'R'; value: boolean }
  /** Sets DTR and RTS together (one TIOCMSET where the transport can). */
  | { op: 'U'; dtr: boolean; rts: boolean }
  | { op: 'W'; ms: number };

/** A named reset strategy. */
export interface ResetStrategy {
  /** Stable name stored per port ("classic-50", "unix-tight-550", "swapped-classic-50", "custom:D0|R1|…"). */
  readonly name: string;
  readonly steps: readonly ResetStep[];
  /** Needs atomic DTR/RTS updates to mean what it says. */
  readonly needsAtomicSignals?: boolean;
}

const BIT = (s: string, token: string): boolean => {
  if (s === '0') return false;
  if (s === '1') return true;
  throw badToken(token, 'expected 0 or 1');
};

function badToken(token: string, why: string): EspError {
  return new EspError(
    `Invalid reset sequence step "${token}": ${why}. Steps are D0/D1 (DTR), R0/R1 (RTS), U<dtr>,<rts> (both at once) and W<ms> (wait), separated by "|", e.g. D0|R1|W100|D1|R0|W50|D0.`,
    { code: 'INVALID_ARGUMENT', stage: 'reset', detail: { token } },
  );
}

/** Longest wait a sequence may contain; longer ones are almost certainly seconds typed as milliseconds' inverse. */
export const MAX_RESET_WAIT_MS = 10_000;

/**
 * Parses `D0|R1|W100|D1|R0|W50|D0`. W takes milliseconds (a number, or with an
 * explicit `ms`/`s` suffix: `W0.1s`). `U0,1` is esptool's atomic step.
 * Whitespace and empty steps are ignored; a bad token throws INVALID_ARGUMENT
 * naming it.
 */
export function parseResetSequence(text: string): ResetStep[] {
  const steps: ResetStep[] = [];
  for (const raw of text.split('|')) {
    const token = raw.replace(/\s+/g, '');
    if (token === '') continue;
    const code = token[0].toUpperCase();
    const arg = token.slice(1);
    switch (code) {
      case 'D':
      case 'R':
        if (arg.length !== 1) throw badToken(token, 'expected one digit, 0 or 1');
        steps.push({ op: code, value: BIT(arg, token) });
        break;
      case 'U': {
        const m = /^([01]),([01])$/.exec(arg);
        if (!m) throw badToken(token, 'expected U<dtr>,<rts> with 0 or 1, e.g. U0,1');
        steps.push({ op: 'U', dtr: m[1] === '1', rts: m[2] === '1' });
        break;
      }
      case 'W': {
        const m = /^(\d+(?:\.\d+)?)(ms|s)?$/i.exec(arg);
        if (!m) throw badToken(token, 'expected a wait in milliseconds, e.g. W100 (or W0.1s)');
        const ms = Number(m[1]) * (m[2]?.toLowerCase() === 's' ? 1000 : 1);
        if (ms > MAX_RESET_WAIT_MS)
          throw badToken(token, `waits longer than ${MAX_RESET_WAIT_MS} ms are not allowed`);
        steps.push({ op: 'W', ms });
        break;
      }
      default:
        throw badToken(token, `unknown step "${code}"`);
    }
  }
  if (steps.length === 0) throw badToken(text, 'the sequence is empty');
  return steps;
}

/** Writes a sequence back in the `D0|R1|W100` notation. */
export function formatResetSequence(steps: readonly ResetStep[]): string {
  return steps
    .map((s) => {
      switch (s.op) {
        case 'D':
        case 'R':
          return `${s.op}${s.value ? 1 : 0}`;
        case 'U':
          return `U${s.dtr ? 1 : 0},${s.rts ? 1 : 0}`;
        case 'W':
          return `W${s.ms}`;
      }
    })
    .join('|');
}

/** The same sequence for a board wired the other way round (RTS → IO0, DTR → EN). */
export function swapLines(steps: readonly ResetStep[]): ResetStep[] {
  return steps.map((s): ResetStep => {
    switch (s.op) {
      case 'D':
        return { op: 'R', value: s.value };
      case 'R':
        return { op: 'D', value: s.value };
      case 'U':
        return { op: 'U', dtr: s.rts, rts: s.dtr };
      case 'W':
        return s;
    }
  });
}

/** Waits `ms`, or rejects CANCELLED when the signal fires. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new EspError('The flash was cancelled.', { code: 'CANCELLED' }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new EspError('The flash was cancelled.', { code: 'CANCELLED' }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs a sequence on a transport. */
export async function runResetSequence(
  transport: Transport,
  steps: readonly ResetStep[],
  signal?: AbortSignal,
): Promise<void> {
  let dtr: boolean | undefined;
  for (const step of steps) {
    switch (step.op) {
      case 'D':
        dtr = step.value;
        await transport.setSignals({ dtr });
        break;
      case 'R':
        await transport.setSignals({ rts: step.value });
        if (dtr !== undefined) await transport.setSignals({ dtr });
        break;
      case 'U':
        dtr = step.dtr;
        await transport.setSignals({ dtr: step.dtr, rts: step.rts });
        break;
      case 'W':
        await delay(step.ms, signal);
        break;
    }
  }
}

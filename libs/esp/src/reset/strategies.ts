/**
 * The reset strategies (reference §3.3). Each comment says what the step does
 * to EN and IO0 on the usual two-transistor auto-reset circuit (§3.5): EN is
 * low iff RTS is asserted and DTR is not; IO0 is low iff DTR is asserted and
 * RTS is not.
 */
import { EspError } from '../errors.js';
import {
  formatResetSequence,
  parseResetSequence,
  type ResetStep,
  type ResetStrategy,
  swapLines,
} from './sequence.js';

/** Short and long hold of IO0 after EN is released; the long one suits boards with a slow EN capacitor. */
export const RESET_DELAY_SHORT_MS = 50;
/** See RESET_DELAY_SHORT_MS. */
export const RESET_DELAY_LONG_MS = 550;
/** How long EN is held low. */
export const EN_LOW_MS = 100;

/** esptool's ClassicReset: one line at a time. */
export function classicReset(delayMs = RESET_DELAY_SHORT_MS): ResetStrategy {
  return {
    name: `classic-${delayMs}`,
    steps: [
      { op: 'D', value: false }, // IO0 released
      { op: 'R', value: true }, // EN low: chip held in reset
      { op: 'W', ms: EN_LOW_MS },
      { op: 'D', value: true }, // briefly (D1,R1): both high, EN's RC keeps the chip in reset
      { op: 'R', value: false }, // EN released, IO0 low: straps latch download mode
      { op: 'W', ms: delayMs },
      { op: 'D', value: false }, // IO0 released; the ROM is already in the loader
    ],
  };
}

/** esptool's UnixTightReset: both lines change in one update, never passing through (1,1). */
export function unixTightReset(delayMs = RESET_DELAY_SHORT_MS): ResetStrategy {
  return {
    name: `unix-tight-${delayMs}`,
    needsAtomicSignals: true,
    steps: [
      { op: 'U', dtr: false, rts: false }, // idle: EN high, IO0 high
      { op: 'U', dtr: true, rts: true }, // still idle: both transistors off
      { op: 'U', dtr: false, rts: true }, // EN low: reset
      { op: 'W', ms: EN_LOW_MS },
      { op: 'U', dtr: true, rts: false }, // EN released, IO0 low: download straps
      { op: 'W', ms: delayMs },
      { op: 'U', dtr: false, rts: false }, // IO0 released
      { op: 'D', value: false },
    ],
  };
}

/** The internal USB-Serial/JTAG peripheral (C3/S3/C6/H2): its own DTR/RTS decoding, not transistors. */
export function usbJtagSerialReset(): ResetStrategy {
  return {
    name: 'usb-jtag',
    steps: [
      { op: 'R', value: false },
      { op: 'D', value: false }, // idle
      { op: 'W', ms: 100 },
      { op: 'D', value: true }, // request boot-mode override (IO0 low)
      { op: 'R', value: false },
      { op: 'W', ms: 100 },
      { op: 'R', value: true }, // chip reset, passing through (1,1) on purpose
      { op: 'D', value: false },
      { op: 'R', value: true },
      { op: 'W', ms: 100 },
      { op: 'D', value: false },
      { op: 'R', value: false }, // release: the chip starts in download mode
    ],
  };
}

/** Hard reset into the app: DTR first released so IO0 is high, then an EN pulse. */
export function hardReset(): ResetStrategy {
  return {
    name: 'hard-reset',
    steps: [
      { op: 'D', value: false }, // IO0 high, or the chip would come back in download mode
      { op: 'R', value: true }, // EN low
      { op: 'W', ms: EN_LOW_MS },
      { op: 'R', value: false }, // EN high: boot from flash
    ],
  };
}

/** No reset at all (board already in download mode, or a link without modem lines). */
export function noReset(): ResetStrategy {
  return { name: 'no-reset', steps: [] };
}

/** A strategy for a board whose auto-reset has RTS and DTR swapped (RTS → IO0, DTR → EN). */
export function swapped(strategy: ResetStrategy): ResetStrategy {
  return { ...strategy, name: `swapped-${strategy.name}`, steps: swapLines(strategy.steps) };
}

/** A custom sequence given in `D0|R1|W100|…` notation. */
export function customReset(sequence: string): ResetStrategy {
  const steps = parseResetSequence(sequence);
  return {
    name: `custom:${formatResetSequence(steps)}`,
    steps,
    needsAtomicSignals: steps.some((s) => s.op === 'U'),
  };
}

/** Names accepted by resetStrategyFromName(), besides a raw sequence. */
export const RESET_STRATEGY_NAMES = [
  'auto',
  'classic',
  'classic-50',
  'classic-550',
  'unix-tight',
  'unix-tight-50',
  'unix-tight-550',
  'swapped',
  'swapped-classic-50',
  'swapped-classic-550',
  'usb-jtag',
  'no-reset',
] as const;

/**
 * Resolves a stored strategy name (as returned in a flash result) or a
 * `D0|R1|…` sequence. 'auto' returns undefined: let connect() try its list.
 */
export function resetStrategyFromName(name: string): ResetStrategy | undefined {
  const n = name.trim();
  if (n.startsWith('custom:')) return customReset(n.slice('custom:'.length));
  const m = /^(swapped-)?(classic|unix-tight)(?:-(\d+))?$/.exec(n);
  if (m) {
    const d = m[3] === undefined ? RESET_DELAY_SHORT_MS : Number(m[3]);
    const base = m[2] === 'classic' ? classicReset(d) : unixTightReset(d);
    return m[1] ? swapped(base) : base;
  }
  switch (n) {
    case 'auto':
    case 'default':
      return undefined;
    case 'swapped':
      return swapped(classicReset());
    case 'usb-jtag':
    case 'usb-reset':
      return usbJtagSerialReset();
    case 'no-reset':
      return noReset();
    case 'hard-reset':
      return hardReset();
  }
  if (/^[DRUW]/i.test(n)) return customReset(n);
  throw new EspError(
    `Unknown reset strategy "${name}". Use one of ${RESET_STRATEGY_NAMES.join(', ')}, or a sequence like D0|R1|W100|D1|R0|W50|D0.`,
    {
      code: 'INVALID_ARGUMENT',
      stage: 'reset',
    },
  );
}

/**
 * The order connect() tries when no strategy is given: the short and the long
 * Classic (and UnixTight where signals are atomic), then the swapped wiring.
 */
export function defaultConnectStrategies(atomicSignals: boolean): ResetStrategy[] {
  const list: ResetStrategy[] = [];
  for (const d of [RESET_DELAY_SHORT_MS, RESET_DELAY_LONG_MS]) {
    list.push(classicReset(d));
    if (atomicSignals) list.push(unixTightReset(d));
    // The swapped wiring early: on a normally wired board it resets nothing and costs two short SYNCs.
    list.push(swapped(classicReset(d)));
  }
  return list;
}

/** Re-exported for callers that only need the step type. */
export type { ResetStep, ResetStrategy };

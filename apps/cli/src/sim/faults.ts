/**
 * The simulator's faults as `flashfarm sim` exposes them: one vocabulary for
 * the command-line flags, the fleet file's `faults` keys and the control
 * endpoint's JSON, validated in one place and mapped onto SimBoard's
 * `SimFaults`.
 */
import type { SimFaults } from '#sim';

/** Every fault switch of a board, in the CLI's vocabulary (what GET /boards shows). */
export interface FaultSettings {
  /** Bit errors only while the line runs faster than this baud; null = at every baud. */
  noiseAboveBaud: number | null;
  /** Probability that a bit flips (both directions); 0 = no noise. */
  bitErrorRate: number;
  /** Probability that a byte is lost (both directions). */
  dropRate: number;
  /** The auto-reset circuit cannot pull IO0 low: resets never reach download mode. */
  io0Unwired: boolean;
  /** Extra delay per direction in real milliseconds; DTR/RTS changes are delayed as much. */
  latencyMs: number;
  /** Programming a range that contains this flash address fails; null = never. */
  flashWriteFailAt: number | null;
  /** The app panics right after start-up, so the board reboots forever. */
  bootLoop: boolean;
  /** The ROM ignores this many SYNCs after each reset. */
  missedSyncs: number;
  /** Nothing from the host reaches the chip (broken TX wire): banner, but no sync. */
  rxDead: boolean;
  /** The SPI flash does not answer its ID (RDID reads 0xFFFFFF); data commands still work. */
  flashDead: boolean;
}

/** A change to some of the switches (fleet entries, flags, PATCH bodies). */
export type FaultPatch = Partial<FaultSettings>;

/** All faults off. */
export const NO_FAULTS: Readonly<FaultSettings> = Object.freeze({
  noiseAboveBaud: null,
  bitErrorRate: 0,
  dropRate: 0,
  io0Unwired: false,
  latencyMs: 0,
  flashWriteFailAt: null,
  bootLoop: false,
  missedSyncs: 0,
  rxDead: false,
  flashDead: false,
});

/** Bit error rate when only a noise threshold is given: about one flipped bit per 1.2 KiB, enough to spoil most 16 KiB blocks. */
export const DEFAULT_NOISE_BIT_ERROR_RATE = 1e-4;
/** Largest latency accepted (a minute: beyond it every host times out anyway). */
const MAX_LATENCY_MS = 60_000;
/** Largest baud threshold accepted (the USB-Serial/JTAG link counts as 10 Mbaud). */
const MAX_BAUD = 10_000_000;
/** Largest count of ignored SYNCs accepted. */
const MAX_MISSED_SYNCS = 1000;

/** A fault value that cannot be used; `field` names the key (fleet/JSON) and `flag` the option. */
export class FaultSpecError extends Error {
  readonly code = 'INVALID_FAULT';
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = 'FaultSpecError';
  }
}

type Kind = 'boolean' | 'rate' | 'baud' | 'ms' | 'count' | 'address';

/** One fault: its key, its flag, what it takes and what it does (for --help and the README). */
export interface FaultOption {
  key: keyof FaultSettings;
  flag: string;
  kind: Kind;
  /** Placeholder for the value in --help; absent for a switch. */
  value?: string;
  help: string;
}

/** The faults in the order --help lists them. */
export const FAULT_OPTIONS: readonly FaultOption[] = [
  {
    key: 'noiseAboveBaud',
    flag: 'noise-above-baud',
    kind: 'baud',
    value: '<baud>',
    help: `bit errors while the line runs faster than <baud> (a bridge that cannot do 921600; rate ${DEFAULT_NOISE_BIT_ERROR_RATE} unless --bit-error-rate)`,
  },
  {
    key: 'bitErrorRate',
    flag: 'bit-error-rate',
    kind: 'rate',
    value: '<p>',
    help: 'probability per bit of a flip, both directions (at every baud without --noise-above-baud)',
  },
  {
    key: 'dropRate',
    flag: 'drop-rate',
    kind: 'rate',
    value: '<p>',
    help: 'probability per byte of being lost, both directions',
  },
  {
    key: 'io0Unwired',
    flag: 'io0-unwired',
    kind: 'boolean',
    help: 'IO0 not wired to the auto-reset circuit: resets never reach download mode',
  },
  {
    key: 'latencyMs',
    flag: 'latency-ms',
    kind: 'ms',
    value: '<ms>',
    help: 'added delay per direction in real ms (a remote link); DTR/RTS changes too',
  },
  {
    key: 'flashWriteFailAt',
    flag: 'flash-write-fail-at',
    kind: 'address',
    value: '<addr>',
    help: 'writing a range containing this flash address fails (e.g. 0x10000)',
  },
  {
    key: 'bootLoop',
    flag: 'boot-loop',
    kind: 'boolean',
    help: 'the app panics right after start-up and the board reboots forever',
  },
  {
    key: 'missedSyncs',
    flag: 'missed-syncs',
    kind: 'count',
    value: '<n>',
    help: 'the ROM ignores the first <n> SYNCs after each reset',
  },
  {
    key: 'rxDead',
    flag: 'rx-dead',
    kind: 'boolean',
    help: 'nothing from the host reaches the chip (boot banner, but no sync)',
  },
  {
    key: 'flashDead',
    flag: 'flash-dead',
    kind: 'boolean',
    help: 'the SPI flash does not answer its ID (reads 0xFFFFFF); data still works',
  },
];

const BY_KEY = new Map(FAULT_OPTIONS.map((o) => [o.key, o]));

/** "0x10000", "65536" or 65536 → 65536; anything else → undefined. */
function toNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const text = value.trim();
  const n = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text, 16) : Number(text);
  return Number.isNaN(n) ? undefined : n;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : (JSON.stringify(value) ?? String(value));
}

/** Validates one fault value; `where` prefixes the message ("--drop-rate", "fleet.yaml boards[2] faults.dropRate"). */
function parseValue(option: FaultOption, value: unknown, where: string): FaultSettings[keyof FaultSettings] {
  const fail = (expected: string): never => {
    throw new FaultSpecError(`${where} must be ${expected} (got ${describe(value)})`, option.key);
  };
  if (option.kind === 'boolean') {
    if (typeof value === 'boolean') return value;
    return fail('true or false');
  }
  // null switches the numeric faults with an "off" value of null off; the others take 0.
  if (value === null && (option.kind === 'baud' || option.kind === 'address')) return null;
  const n = toNumber(value);
  switch (option.kind) {
    case 'rate':
      if (n === undefined || !(n >= 0 && n <= 1)) fail('a probability from 0 to 1');
      return n!;
    case 'baud':
      if (n === undefined || !Number.isInteger(n) || n < 0 || n > MAX_BAUD)
        fail(`a baud rate from 0 to ${MAX_BAUD}`);
      return n!;
    case 'ms':
      if (n === undefined || !(n >= 0 && n <= MAX_LATENCY_MS))
        fail(`milliseconds from 0 to ${MAX_LATENCY_MS}`);
      return n!;
    case 'count':
      if (n === undefined || !Number.isInteger(n) || n < 0 || n > MAX_MISSED_SYNCS)
        fail(`a whole number from 0 to ${MAX_MISSED_SYNCS}`);
      return n!;
    case 'address':
      if (n === undefined || !Number.isInteger(n) || n < 0 || n >= 2 ** 32)
        fail('a flash address like 0x10000 (or null for none)');
      return n!;
  }
}

/**
 * Reads a fault object (fleet `faults:` or a control request body): known
 * keys only, each validated. `where` names the object in messages.
 */
export function parseFaultPatch(value: unknown, where: string): FaultPatch {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new FaultSpecError(`${where} must be an object of fault switches`, '');
  const patch: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(value as Record<string, unknown>)) {
    const option = BY_KEY.get(key as keyof FaultSettings);
    if (!option) {
      throw new FaultSpecError(
        `${where}: unknown fault "${key}"; known faults: ${FAULT_OPTIONS.map((o) => o.key).join(', ')}`,
        key,
      );
    }
    patch[key] = parseValue(option, raw, `${where}.${key}`);
  }
  return withNoiseDefault(patch);
}

/** Reads the fault flags of parseArgs values (strings for valued flags, booleans for switches). */
export function parseFaultFlags(values: Record<string, unknown>): FaultPatch {
  const patch: Record<string, unknown> = {};
  for (const option of FAULT_OPTIONS) {
    const raw = values[option.flag];
    if (raw === undefined) continue;
    patch[option.key] = parseValue(option, raw, `--${option.flag}`);
  }
  return withNoiseDefault(patch);
}

/** A noise threshold without a rate means "noisy above it" at the default rate; null means no noise. */
function withNoiseDefault(patch: FaultPatch): FaultPatch {
  if ('noiseAboveBaud' in patch && !('bitErrorRate' in patch))
    return { ...patch, bitErrorRate: patch.noiseAboveBaud === null ? 0 : DEFAULT_NOISE_BIT_ERROR_RATE };
  return patch;
}

/** Checks what only a particular board can judge (the fault address against its flash size). */
export function checkFaultsForBoard(faults: FaultSettings, flashSizeBytes: number, where: string): void {
  const at = faults.flashWriteFailAt;
  if (at !== null && at >= flashSizeBytes) {
    throw new FaultSpecError(
      `${where}: flashWriteFailAt 0x${at.toString(16)} lies outside the board's ${flashSizeBytes / 1048576} MiB flash`,
      'flashWriteFailAt',
    );
  }
}

/** SimBoard's fault switches for these settings. */
export function toSimFaults(faults: FaultSettings): Required<SimFaults> {
  return {
    bitErrors:
      faults.bitErrorRate > 0
        ? { aboveBaud: faults.noiseAboveBaud ?? 0, bitErrorRate: faults.bitErrorRate }
        : null,
    dropRate: faults.dropRate,
    io0NotWired: faults.io0Unwired,
    latencyMs: faults.latencyMs,
    flashWriteFailAt: faults.flashWriteFailAt,
    bootLoop: faults.bootLoop,
    missedSyncs: faults.missedSyncs,
    rxDead: faults.rxDead,
    flashDead: faults.flashDead,
  };
}

/** The switches that are on, for listings ("drop-rate=0.01 boot-loop"); empty when none. */
export function describeFaults(faults: FaultSettings): string {
  const on: string[] = [];
  for (const option of FAULT_OPTIONS) {
    const value = faults[option.key];
    if (value === NO_FAULTS[option.key]) continue;
    if (option.key === 'noiseAboveBaud' && faults.bitErrorRate === 0) continue;
    on.push(option.kind === 'boolean' ? option.flag : `${option.flag}=${formatValue(option, value)}`);
  }
  return on.join(' ');
}

function formatValue(option: FaultOption, value: FaultSettings[keyof FaultSettings]): string {
  return option.kind === 'address' && typeof value === 'number' ? `0x${value.toString(16)}` : String(value);
}

/** The fault flags for --help, one line each. */
export function faultFlagHelp(): string {
  const width = Math.max(...FAULT_OPTIONS.map((o) => `--${o.flag} ${o.value ?? ''}`.length)) + 2;
  return FAULT_OPTIONS.map((o) => `  ${`--${o.flag} ${o.value ?? ''}`.padEnd(width)}${o.help}`).join('\n');
}

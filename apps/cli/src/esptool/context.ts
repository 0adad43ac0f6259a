/**
 * What an esptool-style command runs with: the parsed global options turned
 * into flasher session options, the output streams, and the injected host
 * services (opening ports, listing them, files, stdin), so tests hand in
 * simulated boards and capture output.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  type AfterAction,
  CHIP_TARGETS,
  type ChipName,
  EspError,
  findTarget,
  type FlasherEvent,
  type SessionOptions,
  type Transport,
} from '#esp';
import type { SerialPortInfo } from '#serial';
import { type CliOutput, ProgressRenderer } from '../flasher/progress.js';
import { optionValue, parseInteger, type ParsedCommandLine, usageError } from './args.js';

/** A readable byte source for `monitor` (process.stdin in the real CLI). */
export interface ByteInput {
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  off(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  resume?(): unknown;
  pause?(): unknown;
}

/** Host services the commands need; everything has a process default except opening ports. */
export interface EsptoolCliDeps {
  /** Opens a port (device path, rfc2217://, socket://, sim://) at the given baud. */
  openTransport(url: string, options: { baudRate: number }): Promise<Transport>;
  /** USB serial ports of this host, for runs without -p (default: none known). */
  listPorts?(): Promise<SerialPortInfo[]>;
  stdout?: CliOutput;
  stderr?: CliOutput;
  stdin?: ByteInput;
  readFile?: (path: string) => Promise<Uint8Array>;
  writeFile?: (path: string, data: Uint8Array) => Promise<void>;
  /** Cancels the command (the bin passes one tied to SIGINT/SIGTERM). */
  signal?: AbortSignal;
}

/** esptool's --before values. */
export const BEFORE_CHOICES = ['default-reset', 'usb-reset', 'no-reset', 'no-reset-no-sync'] as const;
/** esptool's --after values. */
export const AFTER_CHOICES = [
  'hard-reset',
  'soft-reset',
  'no-reset',
  'no-reset-stub',
  'watchdog-reset',
] as const;
/** Chip names --chip accepts besides "auto" (every chip the flasher supports, in esptool's order). */
export const CHIP_CHOICES: readonly ChipName[] = CHIP_TARGETS.map((t) => t.name);

/** The global options, validated. */
export interface GlobalOptions {
  port?: string;
  portFilter: { vids: number[]; pids: number[]; names: string[]; serials: string[] };
  /** Data-phase baud; undefined = the flasher's default (921 600 with fallback). */
  baud?: number;
  /** undefined = detect. */
  chip?: ChipName;
  before: (typeof BEFORE_CHOICES)[number];
  after: AfterAction;
  noStub: boolean;
  connectAttempts?: number;
  verbose: boolean;
  silent: boolean;
}

/** Everything a command runs with. */
export interface EsptoolContext {
  globals: GlobalOptions;
  options: Map<string, string[]>;
  positionals: string[];
  out: CliOutput;
  err: CliOutput;
  renderer: ProgressRenderer;
  deps: Required<Pick<EsptoolCliDeps, 'readFile' | 'writeFile'>> & EsptoolCliDeps;
}

function choice<T extends string>(option: string, value: string, choices: readonly T[]): T {
  // v4 spelled reset modes with underscores; esptool v5 still takes them with a warning.
  const dashed = value.replace(/_/g, '-');
  if ((choices as readonly string[]).includes(dashed)) return dashed as T;
  throw usageError(
    `Invalid value for '${option}': '${value}' is not one of ${choices.map((c) => `'${c}'`).join(', ')}.`,
  );
}

function portFilter(values: readonly string[]): GlobalOptions['portFilter'] {
  const filter: GlobalOptions['portFilter'] = { vids: [], pids: [], names: [], serials: [] };
  for (const item of values) {
    const kv = item.split('=');
    if (kv.length !== 2) throw usageError('Option --port-filter argument must consist of key=value.');
    const [key, value] = kv;
    if (key === 'vid') filter.vids.push(parseInteger(value, 'vid'));
    else if (key === 'pid') filter.pids.push(parseInteger(value, 'pid'));
    else if (key === 'name') filter.names.push(value);
    else if (key === 'serial') filter.serials.push(value);
    else
      throw usageError(
        `Option --port-filter argument key not recognized: ${key} (use vid, pid, name, serial).`,
      );
  }
  return filter;
}

/** Validates the global options before anything is opened. */
export function globalOptions(parsed: ParsedCommandLine): GlobalOptions {
  const g = parsed.globals;
  const baudText = optionValue(g, 'baud');
  let baud: number | undefined;
  if (baudText !== undefined) {
    baud = parseInteger(baudText, 'Baud rate');
    if (!(baud >= 9600 && baud <= 5_000_000))
      throw usageError(
        `Baud rate ${baudText} is not usable: choose one from 9600 to 5000000 (115200, 460800, 921600).`,
      );
  }
  const chipText = optionValue(g, 'chip');
  let chip: GlobalOptions['chip'];
  if (chipText !== undefined && chipText.toLowerCase() !== 'auto') {
    const target = findTarget(chipText.replace(/[()]/g, ''));
    if (!target)
      throw usageError(
        `Invalid value for '--chip': '${chipText}' is not one of 'auto', ${CHIP_CHOICES.map((c) => `'${c}'`).join(', ')}.`,
      );
    chip = target.name;
  }
  const attemptsText = optionValue(g, 'connect-attempts');
  let connectAttempts: number | undefined;
  if (attemptsText !== undefined) {
    const n = parseInteger(attemptsText, '--connect-attempts');
    // esptool: zero or negative means "until it works"; Ctrl-C still ends it.
    connectAttempts = n <= 0 ? Number.MAX_SAFE_INTEGER : n;
  }
  const verbose = g.has('verbose') || g.has('trace');
  const silent = g.has('silent');
  if (verbose && silent) throw usageError('Cannot use both --verbose and --silent options at the same time.');
  return {
    port: optionValue(g, 'port'),
    portFilter: portFilter(g.get('port-filter') ?? []),
    baud,
    chip,
    before: choice('--before', optionValue(g, 'before') ?? 'default-reset', BEFORE_CHOICES),
    after: choice('--after', optionValue(g, 'after') ?? 'hard-reset', AFTER_CHOICES),
    noStub: g.has('no-stub'),
    connectAttempts,
    verbose,
    silent,
  };
}

/** The flasher's session options for these globals (the reset strategy from --before). */
export function sessionOptions(
  ctx: EsptoolContext,
  port: string,
  overrides: Partial<SessionOptions> = {},
): SessionOptions {
  const g = ctx.globals;
  const resetStrategy =
    g.before === 'usb-reset' ? 'usb-jtag' : g.before === 'default-reset' ? undefined : 'no-reset';
  // A raw TCP bridge runs its UART at a fixed rate: never raise the baud there unless asked to.
  const baud = g.baud ?? (/^socket:/i.test(port) ? 115_200 : undefined);
  return {
    baud,
    noStub: g.noStub || undefined,
    resetStrategy,
    after: g.after,
    expectChip: g.chip,
    connectAttempts: g.connectAttempts,
    signal: ctx.deps.signal,
    onEvent: (event: FlasherEvent) => ctx.renderer.handle(event),
    ...overrides,
  };
}

/** Reads an input file; a missing or unreadable one is a usage error naming it. */
export async function readInput(ctx: EsptoolContext, path: string): Promise<Uint8Array> {
  try {
    return await ctx.deps.readFile(path);
  } catch (err) {
    throw usageError(`Cannot read '${path}': ${(err as Error).message}`);
  }
}

/** Writes an output file; failures name it. */
export async function writeOutput(ctx: EsptoolContext, path: string, data: Uint8Array): Promise<void> {
  try {
    await ctx.deps.writeFile(path, data);
  } catch (err) {
    throw new EspError(`Cannot write '${path}': ${(err as Error).message}`, {
      code: 'INVALID_ARGUMENT',
    });
  }
}

/** Builds the context for one command. */
export function makeContext(
  parsed: ParsedCommandLine,
  globals: GlobalOptions,
  deps: EsptoolCliDeps,
  out: CliOutput,
  err: CliOutput,
): EsptoolContext {
  const quietErr: CliOutput = globals.silent ? { write: () => undefined, isTTY: false } : err;
  return {
    globals,
    options: parsed.options,
    positionals: parsed.positionals,
    out,
    err,
    renderer: new ProgressRenderer(quietErr, globals.verbose, !parsed.options.has('no-progress')),
    deps: {
      ...deps,
      readFile: deps.readFile ?? ((p) => readFile(p)),
      writeFile: deps.writeFile ?? ((p, d) => writeFile(p, d)),
    },
  };
}

/** The file name part of a path, for messages. */
export function fileName(path: string): string {
  return basename(path);
}

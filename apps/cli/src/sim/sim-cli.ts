import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import { chipNames, type Rfc2217ResetMode } from '#sim';
import { checkChip, checkWiring, parseFlashSize, parseLid, SpecValueError } from './board-spec.js';
import { type ControlServer, MIN_CONTROL_TOKEN_CHARS, startControlServer } from './control-server.js';
import {
  describeFaults,
  FAULT_OPTIONS,
  type FaultPatch,
  faultFlagHelp,
  FaultSpecError,
  parseFaultFlags,
  parseFaultPatch,
} from './faults.js';
import { type SimBoardSpec, SimFleetRunner, type SimSlot, SlotError } from './fleet-runner.js';

/** Exit codes of `flashfarm sim`. */
export const SimCliExit = { OK: 0, RUNTIME_ERROR: 1, USAGE: 2 } as const;

/** First TCP port when none is given. */
export const DEFAULT_SIM_BASE_PORT = 4000;
/** What --reset-mode (fleet key resetMode) accepts. */
const RESET_MODES: readonly Rfc2217ResetMode[] = ['local', 'pass-through'];
/** Largest fleet one command starts (each board is a TCP server and a set of timers). */
const MAX_BOARDS = 256;

const USAGE = `Usage: flashfarm sim [options]

Starts simulated ESP boards, each behind its own RFC 2217 server, until Ctrl-C.

  --chips <list>        comma-separated chips, one board each (e.g. esp32,esp32s3,esp32c3)
  --chip <name>         chip for --count boards (default esp32)
  --count <n>           number of boards of --chip
  --fleet <file>        JSON or YAML fleet file (see apps/cli/src/sim/README.md)
  --base-port <port>    first TCP port; boards take consecutive ports (default ${DEFAULT_SIM_BASE_PORT}; 0 = any free)
  --host <address>      interface the boards listen on (default 127.0.0.1)
  --time-scale <x>      1 = real time (default), 0.01 = 100x faster
  --unplugged           start every board unplugged (plug them through the control endpoint)
  --reset-mode <mode>   local (default): like esp_rfc2217_server, the server recognises esptool's
                        DTR/RTS reset and runs it at the board, so remote resets reach the loader;
                        pass-through: line changes reach the board as they arrive (as ser2net would)
  --json                print the boards and the control endpoint as one line of JSON
  -h, --help            this text

Faults, on every board (a fleet file can set them per board under "faults"):
${faultFlagHelp()}

Control endpoint (HTTP on 127.0.0.1 only; every request needs "Authorization: Bearer <token>"):
  --control-port <port> its TCP port (default 0 = any free; printed at start-up)
  --control-token <t>   its token (at least ${MIN_CONTROL_TOKEN_CHARS} characters; default: a random one, printed)
  --no-control          do not start it
  Routes: GET /boards, GET /boards/<name>, GET|PATCH|PUT|DELETE /boards/<name>/faults,
  POST /boards/<name>/unplug|plug|power-cycle|swap, GET /boards/<name>/flash-hash?offset=&length=,
  GET /boards/<name>/console

Chips: ${chipNames.join(', ')}`;

export type { SimBoardSpec } from './fleet-runner.js';

/** A fleet to start. */
export interface SimFleet {
  host: string;
  basePort: number;
  timeScale: number;
  /** How the RFC 2217 servers treat DTR/RTS: reset locally (default) or pass changes through. */
  resetMode: Rfc2217ResetMode;
  /** Print the board list as JSON instead of a table. */
  json: boolean;
  boards: SimBoardSpec[];
  /** Faults for every board from the fleet file's top level (board entries and flags win). */
  fileFaults: FaultPatch;
  /** Faults from the command-line flags: on every board, over the fleet file. */
  flagFaults: FaultPatch;
  /** The control endpoint, or null with --no-control. */
  control: { port: number; token?: string } | null;
}

/** Where the CLI writes, and what stops it (tests pass their own). */
export interface SimCliIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Stops the fleet when aborted; SIGINT/SIGTERM when omitted. */
  signal?: AbortSignal;
  /** Called once every board listens (tests use it to reach the boards and the control endpoint). */
  onReady?: (running: RunningSimBoard[], control: ControlServer | null) => void;
}

/** A board's slot while the fleet runs: `board` and `server` change when it is swapped, unplugged or plugged. */
export type RunningSimBoard = SimSlot;

/** A command-line mistake: printed with the usage hint, exit code 2. */
class UsageError extends Error {}

/** `flashfarm sim`: starts simulated boards behind RFC 2217 servers, prints them, runs until SIGINT/SIGTERM. */
export async function runSimCli(argv: string[], io: SimCliIo = {}): Promise<number> {
  const out = io.stdout ?? ((text: string): void => void process.stdout.write(text));
  const err = io.stderr ?? ((text: string): void => void process.stderr.write(text));
  let fleet: SimFleet | 'help';
  try {
    fleet = await parseSimArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    err(`flashfarm sim: ${error.message}\nRun "flashfarm sim --help" for the options.\n`);
    return SimCliExit.USAGE;
  }
  if (fleet === 'help') {
    out(`${USAGE}\n`);
    return SimCliExit.OK;
  }

  // Listening before anything starts: a Ctrl-C during start-up, or right after the
  // listing appears, still stops everything cleanly.
  const stopped = waitForStop(io.signal);
  const runner = new SimFleetRunner(fleet.host, fleet.timeScale, fleet.resetMode);
  let control: ControlServer | null = null;
  const stopAll = async (): Promise<void> => {
    await control?.close();
    await runner.stop();
  };
  try {
    for (const [index, spec] of fleet.boards.entries()) {
      const port = spec.port ?? (fleet.basePort === 0 ? 0 : fleet.basePort + index);
      await runner.add(spec, port, fleet.fileFaults, fleet.flagFaults);
    }
    if (fleet.control) control = await startControlServer(runner, fleet.control);
  } catch (error) {
    await stopAll();
    stopped.dispose();
    err(`flashfarm sim: ${(error as Error).message}\n`);
    return error instanceof SlotError && error.code === 'INVALID_UNIT'
      ? SimCliExit.USAGE
      : SimCliExit.RUNTIME_ERROR;
  }

  if (fleet.json) {
    const boards = runner.slots.map((slot) => ({
      url: slot.url,
      name: slot.name,
      chip: slot.board.info.chipDisplayName,
      mac: slot.board.mac,
      flashSizeBytes: slot.board.info.flashSizeBytes,
      plugged: slot.plugged,
      faults: slot.faults,
      ...(slot.lid ? { lid: { ...slot.lid } } : {}),
    }));
    out(`${JSON.stringify({ boards, control: control && { url: control.url, token: control.token } })}\n`);
  } else {
    out(`${formatTable(runner.slots)}\n`);
    if (control) {
      out(`Control: ${control.url}  (send "Authorization: Bearer ${control.token}"; GET /boards to start)\n`);
    }
    out('Press Ctrl-C to stop.\n');
  }
  io.onReady?.([...runner.slots], control);

  await stopped.promise;
  await stopAll();
  return SimCliExit.OK;
}

type SimValues = Record<string, string | boolean | undefined>;

/** The command line's options, checked for spelling (values are checked by their parsers). */
function readSimOptions(argv: string[]): SimValues {
  let values: SimValues;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        chips: { type: 'string' },
        chip: { type: 'string' },
        count: { type: 'string' },
        fleet: { type: 'string' },
        'base-port': { type: 'string' },
        host: { type: 'string' },
        'time-scale': { type: 'string' },
        unplugged: { type: 'boolean' },
        'reset-mode': { type: 'string' },
        json: { type: 'boolean' },
        'control-port': { type: 'string' },
        'control-token': { type: 'string' },
        'no-control': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(
          FAULT_OPTIONS.map((o) => [
            o.flag,
            { type: o.kind === 'boolean' ? ('boolean' as const) : ('string' as const) },
          ]),
        ),
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return values;
}

/** The boards asked for: from the fleet file, --chips, or --count of one chip. */
function boardsFrom(
  values: SimValues,
  file: Record<string, unknown> | undefined,
  fleetPath: string | undefined,
): SimBoardSpec[] {
  const text = (key: string): string | undefined => values[key] as string | undefined;
  try {
    if (file !== undefined) return fleetBoards(file, fleetPath!);
    else if (values.chips !== undefined) {
      const chips = text('chips')!
        .split(',')
        .map((chip) => chip.trim())
        .filter((chip) => chip.length > 0);
      if (chips.length === 0) throw new UsageError('--chips needs at least one chip');
      return chips.map((chip, index) => ({ chip: checkChip(chip), name: `${chip}-${index + 1}` }));
    } else {
      const count = values.count === undefined ? 1 : Number(values.count);
      if (!Number.isInteger(count) || count < 1)
        throw new UsageError(`--count must be a positive whole number (got ${text('count')})`);
      const chip = checkChip(text('chip') ?? 'esp32');
      return Array.from({ length: count }, (_, index) => ({ chip, name: `${chip}-${index + 1}` }));
    }
  } catch (error) {
    if (error instanceof SpecValueError || error instanceof FaultSpecError)
      throw new UsageError(error.message);
    throw error;
  }
}

/** Fleet-wide limits: board count, port range, unique names. */
function checkBoards(values: SimValues, boards: SimBoardSpec[], basePort: number): void {
  if (values.unplugged) for (const board of boards) board.plugged = false;
  if (boards.length > MAX_BOARDS)
    throw new UsageError(`at most ${MAX_BOARDS} boards at once (asked for ${boards.length})`);
  if (basePort !== 0 && basePort + boards.length - 1 > 65_535) {
    throw new UsageError(
      `${boards.length} boards from port ${basePort} run past 65535; choose a lower --base-port`,
    );
  }
  const names = new Set<string>();
  for (const board of boards) {
    if (names.has(board.name))
      throw new UsageError(`two boards are named "${board.name}"; names must be unique`);
    names.add(board.name);
  }
}

/** Parses argv (and a fleet file) into a validated fleet. */
export async function parseSimArgs(argv: string[]): Promise<SimFleet | 'help'> {
  const values = readSimOptions(argv);
  if (values.help) return 'help';
  const text = (key: string): string | undefined => values[key] as string | undefined;

  const sources = [values.chips !== undefined, values.count !== undefined, values.fleet !== undefined].filter(
    Boolean,
  );
  if (sources.length > 1) throw new UsageError('give only one of --chips, --count or --fleet');

  const fleetPath = text('fleet');
  const file = fleetPath === undefined ? undefined : await readFleetFile(fleetPath);
  const host = text('host') ?? stringField(file, 'host') ?? '127.0.0.1';
  const basePort = parsePort(
    text('base-port') ?? numberField(file, 'basePort')?.toString() ?? String(DEFAULT_SIM_BASE_PORT),
    '--base-port',
  );
  const timeScale = values['time-scale'] === undefined ? 1 : Number(values['time-scale']);
  if (!(timeScale >= 0) || !Number.isFinite(timeScale))
    throw new UsageError(`--time-scale must be a number >= 0 (got ${text('time-scale')})`);

  const resetMode = text('reset-mode') ?? stringField(file, 'resetMode') ?? 'local';
  if (!RESET_MODES.includes(resetMode as Rfc2217ResetMode))
    throw new UsageError(`--reset-mode must be one of ${RESET_MODES.join(', ')} (got ${resetMode})`);

  let flagFaults: FaultPatch;
  let fileFaults: FaultPatch = {};
  try {
    flagFaults = parseFaultFlags(values);
    if (file?.faults !== undefined) fileFaults = parseFaultPatch(file.faults, `${fleetPath} faults`);
  } catch (error) {
    if (error instanceof FaultSpecError) throw new UsageError(error.message);
    throw error;
  }

  const boards = boardsFrom(values, file, fleetPath);
  checkBoards(values, boards, basePort);
  return {
    host,
    basePort,
    timeScale,
    resetMode: resetMode as Rfc2217ResetMode,
    json: values.json === true,
    boards,
    fileFaults,
    flagFaults,
    control: parseControl(values),
  };
}

function parseControl(values: Record<string, string | boolean | undefined>): SimFleet['control'] {
  const port = values['control-port'] as string | undefined;
  const token = values['control-token'] as string | undefined;
  if (values['no-control']) {
    if (port !== undefined || token !== undefined)
      throw new UsageError('--no-control cannot be combined with --control-port or --control-token');
    return null;
  }
  if (token !== undefined && (token.length < MIN_CONTROL_TOKEN_CHARS || /\s/.test(token)))
    throw new UsageError(
      `--control-token must be at least ${MIN_CONTROL_TOKEN_CHARS} characters without spaces`,
    );
  return { port: port === undefined ? 0 : parsePort(port, '--control-port'), ...(token ? { token } : {}) };
}

function parsePort(text: string, what: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new UsageError(`${what} must be a TCP port 0-65535 (got ${text})`);
  return port;
}

async function readFleetFile(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read fleet file ${path}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    if (['.yaml', '.yml'].includes(extname(path).toLowerCase())) {
      // Loaded only for YAML fleets: a JSON fleet needs nothing beyond Node.
      const { parse } = await import('yaml');
      parsed = parse(text);
    } else parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `fleet file ${path} is not valid ${extname(path) || 'JSON'}: ${(error as Error).message}`,
    );
  }
  if (Array.isArray(parsed)) return { boards: parsed };
  if (parsed === null || typeof parsed !== 'object')
    throw new UsageError(`fleet file ${path} must hold an object with "boards"`);
  return parsed as Record<string, unknown>;
}

function stringField(file: Record<string, unknown> | undefined, key: string): string | undefined {
  const value = file?.[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new UsageError(`fleet "${key}" must be a string`);
  return value;
}

function numberField(file: Record<string, unknown> | undefined, key: string): number | undefined {
  const value = file?.[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'number') throw new UsageError(`fleet "${key}" must be a number`);
  return value;
}

/** Keys a board entry of a fleet file may have. */
const BOARD_KEYS = new Set([
  'chip',
  'name',
  'mac',
  'flashSize',
  'flashSizeBytes',
  'wiring',
  'port',
  'faults',
  'plugged',
  'lid',
]);

function fleetBoards(file: Record<string, unknown>, path: string): SimBoardSpec[] {
  const list = file.boards;
  if (!Array.isArray(list) || list.length === 0)
    throw new UsageError(`fleet file ${path} needs a non-empty "boards" list`);
  const counters = new Map<string, number>();
  return list.map((entry: unknown, index) => {
    const where = `${path} boards[${index}]`;
    if (entry === null || typeof entry !== 'object')
      throw new UsageError(`${where} must be an object with "chip"`);
    const item = entry as Record<string, unknown>;
    const unknown = Object.keys(item).filter((key) => !BOARD_KEYS.has(key));
    if (unknown.length > 0) {
      throw new UsageError(
        `${where}: unknown key(s) ${unknown.join(', ')}; known: ${[...BOARD_KEYS].join(', ')} (faults go under "faults")`,
      );
    }
    if (typeof item.chip !== 'string')
      throw new UsageError(`${where} needs "chip" (one of ${chipNames.join(', ')})`);
    const chip = checkChip(item.chip);
    const nth = (counters.get(chip) ?? 0) + 1;
    counters.set(chip, nth);
    const spec: SimBoardSpec = { chip, name: typeof item.name === 'string' ? item.name : `${chip}-${nth}` };
    if (item.mac !== undefined) {
      if (typeof item.mac !== 'string')
        throw new UsageError(`${where}: mac must be a string like "24:0a:c4:00:00:01"`);
      spec.mac = item.mac;
    }
    const size = item.flashSize ?? item.flashSizeBytes;
    if (size !== undefined) spec.flashSizeBytes = parseFlashSize(size, where);
    if (item.wiring !== undefined) spec.wiring = checkWiring(item.wiring, where);
    if (item.port !== undefined) {
      if (typeof item.port !== 'number' && typeof item.port !== 'string') {
        throw new UsageError(`${where}: port must be a number`);
      }
      spec.port = parsePort(String(item.port), `${where} port`);
    }
    if (item.faults !== undefined) spec.faults = parseFaultPatch(item.faults, `${where} faults`);
    if (item.plugged !== undefined) {
      if (typeof item.plugged !== 'boolean') throw new UsageError(`${where}: plugged must be true or false`);
      spec.plugged = item.plugged;
    }
    if (item.lid !== undefined) spec.lid = parseLid(item.lid, where);
    return spec;
  });
}

function formatTable(slots: readonly SimSlot[]): string {
  const header = ['ADDRESS', 'NAME', 'CHIP', 'MAC', 'FLASH', 'FAULTS'];
  const body = slots.map((slot) => [
    slot.url,
    slot.name,
    slot.board.info.chipDisplayName,
    slot.board.mac,
    `${slot.board.info.flashSizeBytes / (1024 * 1024)} MB`,
    [
      slot.plugged ? '' : 'unplugged',
      slot.lid ? `lid=${slot.lid.line}:${slot.lid.closed ? 'closed' : 'open'}` : '',
      describeFaults(slot.faults),
    ]
      .filter(Boolean)
      .join(' '),
  ]);
  const widths = header.map((title, column) =>
    Math.max(title.length, ...body.map((cells) => cells[column].length)),
  );
  return [header, ...body]
    .map((cells) =>
      cells
        .map((cell, column) => cell.padEnd(widths[column]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function waitForStop(signal: AbortSignal | undefined): { promise: Promise<void>; dispose: () => void } {
  let dispose: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    if (signal) {
      if (signal.aborted) resolve();
      else {
        const onAbort = (): void => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
        dispose = () => signal.removeEventListener('abort', onAbort);
      }
      return;
    }
    const stop = (): void => {
      dispose();
      resolve();
    };
    dispose = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return { promise, dispose };
}

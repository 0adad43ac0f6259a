import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type ChipName,
  chipNames,
  isChipName,
  type Rfc2217Server,
  SimBoard,
  startRfc2217Server,
  type Wiring,
} from '#sim';

/** Exit codes of `flashfarm sim`. */
export const SimCliExit = { OK: 0, RUNTIME_ERROR: 1, USAGE: 2 } as const;

/** First TCP port when none is given. */
export const DEFAULT_SIM_BASE_PORT = 4000;
/** Largest fleet one command starts (each board is a TCP server and a set of timers). */
const MAX_BOARDS = 256;

const USAGE = `Usage: flashfarm sim [options]

Starts simulated ESP boards, each behind its own RFC 2217 server, until Ctrl-C.

  --chips <list>        comma-separated chips, one board each (e.g. esp32,esp32s3,esp32c3)
  --chip <name>         chip for --count boards (default esp32)
  --count <n>           number of boards of --chip
  --fleet <file>        JSON or YAML fleet file (see apps/cli/src/sim/README.md)
  --base-port <port>    first TCP port; boards take consecutive ports (default ${DEFAULT_SIM_BASE_PORT}; 0 = any free)
  --host <address>      interface to listen on (default 127.0.0.1)
  --time-scale <x>      1 = real time (default), 0.01 = 100x faster
  --json                print the board list as JSON
  -h, --help            this text

Chips: ${chipNames.join(', ')}`;

/** One board of a fleet, as given on the command line or in a fleet file. */
export interface SimBoardSpec {
  chip: ChipName;
  name: string;
  mac?: string;
  flashSizeBytes?: number;
  wiring?: Wiring;
  /** TCP port for this board; consecutive from the base port when omitted. */
  port?: number;
}

/** A fleet to start. */
export interface SimFleet {
  host: string;
  basePort: number;
  timeScale: number;
  /** Print the board list as JSON instead of a table. */
  json: boolean;
  boards: SimBoardSpec[];
}

/** Where the CLI writes, and what stops it (tests pass their own). */
export interface SimCliIo {
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Stops the fleet when aborted; SIGINT/SIGTERM when omitted. */
  signal?: AbortSignal;
  /** Called once every board listens (tests use it to reach the boards). */
  onReady?: (running: RunningSimBoard[]) => void;
}

/** A started board and its server. */
export interface RunningSimBoard {
  board: SimBoard;
  server: Rfc2217Server;
}

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
  const running: RunningSimBoard[] = [];
  const stopAll = async (): Promise<void> => {
    for (const { board, server } of running.splice(0).reverse()) {
      await server.close();
      board.dispose();
    }
  };
  try {
    for (const [index, spec] of fleet.boards.entries()) {
      let board: SimBoard;
      try {
        board = new SimBoard({
          chip: spec.chip,
          name: spec.name,
          timeScale: fleet.timeScale,
          ...(spec.mac === undefined ? {} : { mac: spec.mac }),
          ...(spec.flashSizeBytes === undefined ? {} : { flashSizeBytes: spec.flashSizeBytes }),
          ...(spec.wiring === undefined ? {} : { wiring: spec.wiring }),
        });
      } catch (error) {
        throw new UsageError(`board "${spec.name}": ${(error as Error).message}`);
      }
      const port = spec.port ?? (fleet.basePort === 0 ? 0 : fleet.basePort + index);
      try {
        running.push({ board, server: await startRfc2217Server(board, { host: fleet.host, port }) });
      } catch (error) {
        board.dispose();
        throw error;
      }
    }
  } catch (error) {
    await stopAll();
    stopped.dispose();
    err(`flashfarm sim: ${(error as Error).message}\n`);
    return error instanceof UsageError ? SimCliExit.USAGE : SimCliExit.RUNTIME_ERROR;
  }

  const rows = running.map(({ board, server }) => ({
    url: server.url,
    name: board.name,
    chip: board.info.chipDisplayName,
    mac: board.mac,
    flashSizeBytes: board.info.flashSizeBytes,
  }));
  if (fleet.json) out(`${JSON.stringify(rows, null, 2)}\n`);
  else out(`${formatTable(rows)}\nPress Ctrl-C to stop.\n`);
  io.onReady?.([...running]);

  await stopped.promise;
  await stopAll();
  return SimCliExit.OK;
}

/** Parses argv (and a fleet file) into a validated fleet. */
export async function parseSimArgs(argv: string[]): Promise<SimFleet | 'help'> {
  let values;
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
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return 'help';

  const sources = [values.chips !== undefined, values.count !== undefined, values.fleet !== undefined].filter(
    Boolean,
  );
  if (sources.length > 1) throw new UsageError('give only one of --chips, --count or --fleet');

  const file = values.fleet === undefined ? undefined : await readFleetFile(values.fleet);
  const host = values.host ?? stringField(file, 'host') ?? '127.0.0.1';
  const basePort = parsePort(
    values['base-port'] ?? numberField(file, 'basePort')?.toString() ?? String(DEFAULT_SIM_BASE_PORT),
    '--base-port',
  );
  const timeScale = values['time-scale'] === undefined ? 1 : Number(values['time-scale']);
  if (!(timeScale >= 0))
    throw new UsageError(`--time-scale must be a number >= 0 (got ${values['time-scale']})`);

  let boards: SimBoardSpec[];
  if (file !== undefined) boards = fleetBoards(file, values.fleet!);
  else if (values.chips !== undefined) {
    const chips = values.chips
      .split(',')
      .map((chip) => chip.trim())
      .filter((chip) => chip.length > 0);
    if (chips.length === 0) throw new UsageError('--chips needs at least one chip');
    boards = chips.map((chip, index) => ({ chip: checkChip(chip), name: `${chip}-${index + 1}` }));
  } else {
    const count = values.count === undefined ? 1 : Number(values.count);
    if (!Number.isInteger(count) || count < 1)
      throw new UsageError(`--count must be a positive whole number (got ${values.count})`);
    const chip = checkChip(values.chip ?? 'esp32');
    boards = Array.from({ length: count }, (_, index) => ({ chip, name: `${chip}-${index + 1}` }));
  }
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
  return { host, basePort, timeScale, json: values.json ?? false, boards };
}

function checkChip(name: string): ChipName {
  const normalized = name.toLowerCase().replace(/[-_]/g, '');
  if (isChipName(normalized)) return normalized;
  throw new UsageError(`unknown chip "${name}"; valid chips: ${chipNames.join(', ')}`);
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

/** Accepts 4194304, "4MB", "4 MiB". */
function parseFlashSize(value: unknown, where: string): number {
  if (typeof value === 'number') return value;
  const match = typeof value === 'string' ? /^\s*(\d+)\s*(MB|MiB|M)\s*$/i.exec(value) : null;
  if (!match)
    throw new UsageError(`${where}: flashSize must be bytes or like "4MB" (got ${JSON.stringify(value)})`);
  return Number(match[1]) * 1024 * 1024;
}

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
    if (item.wiring !== undefined) {
      const wirings: Wiring[] = ['auto-reset', 'auto-reset-swapped', 'usb-serial-jtag', 'none'];
      if (!wirings.includes(item.wiring as Wiring))
        throw new UsageError(`${where}: wiring must be one of ${wirings.join(', ')}`);
      spec.wiring = item.wiring as Wiring;
    }
    if (item.port !== undefined) {
      if (typeof item.port !== 'number' && typeof item.port !== 'string') {
        throw new UsageError(`${where}: port must be a number`);
      }
      spec.port = parsePort(String(item.port), `${where} port`);
    }
    return spec;
  });
}

function formatTable(
  rows: Array<{ url: string; name: string; chip: string; mac: string; flashSizeBytes: number }>,
): string {
  const header = ['ADDRESS', 'NAME', 'CHIP', 'MAC', 'FLASH'];
  const body = rows.map((row) => [
    row.url,
    row.name,
    row.chip,
    row.mac,
    `${row.flashSizeBytes / (1024 * 1024)} MB`,
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

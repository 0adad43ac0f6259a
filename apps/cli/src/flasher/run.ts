/**
 * `flashfarm flash | erase | read | info`: the flasher on the command line.
 * Ports are opened through an injected openTransport(url), so tests can hand
 * in simulated boards; main.ts wires libs/serial in.
 */
import { readFile, writeFile } from 'node:fs/promises';
import {
  type AfterAction,
  chipInfo,
  eraseFlash,
  flash,
  type FlashRegion,
  readFlash,
  resetStrategyFromName,
  type SessionOptions,
  type Transport,
} from '#esp';
import { EXIT_CODES, toCliError } from './exit-codes.js';
import { flagValue, parseArgs, type ParsedArgs, parseSize, usageError } from './args.js';
import { type CliOutput, ProgressRenderer } from './progress.js';

/** What the CLI needs from its host. */
export interface FlasherCliDeps {
  /** Opens (or returns an already open) transport for a port URL. */
  openTransport(url: string): Promise<Transport>;
  stdout?: CliOutput;
  stderr?: CliOutput;
  readFile?: (path: string) => Promise<Uint8Array>;
  writeFile?: (path: string, data: Uint8Array) => Promise<void>;
  /** Cancels the run (the bin passes one tied to SIGINT). */
  signal?: AbortSignal;
}

const PORT_HELP = '<port>: /dev/ttyUSB0, COM3, rfc2217://host:port, socket://host:port, sim://name';
const CONNECT_HELP = `  --baud <n>            data-phase baud (default 921600; falls back on line errors)
  --no-stub             use the ROM loader only
  --reset <s>           auto | classic-50 | classic-550 | unix-tight | swapped | usb-jtag | no-reset
                        or a sequence such as D0|R1|W100|D1|R0|W50|D0 (W in ms)
  --after <a>           hard-reset (default) | soft-reset | no-reset | no-reset-stub | watchdog-reset
  --connect-attempts n  reset+sync rounds before giving up
  --chip <name>         refuse any other chip`;

/** Help text of each flasher command (`flashfarm <command> --help`). */
export const FLASHER_HELP: Readonly<Record<'flash' | 'erase' | 'read' | 'info', string>> = {
  flash: `Usage: flashfarm flash <port> <offset> <file> [<offset> <file>]... [options]

Writes each file at its offset and verifies every region by MD5. Files are read and checked
before the port is opened.
${PORT_HELP}

Options:
  --skip-unchanged      compare MD5s on the chip; write only the 4 KiB sectors that differ
  --no-chunk-diff       with --skip-unchanged, rewrite a changed file whole
  --no-verify           do not MD5-verify (not recommended)
  --no-compress         send uncompressed
  --erase-all           erase the whole flash first
  --force               write images built for another chip or revision anyway
  --flash-mode/--flash-freq/--flash-size <v>   bootloader header settings (keep = unchanged)
  --json                print the result as JSON on stdout
${CONNECT_HELP}
`,
  erase: `Usage: flashfarm erase <port> [--region <offset> <size>]... [options]

Erases the whole flash, or each region (offset and size multiples of 4096, inside the flash).
${PORT_HELP}

Options:
  --region <offset> <size>   erase only this region (repeatable)
${CONNECT_HELP}
`,
  read: `Usage: flashfarm read <port> <offset> <size> <file> [options]

Reads <size> bytes (0x1000, 4096, 64k, 4M) from <offset> into <file>, checked by MD5.
${PORT_HELP}

Options:
${CONNECT_HELP}
`,
  info: `Usage: flashfarm info <port> [options]

Identifies the board: chip and revision, features, crystal, MAC, flash ID and size, and the reset
strategy that reached its loader.
${PORT_HELP}

Options:
  --json                print the result as JSON on stdout
${CONNECT_HELP}
`,
};

/** Usage of all four commands (for an unknown command or a missing port). */
export const FLASHER_USAGE = `Usage:
  flashfarm flash <port> <offset> <file> [<offset> <file>]...
  flashfarm erase <port> [--region <offset> <size>]...
  flashfarm read  <port> <offset> <size> <file>
  flashfarm info  <port>

Run "flashfarm <command> --help" for the options of each.
`;

const stdStream = (s: NodeJS.WriteStream): CliOutput => ({ write: (t) => void s.write(t), isTTY: s.isTTY });

/** Runs one flasher command; resolves with the process exit code. */
// eslint-disable-next-line max-lines-per-function -- a dispatcher over four commands sharing one transport, renderer and error exit; each case is one command
export async function runFlasherCli(argv: readonly string[], deps: FlasherCliDeps): Promise<number> {
  const out = deps.stdout ?? stdStream(process.stdout);
  const err = deps.stderr ?? stdStream(process.stderr);
  const renderer = new ProgressRenderer(err);
  let transport: Transport | undefined;
  try {
    const args = parseArgs(argv);
    const command = args.command as keyof typeof FLASHER_HELP;
    if (!(command in FLASHER_HELP)) {
      if (args.command !== 'help') throw usageError(`Unknown command "${args.command}".\n${FLASHER_USAGE}`);
      out.write(FLASHER_USAGE);
      return 0;
    }
    if (args.flags.has('help')) {
      out.write(FLASHER_HELP[command]);
      return 0;
    }
    const port = args.positionals[0];
    if (!port) throw usageError(`Missing <port>.\n${FLASHER_HELP[command]}`);
    const session = sessionOptions(args, deps.signal, (e) => renderer.handle(e));
    const json = args.flags.has('json');
    const rest = args.positionals.slice(1);
    // Read inputs before touching the board, so a typo never leaves a half-flashed device.
    const regions =
      args.command === 'flash' ? await loadRegions(rest, deps.readFile ?? ((p) => readFile(p))) : [];
    transport = await deps.openTransport(port);
    switch (args.command) {
      case 'flash': {
        const result = await flash(transport, regions, {
          ...session,
          verify: !args.flags.has('no-verify'),
          skipUnchanged: args.flags.has('skip-unchanged'),
          force: args.flags.has('force'),
          chunkDiff: !args.flags.has('no-chunk-diff'),
          eraseAll: args.flags.has('erase-all'),
          compress: !args.flags.has('no-compress'),
          flashMode: flagValue(args, 'flash-mode'),
          flashFreq: flagValue(args, 'flash-freq'),
          flashSize: flagValue(args, 'flash-size'),
        });
        renderer.clearBar();
        if (json) out.write(`${JSON.stringify(result)}\n`);
        else {
          for (const r of result.regions) {
            out.write(
              `0x${r.offset.toString(16).padStart(6, '0')}  ${String(r.size).padStart(8)} bytes  ${r.status.padEnd(7)}  md5 ${r.md5}${r.verified ? '  verified' : ''}\n`,
            );
          }
          out.write(
            `${result.chip.displayName} ${result.chip.mac}: wrote ${result.bytesWritten} bytes, skipped ${result.bytesSkipped}, at ${result.baud} baud` +
              `${result.baudFallbacks.length ? ` (fell back from ${result.baudFallbacks.join(', ')})` : ''}, ${result.retries} retries, ${(result.durationMs / 1000).toFixed(1)} s; reset strategy ${result.resetStrategy}\n`,
          );
        }
        return 0;
      }
      case 'erase': {
        const spec = args.flags.get('region') ?? [];
        const eraseRegions: Array<{ offset: number; size: number }> = [];
        for (let i = 0; i < spec.length; i += 2) {
          eraseRegions.push({
            offset: parseSize(spec[i], 'Erase offset'),
            size: parseSize(spec[i + 1], 'Erase size'),
          });
        }
        await eraseFlash(transport, { ...session, regions: eraseRegions });
        renderer.clearBar();
        out.write(
          eraseRegions.length ? `erased ${eraseRegions.length} region(s)\n` : 'erased the whole flash\n',
        );
        return 0;
      }
      case 'read': {
        if (rest.length !== 3) throw usageError(`read needs <offset> <size> <file>.\n${FLASHER_USAGE}`);
        const offset = parseSize(rest[0], 'Offset');
        const size = parseSize(rest[1], 'Size');
        const data = await readFlash(transport, offset, size, session);
        await (deps.writeFile ?? ((p, d) => writeFile(p, d)))(rest[2], data);
        renderer.clearBar();
        out.write(`read ${data.length} bytes from 0x${offset.toString(16)} into ${rest[2]}\n`);
        return 0;
      }
      default: {
        const info = await chipInfo(transport, session);
        if (json) out.write(`${JSON.stringify(info)}\n`);
        else {
          out.write(
            [
              `Chip:      ${info.description}`,
              `Features:  ${info.features.join(', ')}`,
              `Crystal:   ${info.crystalMhz} MHz`,
              `MAC:       ${info.mac}`,
              `Flash:     ID 0x${(info.flashId ?? 0).toString(16).padStart(6, '0')}, ${(info.flashSizeBytes ?? 0) / 1048576} MiB`,
              `Reset:     ${info.resetStrategy}`,
              '',
            ].join('\n'),
          );
        }
        return 0;
      }
    }
  } catch (e) {
    renderer.clearBar();
    const error = toCliError(e);
    err.write(`error [${error.code}]: ${error.message}\n`);
    return EXIT_CODES[error.code];
  } finally {
    await transport?.close().catch(() => undefined);
  }
}

function sessionOptions(
  args: ParsedArgs,
  signal: AbortSignal | undefined,
  onEvent: SessionOptions['onEvent'],
): SessionOptions {
  const baudText = flagValue(args, 'baud');
  const baud = baudText === undefined ? undefined : Number(baudText);
  if (baud !== undefined && (!Number.isInteger(baud) || baud < 9600 || baud > 5_000_000)) {
    throw usageError(`--baud "${baudText}" is not a usable baud rate (9600 … 5000000).`);
  }
  const reset = flagValue(args, 'reset');
  if (reset !== undefined) resetStrategyFromName(reset); // validate early: the error names the bad token
  const after = flagValue(args, 'after');
  const afters: AfterAction[] = ['hard-reset', 'soft-reset', 'no-reset', 'no-reset-stub', 'watchdog-reset'];
  if (after !== undefined && !afters.includes(after as AfterAction)) {
    throw usageError(`--after "${after}" is not one of ${afters.join(', ')}.`);
  }
  const attempts = flagValue(args, 'connect-attempts');
  return {
    baud,
    noStub: args.flags.has('no-stub') ? true : undefined,
    resetStrategy: reset,
    after: after as AfterAction | undefined,
    expectChip: flagValue(args, 'chip'),
    connectAttempts: attempts === undefined ? undefined : parseSize(attempts, '--connect-attempts'),
    signal,
    onEvent,
  };
}

async function loadRegions(
  pairs: string[],
  read: (path: string) => Promise<Uint8Array>,
): Promise<FlashRegion[]> {
  if (pairs.length === 0 || pairs.length % 2 !== 0) {
    throw usageError(`flash needs one or more <offset> <file> pairs.\n${FLASHER_USAGE}`);
  }
  const regions: FlashRegion[] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const offset = parseSize(pairs[i], 'Offset');
    const path = pairs[i + 1];
    let data: Uint8Array;
    try {
      data = await read(path);
    } catch (e) {
      throw usageError(`Cannot read ${path}: ${(e as Error).message}`);
    }
    regions.push({ offset, data, name: path.split(/[\\/]/).pop() });
  }
  return regions;
}

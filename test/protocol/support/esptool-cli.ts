/**
 * Runs the esptool-compatible CLI in-process against simulated boards,
 * reached either through the in-process transport (`sim://<name>`) or
 * through the simulator's RFC 2217 server over real TCP
 * (`rfc2217://127.0.0.1:<port>`, opened by libs/serial as the bin does).
 * Captures stdout/stderr and every port the CLI opened.
 */
import { afterEach } from '@jest/globals';
import { type PassThrough } from 'node:stream';
import type { Transport } from '#esp';
import { openTransport, type SerialPortInfo, SimTransport } from '#serial';
import { SimBoard, type SimBoardOptions, startRfc2217Server } from '#sim';
import { runEsptoolCli } from '../../../apps/cli/src/esptool/index.js';

/** How the CLI reaches the boards. */
export type Link = 'in-process' | 'rfc2217';

/** Output and facts of one CLI run. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Ports the CLI asked to open, in order. */
  opened: string[];
}

/** Options of one run. */
export interface RunOptions {
  stdin?: PassThrough;
  listPorts?: SerialPortInfo[];
  /** Called with the live stdout text as it grows (monitor tests wait on it). */
  onStdout?: (text: string) => void;
}

/** Boards for one test, on the chosen link; everything is released after the test. */
export function esptoolLab(link: Link) {
  const cleanups: Array<() => Promise<void> | void> = [];
  const boards = new Map<string, SimBoard>();
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    boards.clear();
  });

  /** A board and the port URL the CLI should use for it. */
  async function board(
    options: Partial<SimBoardOptions> & { chip: SimBoardOptions['chip'] },
  ): Promise<{ board: SimBoard; port: string }> {
    const name = `${options.chip}-${boards.size}-${link}`;
    const b = new SimBoard({ name, timeScale: 0, ...options });
    boards.set(name, b);
    cleanups.push(() => b.dispose());
    if (link === 'in-process') return { board: b, port: `sim://${name}` };
    const server = await startRfc2217Server(b, { port: 0 });
    cleanups.push(() => server.close());
    return { board: b, port: `rfc2217://${server.host}:${server.port}` };
  }

  async function open(url: string, baudRate: number, warn: (message: string) => void): Promise<Transport> {
    if (url.startsWith('sim://')) {
      const b = boards.get(url.slice('sim://'.length));
      if (!b) throw Object.assign(new Error(`${url}: no such board`), { code: 'PORT_NOT_FOUND' });
      const t = new SimTransport(b);
      await t.open(baudRate);
      return t;
    }
    return openTransport(url, { baudRate, onWarning: warn });
  }

  /** Runs `flashfarm <argv…>` through the esptool surface. */
  async function run(argv: string[], options: RunOptions = {}): Promise<CliRun> {
    let stdout = '';
    let stderr = '';
    const opened: string[] = [];
    const code = await runEsptoolCli(argv, {
      openTransport: (url, { baudRate }) => {
        opened.push(url);
        // As the bin does: transport warnings go to stderr.
        return open(url, baudRate, (message) => void (stderr += `Warning: ${message}\n`));
      },
      listPorts: () => Promise.resolve(options.listPorts ?? []),
      stdout: {
        write: (t) => {
          stdout += t;
          options.onStdout?.(stdout);
        },
        isTTY: false,
      },
      stderr: { write: (t) => void (stderr += t), isTTY: false },
      stdin: options.stdin,
    });
    return { code, stdout, stderr, opened };
  }

  return { board, run };
}

/** How often `needle` occurs in `text`. */
export function occurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/**
 * The esptool-compatible command line: `flashfarm -p PORT -b 921600
 * write-flash -z 0x1000 bootloader.bin …` does what esptool v5 does, from
 * Node. Errors are printed once, with their code and what to do, and end
 * with the exit code of the EXIT_CODES table (documented in the README).
 */
import { readFileSync } from 'node:fs';
import { EXIT_CODES, toCliError } from '../flasher/exit-codes.js';
import type { CliOutput } from '../flasher/progress.js';
import { parseCommandLine } from './args.js';
import { ESPTOOL_COMMANDS, esptoolOverview, GLOBAL_OPTIONS } from './commands.js';
import { type EsptoolCliDeps, globalOptions, makeContext } from './context.js';

export { ESPTOOL_COMMANDS, esptoolOverview, isEsptoolCommand } from './commands.js';
export type { EsptoolCliDeps } from './context.js';
export { MONITOR_EXIT_BYTE } from './monitor.js';

/** The esptool release whose command line and output this surface follows. */
export const ESPTOOL_COMPAT_VERSION = '5.3.1';

/** The flashfarm version, from the package.json above this file (source or compiled tree). */
export function flashfarmVersion(): string {
  for (const up of ['../../../../package.json', '../../../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'flashfarm' && pkg.version) return pkg.version;
    } catch {
      // Not at this depth; try the next.
    }
  }
  return 'unknown';
}

/** Help for one command. */
export function commandHelp(name: string): string {
  const c = ESPTOOL_COMMANDS[name];
  return `Usage: flashfarm [global options] ${c.usage}\n\n${c.summary[0].toUpperCase()}${c.summary.slice(1)}.\n\n${c.help}\n\nRun "flashfarm --help" for the global options (-p, -b, -c, --before, --after, ...).\n`;
}

const stdStream = (s: NodeJS.WriteStream): CliOutput => ({ write: (t) => void s.write(t), isTTY: s.isTTY });

/** Runs one esptool-style command line; resolves with the process exit code. */
export async function runEsptoolCli(argv: readonly string[], deps: EsptoolCliDeps): Promise<number> {
  const out = deps.stdout ?? stdStream(process.stdout);
  const err = deps.stderr ?? stdStream(process.stderr);
  try {
    const parsed = parseCommandLine(
      argv,
      GLOBAL_OPTIONS,
      (name) => ESPTOOL_COMMANDS[name]?.options,
      Object.keys(ESPTOOL_COMMANDS),
    );
    for (const w of parsed.warnings) err.write(`Warning: ${w}\n`);
    if (parsed.globals.has('version') || parsed.command === 'version') {
      out.write(`flashfarm v${flashfarmVersion()} (esptool v${ESPTOOL_COMPAT_VERSION} command line)\n`);
      return 0;
    }
    if (parsed.command === undefined) {
      out.write(esptoolOverview());
      return parsed.help ? 0 : 2;
    }
    const command = ESPTOOL_COMMANDS[parsed.command];
    if (!command) {
      err.write(`flashfarm: unknown command "${parsed.command}". Run "flashfarm --help" for the list.\n`);
      return 2;
    }
    if (parsed.help) {
      out.write(commandHelp(parsed.command));
      return 0;
    }
    const ctx = makeContext(parsed, globalOptions(parsed), deps, out, err);
    try {
      return await command.run(ctx);
    } finally {
      ctx.renderer.clearBar();
    }
  } catch (e) {
    const error = toCliError(e);
    err.write(`A fatal error occurred: ${error.message} (${error.code})\n`);
    return EXIT_CODES[error.code];
  }
}

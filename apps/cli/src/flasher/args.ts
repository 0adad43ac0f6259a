/** Argument parsing for the flasher CLI: small, strict, with errors that name the bad argument. */
import { EspError } from '#esp';

/** A parsed command line. */
export interface ParsedArgs {
  command: string;
  positionals: string[];
  flags: Map<string, string[]>;
}

/** Flags that take no value. */
const BOOLEAN_FLAGS = new Set([
  'no-stub',
  'skip-unchanged',
  'force',
  'no-verify',
  'erase-all',
  'no-compress',
  'json',
  'help',
  'no-chunk-diff',
]);
/** Flags that take this many values. */
const VALUE_FLAGS: Readonly<Record<string, number>> = {
  baud: 1,
  reset: 1,
  after: 1,
  chip: 1,
  'flash-mode': 1,
  'flash-freq': 1,
  'flash-size': 1,
  region: 2,
  'connect-attempts': 1,
};

/** A usage error (exit code 2). */
export function usageError(message: string): EspError {
  return new EspError(message, { code: 'INVALID_ARGUMENT' });
}

/** Splits argv into command, positionals and flags (`--name value`, `--name=value`). */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const [command = 'help', ...rest] = argv;
  const positionals: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    let name = arg.slice(2);
    let inline: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      inline = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    if (BOOLEAN_FLAGS.has(name)) {
      if (inline !== undefined) throw usageError(`--${name} takes no value.`);
      flags.set(name, []);
      continue;
    }
    const count = VALUE_FLAGS[name];
    if (count === undefined) throw usageError(`Unknown option --${name}. Run "flashfarm help" for the list.`);
    const values = inline !== undefined ? [inline] : [];
    while (values.length < count) {
      const v = rest[++i];
      if (v === undefined)
        throw usageError(`--${name} needs ${count === 1 ? 'a value' : `${count} values`}.`);
      values.push(v);
    }
    flags.set(name, [...(flags.get(name) ?? []), ...values]);
  }
  return { command, positionals, flags };
}

/** Parses 0x1000, 4096, 64k, 4M (binary units). */
export function parseSize(text: string, what: string): number {
  const m = /^(0x[0-9a-f]+|\d+)([kKmM])?$/.exec(text.trim());
  if (!m) throw usageError(`${what} "${text}" is not a number (use 0x10000, 65536, 64k or 4M).`);
  const base = m[1].toLowerCase().startsWith('0x') ? parseInt(m[1], 16) : parseInt(m[1], 10);
  const mult = m[2] === undefined ? 1 : m[2].toLowerCase() === 'k' ? 1024 : 1024 * 1024;
  return base * mult;
}

/** The single value of a flag, if given. */
export function flagValue(args: ParsedArgs, name: string): string | undefined {
  return args.flags.get(name)?.[0];
}

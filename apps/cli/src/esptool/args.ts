/**
 * esptool's command line grammar: global options before the command
 * (`-p PORT -b 921600 --before default-reset write-flash …`), the command's
 * own options and positionals after it, long options also as `--opt=value`,
 * short ones also glued (`-b921600`). The same letter can mean different
 * things in the two places (`-p` is the port before the command and
 * `--no-progress` after `write-flash`), exactly as in esptool. Global long
 * options are also accepted after the command when it has no option of that
 * name, which esptool refuses but people type. v4 spellings (`write_flash`,
 * `--flash_size`, `--fill-flash-size`) are accepted with esptool's warning.
 */
import { EspError } from '#esp';

/** One option of a command (or of the global set). */
export interface OptionSpec {
  /** Long name without dashes: "flash-size". */
  name: string;
  /** Short form without the dash: "fs", "b". */
  short?: string;
  /** flag: no value; value: one value; eat: every value up to the next option (esptool's OptionEatAll). */
  kind: 'flag' | 'value' | 'eat';
}

/** What the parser produced for one invocation. */
export interface ParsedCommandLine {
  command: string | undefined;
  /** Global options (before the command, or long ones after it that the command lacks). */
  globals: Map<string, string[]>;
  /** The command's options. */
  options: Map<string, string[]>;
  positionals: string[];
  /** esptool's deprecation warnings for v4 spellings. */
  warnings: string[];
  /** -h/--help was given (after the command: that command's help). */
  help: boolean;
}

/** A usage error: exit code 2, and the message says what to do. */
export function usageError(message: string): EspError {
  return new EspError(message, { code: 'INVALID_ARGUMENT' });
}

/** Options esptool v5 renamed, and the names they have now. */
const DEPRECATED_OPTIONS: Readonly<Record<string, string>> = {
  '--flash_size': '--flash-size',
  '--flash_freq': '--flash-freq',
  '--flash_mode': '--flash-mode',
  '--use_segments': '--use-segments',
  '--fill-flash-size': '--pad-to-size',
  '--connect_attempts': '--connect-attempts',
};

function find(specs: readonly OptionSpec[], token: string): OptionSpec | undefined {
  if (token.startsWith('--')) return specs.find((s) => s.name === token.slice(2));
  const name = token.slice(1);
  const exact = specs.find((s) => s.short === name);
  if (exact) return exact;
  // A value glued to a short option (-b921600): the longest short name that prefixes it (-fs before -f).
  return specs
    .filter((s) => s.short !== undefined && s.kind !== 'flag' && name.startsWith(s.short))
    .sort((a, b) => b.short!.length - a.short!.length)[0];
}

/**
 * Parses argv. `commandSpecs(name)` gives a command's options (undefined for
 * an unknown command); `commands` lists the names, so an eat-all option stops
 * at a command name.
 */
// eslint-disable-next-line max-lines-per-function -- one pass over argv: the global and command option state it threads is the parse
export function parseCommandLine(
  argv: readonly string[],
  globalSpecs: readonly OptionSpec[],
  commandSpecs: (command: string) => readonly OptionSpec[] | undefined,
  commands: readonly string[],
): ParsedCommandLine {
  const out: ParsedCommandLine = {
    command: undefined,
    globals: new Map(),
    options: new Map(),
    positionals: [],
    warnings: [],
    help: false,
  };
  let specs: readonly OptionSpec[] = [];
  let endOfOptions = false;
  for (let i = 0; i < argv.length; i++) {
    let token = argv[i];
    if (endOfOptions || token === '-' || !token.startsWith('-') || /^-\d/.test(token)) {
      if (out.command === undefined) {
        out.command = commandName(token, commands, out.warnings);
        specs = commandSpecs(out.command) ?? [];
      } else out.positionals.push(token);
      continue;
    }
    if (token === '--') {
      endOfOptions = true;
      continue;
    }
    if (token === '-h' || token === '--help') {
      out.help = true;
      continue;
    }
    let inline: string | undefined;
    if (token.startsWith('--') && token.includes('=')) {
      inline = token.slice(token.indexOf('=') + 1);
      token = token.slice(0, token.indexOf('='));
    }
    const renamed = DEPRECATED_OPTIONS[token];
    if (renamed) {
      out.warnings.push(`Deprecated: Option '${token}' is deprecated. Use '${renamed}' instead.`);
      token = renamed;
    }
    const inCommand = out.command !== undefined;
    let spec = inCommand ? find(specs, token) : find(globalSpecs, token);
    let target = inCommand ? out.options : out.globals;
    if (!spec && inCommand && token.startsWith('--')) {
      spec = find(globalSpecs, token);
      target = out.globals;
    }
    if (!spec) {
      const where = inCommand ? `for "${out.command}"` : 'before the command';
      throw usageError(
        `No such option ${where}: ${token}. Run "flashfarm ${out.command ?? ''}${inCommand ? ' ' : ''}--help" for the options.`,
      );
    }
    const values = target.get(spec.name) ?? [];
    if (spec.kind === 'flag') {
      if (inline !== undefined) throw usageError(`Option --${spec.name} takes no value.`);
      target.set(spec.name, values);
      continue;
    }
    const glued =
      !token.startsWith('--') && token.length > spec.short!.length + 1
        ? token.slice(spec.short!.length + 1)
        : undefined;
    const first = inline ?? glued ?? argv[++i];
    if (
      first === undefined ||
      (inline === undefined && glued === undefined && first.startsWith('-') && !/^-\d/.test(first))
    )
      throw usageError(`Option --${spec.name} requires a value.`);
    values.push(first);
    if (spec.kind === 'eat') {
      while (i + 1 < argv.length && !argv[i + 1].startsWith('-') && !commands.includes(argv[i + 1]))
        values.push(argv[++i]);
    }
    target.set(spec.name, values);
  }
  return out;
}

/** Accepts v4's underscore spelling of a command with esptool's warning. */
function commandName(token: string, commands: readonly string[], warnings: string[]): string {
  if (commands.includes(token)) return token;
  const dashed = token.replace(/_/g, '-');
  if (dashed !== token && commands.includes(dashed)) {
    warnings.push(`Deprecated: Command '${token}' is deprecated. Use '${dashed}' instead.`);
    return dashed;
  }
  return token;
}

/** The last value of an option, if given. */
export function optionValue(options: Map<string, string[]>, name: string): string | undefined {
  const values = options.get(name);
  return values?.[values.length - 1];
}

/** An integer as esptool reads one (Python's int(x, 0): 4096, 0x1000, 0o10, 0b101); throws a usage error naming `what`. */
export function parseInteger(text: string, what: string): number {
  const m = /^([+-])?(0x[0-9a-f_]+|0o[0-7_]+|0b[01_]+|[1-9][0-9_]*|0+)$/i.exec(text.trim());
  if (!m) throw usageError(`${what} "${text}" is not a valid integer (use 4096, 0x1000, 0o10 or 0b101).`);
  const body = m[2].replace(/_/g, '').toLowerCase();
  const value = body.startsWith('0x')
    ? parseInt(body.slice(2), 16)
    : body.startsWith('0o')
      ? parseInt(body.slice(2), 8)
      : body.startsWith('0b')
        ? parseInt(body.slice(2), 2)
        : parseInt(body, 10);
  return m[1] === '-' ? -value : value;
}

/** A size as esptool reads one: an integer, optionally with a k or M suffix (1024, 1024²), or 'all' where allowed. */
export function parseSizeArg(text: string, what: string, allowAll: boolean): number | 'all' {
  if (allowAll && text.toLowerCase() === 'all') return 'all';
  const suffix = text.slice(-1);
  if (suffix === 'k' || suffix === 'M')
    return parseInteger(text.slice(0, -1), what) * (suffix === 'k' ? 1024 : 1024 * 1024);
  return parseInteger(text, what);
}

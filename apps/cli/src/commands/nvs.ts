/**
 * `flashfarm nvs generate <recipe.csv> <out.bin> --size <bytes>` and
 * `flashfarm nvs decode <file.bin>`: ESP-IDF NVS partitions from the NVS CSV
 * (the format of ESP-IDF's nvs_partition_gen.py), and back.
 * Exit codes: 0 done, 2 usage or unreadable file, 3 invalid CSV or partition.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  generateNvsPartition,
  NVS_PAGE_BYTES,
  nvsCsvFiles,
  NvsError,
  nvsRecipeFromCsv,
  type NvsValue,
  parseNvsCsv,
  readNvsPartition,
} from '#esp';
import { type CommandIo, processIo, runCommand } from './context.js';
import { FarmCliError, FarmExitCode } from './exit-codes.js';

/** Usage text of `flashfarm nvs`. */
export const NVS_USAGE = `Usage:
  flashfarm nvs generate <recipe.csv> <out.bin> --size <bytes> [--version 1|2]
  flashfarm nvs decode <file.bin> [--offset <bytes> --size <bytes>] [--json]

generate  builds an ESP-IDF NVS partition from an NVS CSV (key,type,encoding,value;
          the format of ESP-IDF's nvs_partition_gen.py). --size is the partition size
          from the partition table: a multiple of 0x1000, at least 0x3000. Files named by
          "file" rows are read relative to the current directory.
decode    reads a partition (or, with --offset/--size, the partition inside a flash dump),
          checks every CRC and prints its namespaces, keys and values.

Sizes: 0x6000, 24576 or 24k. Exit codes: 0 done, 2 usage or unreadable file, 3 invalid CSV or partition.
`;

/** 0x6000, 24576, 24k. */
function parseBytes(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const m = /^(0x[0-9a-f]+|\d+)(k)?$/i.exec(text.trim());
  if (!m)
    throw new FarmCliError(FarmExitCode.USAGE, `${flag} "${text}" is not a size (use 0x6000, 24576 or 24k).`);
  return Number(m[1]) * (m[2] ? 1024 : 1);
}

async function readInput(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new FarmCliError(FarmExitCode.USAGE, `cannot read ${what} "${path}": ${(error as Error).message}`);
  }
}

/** A value as one line of text. */
function show(value: NvsValue): string {
  switch (value.type) {
    case 'string':
      return JSON.stringify(value.value);
    case 'blob': {
      const hex = Buffer.from(value.value).toString('hex');
      return `${value.value.length} bytes ${hex.length > 64 ? `${hex.slice(0, 64)}…` : hex}`;
    }
    case 'u8':
    case 'i8':
    case 'u16':
    case 'i16':
    case 'u32':
    case 'i32':
    case 'u64':
    case 'i64':
      return String(value.value);
  }
}

/** A value for JSON output: 64-bit integers as decimal strings, blobs as hex. */
function jsonValue(value: NvsValue): string | number {
  if (value.type === 'blob') return Buffer.from(value.value).toString('hex');
  if (typeof value.value === 'bigint') return value.value.toString();
  return value.value;
}

async function generate(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { size: { type: 'string' }, version: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  const [csvPath, outPath, ...extra] = positionals;
  if (!csvPath || !outPath || extra.length > 0) {
    throw new FarmCliError(FarmExitCode.USAGE, `nvs generate takes <recipe.csv> <out.bin>.\n\n${NVS_USAGE}`);
  }
  const sizeBytes = parseBytes(values.size, '--size');
  if (sizeBytes === undefined) {
    throw new FarmCliError(
      FarmExitCode.USAGE,
      'nvs generate needs --size: the nvs partition size in the partition table.',
    );
  }
  if (values.version !== undefined && values.version !== '1' && values.version !== '2') {
    throw new FarmCliError(FarmExitCode.USAGE, `--version "${values.version}": use 1 or 2.`);
  }
  const csv = (await readInput(csvPath, 'the recipe')).toString('utf8');
  const rows = parseNvsCsv(csv);
  const files = new Map<string, Uint8Array>();
  for (const path of nvsCsvFiles(rows))
    files.set(path, await readInput(path, 'the file named in the recipe'));
  const recipe = nvsRecipeFromCsv(rows, { readFile: (path) => files.get(path) });
  const image = generateNvsPartition(recipe, { sizeBytes, version: values.version === '1' ? 1 : 2 });
  const decoded = readNvsPartition(image);
  try {
    await writeFile(outPath, image);
  } catch (error) {
    throw new FarmCliError(FarmExitCode.USAGE, `cannot write "${outPath}": ${(error as Error).message}`);
  }
  const used = decoded.pages.filter((p) => p.state !== 'uninitialized').length;
  io.stdout(
    `${outPath}: 0x${image.length.toString(16)} bytes, ${decoded.namespaces.length} namespaces, ` +
      `${decoded.entries.length} keys, ${used} of ${decoded.pages.length} pages used, ` +
      `sha256 ${createHash('sha256').update(image).digest('hex')}\n`,
  );
  return FarmExitCode.OK;
}

async function decode(argv: string[], io: CommandIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { offset: { type: 'string' }, size: { type: 'string' }, json: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  const [path, ...extra] = positionals;
  if (!path || extra.length > 0)
    throw new FarmCliError(FarmExitCode.USAGE, `nvs decode takes <file.bin>.\n\n${NVS_USAGE}`);
  const file = await readInput(path, 'the partition');
  const offset = parseBytes(values.offset, '--offset') ?? 0;
  const size = parseBytes(values.size, '--size') ?? file.length - offset;
  if (offset + size > file.length || size < 0) {
    throw new FarmCliError(
      FarmExitCode.USAGE,
      `"${path}" has ${file.length} bytes; --offset 0x${offset.toString(16)} --size 0x${size.toString(16)} reaches past its end.`,
    );
  }
  const decoded = readNvsPartition(new Uint8Array(file.buffer, file.byteOffset + offset, size));
  if (values.json) {
    io.stdout(
      `${JSON.stringify(
        {
          version: decoded.version,
          pages: decoded.pages,
          namespaces: decoded.namespaces.map((ns) => ({
            name: ns.name,
            entries: ns.entries.map((e) => ({ key: e.key, type: e.value.type, value: jsonValue(e.value) })),
          })),
        },
        null,
        2,
      )}\n`,
    );
    return FarmExitCode.OK;
  }
  const lines = [
    `NVS version ${decoded.version ?? '-'}, ${size / NVS_PAGE_BYTES} pages: ${decoded.pages.map((p) => p.state).join(', ')}`,
  ];
  for (const ns of decoded.namespaces) {
    lines.push(`[${ns.name}]`);
    const width = Math.max(0, ...ns.entries.map((e) => e.key.length));
    for (const e of ns.entries)
      lines.push(`  ${e.key.padEnd(width)}  ${e.value.type.padEnd(6)}  ${show(e.value)}`);
  }
  io.stdout(`${lines.join('\n')}\n`);
  return FarmExitCode.OK;
}

/** Runs `flashfarm nvs …` and returns the exit code. */
export function runNvsCommand(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(io, async () => {
    const [sub, ...rest] = argv;
    try {
      switch (sub) {
        case 'generate':
          return await generate(rest, io);
        case 'decode':
          return await decode(rest, io);
        case undefined:
        case 'help':
        case '--help':
        case '-h':
          io.stdout(NVS_USAGE);
          return sub ? FarmExitCode.OK : FarmExitCode.USAGE;
        default:
          throw new FarmCliError(FarmExitCode.USAGE, `unknown nvs command "${sub}".\n\n${NVS_USAGE}`);
      }
    } catch (error) {
      if (error instanceof NvsError) {
        throw new FarmCliError(
          FarmExitCode.FIRMWARE_REJECTED,
          `${error.message} [${error.problem}]`,
          error.problem,
        );
      }
      // node:util parseArgs rejects unknown or malformed options with ERR_PARSE_ARGS_* codes.
      const code = (error as { code?: unknown } | null)?.code;
      if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) {
        throw new FarmCliError(FarmExitCode.USAGE, (error as Error).message);
      }
      throw error;
    }
  });
}

/** `flashfarm nvs …` with the real process's output (the entry the command router registers). */
export function runNvsCli(argv: string[]): Promise<number> {
  return runNvsCommand(argv, processIo());
}

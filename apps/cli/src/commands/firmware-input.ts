/**
 * What `flashfarm submit` uploads: a merged image, part files with offsets
 * (esptool's `0x1000 bootloader.bin 0x8000 partition-table.bin ...` order, or
 * `file@0x10000`), or an ESP-IDF build directory holding flasher_args.json.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ImageError, parseFlasherArgs } from '#esp';
import { FarmCliError, FarmExitCode } from './exit-codes.js';

/** One file to upload. */
export interface UploadPart {
  /** Undefined for a merged image (the api splits it along its partition table). */
  offset?: number;
  fileName: string;
  data: Uint8Array;
}

/** Resolved upload: the parts and what the build said about itself. */
export interface FirmwareInput {
  parts: UploadPart[];
  chip?: string;
  /** Human description for the console. */
  describe: string;
}

const OFFSET_RE = /^(0x[0-9a-f]+|\d+)$/i;

function usage(message: string): FarmCliError {
  return new FarmCliError(FarmExitCode.USAGE, message);
}

async function readFile(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await fs.readFile(file));
  } catch (error) {
    throw usage(`Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** Turns the positional arguments of submit into the files to upload. */
export async function resolveFirmwareInput(args: readonly string[]): Promise<FirmwareInput> {
  if (args.length === 0)
    throw usage(
      'submit needs firmware: an image file, "<offset> <file>" pairs, or an ESP-IDF build directory.',
    );
  if (args.length === 1 && !args[0].includes('@')) {
    const stat = await fs.stat(args[0]).catch(() => undefined);
    if (!stat) throw usage(`${args[0]} does not exist.`);
    if (stat.isDirectory()) return buildDirectory(args[0]);
    return {
      parts: [{ fileName: path.basename(args[0]), data: await readFile(args[0]) }],
      describe: `merged image ${args[0]}`,
    };
  }
  const parts: UploadPart[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    let offsetText: string;
    let file: string;
    const at = arg.lastIndexOf('@');
    if (at > 0 && OFFSET_RE.test(arg.slice(at + 1))) {
      file = arg.slice(0, at);
      offsetText = arg.slice(at + 1);
    } else if (OFFSET_RE.test(arg) && i + 1 < args.length) {
      offsetText = arg;
      file = args[++i];
    } else {
      throw usage(`"${arg}" is neither "<offset> <file>" nor "<file>@<offset>".`);
    }
    parts.push({ offset: Number(offsetText), fileName: path.basename(file), data: await readFile(file) });
  }
  uniqueNames(parts);
  return {
    parts,
    describe: parts.map((p) => `0x${(p.offset ?? 0).toString(16)} ${p.fileName}`).join(', '),
  };
}

async function buildDirectory(dir: string): Promise<FirmwareInput> {
  const argsFile = path.join(dir, 'flasher_args.json');
  let json: unknown;
  try {
    json = JSON.parse(await fs.readFile(argsFile, 'utf8'));
  } catch (error) {
    throw usage(
      `${dir} is a directory but ${argsFile} is missing or not JSON (${error instanceof Error ? error.message : String(error)}); pass the ESP-IDF build directory.`,
    );
  }
  let args: ReturnType<typeof parseFlasherArgs>;
  try {
    args = parseFlasherArgs(json);
  } catch (error) {
    if (error instanceof ImageError)
      throw new FarmCliError(FarmExitCode.FIRMWARE_REJECTED, `${argsFile}: ${error.message}`);
    throw error;
  }
  const parts: UploadPart[] = [];
  for (const file of args.files)
    parts.push({
      offset: file.offset,
      fileName: path.posix.basename(file.path),
      data: await readFile(path.join(dir, ...file.path.split('/'))),
    });
  uniqueNames(parts);
  return { parts, chip: args.chip, describe: `ESP-IDF build ${dir} (${parts.length} parts)` };
}

/** The api places parts by file name, so two parts may not share one. */
function uniqueNames(parts: UploadPart[]): void {
  const seen = new Map<string, number>();
  for (const part of parts) {
    const n = seen.get(part.fileName) ?? 0;
    seen.set(part.fileName, n + 1);
    if (n > 0) part.fileName = `${n}-${part.fileName}`;
  }
}

/** The multipart form POST /firmware expects for these parts. */
export function firmwareForm(
  input: FirmwareInput,
  meta: { name?: string; version?: string; chip?: string },
): FormData {
  const form = new FormData();
  // Copy into a plain ArrayBuffer: Blob refuses views over SharedArrayBuffer-typed buffers.
  const blob = (data: Uint8Array) => new Blob([new Uint8Array(data)], { type: 'application/octet-stream' });
  if (input.parts.length === 1 && input.parts[0].offset === undefined) {
    form.append('file', blob(input.parts[0].data), input.parts[0].fileName);
  } else {
    for (const part of input.parts) form.append('files', blob(part.data), part.fileName);
    form.append(
      'parts',
      JSON.stringify(
        input.parts.map((p) => ({ offset: `0x${(p.offset ?? 0).toString(16)}`, file: p.fileName })),
      ),
    );
  }
  const chip = meta.chip ?? input.chip;
  if (meta.name) form.append('name', meta.name);
  if (meta.version) form.append('version', meta.version);
  if (chip) form.append('chip', chip);
  return form;
}

/**
 * Commands on files only — no board: merge-bin, image-info, elf2image. The
 * work is done by the pure image tools of libs/esp; this file reads the
 * arguments and files, prints what esptool prints, and writes the outputs.
 */
import { dirname, extname, join, basename } from 'node:path';
import {
  checkFlashSettingNames,
  decodeIntelHex,
  elf2image,
  flashSizeBytes,
  formatImageInfo,
  formatMergedImageInfo,
  getTarget,
  looksLikeIntelHex,
  mergeBin,
} from '#esp';
import { optionValue, parseInteger, usageError } from './args.js';
import { CHIP_CHOICES, type EsptoolContext, readInput, writeOutput } from './context.js';
import { readAddressFilePairs } from './inputs.js';

function requireChip(ctx: EsptoolContext) {
  if (!ctx.globals.chip)
    throw usageError(`Specify the --chip argument (choose from ${CHIP_CHOICES.join(', ')}).`);
  return getTarget(ctx.globals.chip);
}

/** merge-bin -o OUTPUT ADDRESS FILE [ADDRESS FILE …] */
export async function mergeBinCommand(ctx: EsptoolContext): Promise<number> {
  const target = requireChip(ctx);
  const output = optionValue(ctx.options, 'output');
  if (!output)
    throw usageError("merge-bin needs an output file: -o merged.bin (Missing option '--output' / '-o').");
  const format = optionValue(ctx.options, 'format') ?? 'raw';
  if (format === 'uf2')
    throw usageError('UF2 output is not supported here; use --format raw or --format hex.');
  if (format !== 'raw' && format !== 'hex')
    throw usageError(`Invalid value for '--format': '${format}' is not one of 'raw', 'uf2', 'hex'.`);
  const flash = {
    mode: optionValue(ctx.options, 'flash-mode'),
    freq: optionValue(ctx.options, 'flash-freq'),
    size: optionValue(ctx.options, 'flash-size'),
  };
  checkFlashSettingNames(flash, { allowKeep: true });
  const padToSize = optionValue(ctx.options, 'pad-to-size');
  const pads = ['256KB', '512KB', '1MB', '2MB', '4MB', '8MB', '16MB', '32MB', '64MB', '128MB'];
  if (padToSize !== undefined && !pads.includes(padToSize))
    throw usageError(
      `Invalid value for '--pad-to-size': '${padToSize}' is not one of ${pads.map((p) => `'${p}'`).join(', ')}.`,
    );
  const targetText = optionValue(ctx.options, 'target-offset');
  const targetOffset = targetText === undefined ? 0 : parseInteger(targetText, 'Target offset');
  const parts = await readAddressFilePairs(ctx, ctx.positionals, 'merge-bin');
  if (format === 'hex' && parts.length === 1)
    ctx.out.write(
      'Warning: Only one input file specified, output may include additional padding if input file was previously merged.\n',
    );
  const { data, messages } = mergeBin({ target, parts, flash, targetOffset, padToSize, format });
  for (const m of messages) ctx.out.write(`${m}\n`);
  await writeOutput(ctx, output, data);
  ctx.out.write(
    `Wrote 0x${data.length.toString(16)} bytes to file '${output}', ready to flash to offset 0x${targetOffset.toString(16)}.\n`,
  );
  return 0;
}

/** image-info FILE (a binary image, or an Intel HEX file with several). */
export async function imageInfoCommand(ctx: EsptoolContext): Promise<number> {
  if (ctx.positionals.length !== 1)
    throw usageError('image-info needs one FILE, e.g. image-info build/app.bin.');
  const data = await readInput(ctx, ctx.positionals[0]);
  const chip = ctx.globals.chip;
  const regions = looksLikeIntelHex(data) ? tryHex(data) : undefined;
  if (regions && regions.length > 1) {
    const { lines, errors } = formatMergedImageInfo(regions, { chip });
    ctx.out.write(`${lines.join('\n')}\n`);
    for (const e of errors) ctx.err.write(`${e}\n`);
    return 0;
  }
  const image = regions?.[0]?.data ?? data;
  ctx.out.write(`${formatImageInfo(image, { chip }).join('\n')}\n`);
  return 0;
}

function tryHex(data: Uint8Array) {
  try {
    return decodeIntelHex(new TextDecoder('latin1').decode(data));
  } catch {
    return undefined;
  }
}

const MMU_PAGE_SIZES: Readonly<Record<string, number>> = {
  '64KB': 0x10000,
  '32KB': 0x8000,
  '16KB': 0x4000,
  '8KB': 0x2000,
};

function intOption(ctx: EsptoolContext, name: string, min: number, max: number): number | undefined {
  const text = optionValue(ctx.options, name);
  if (text === undefined) return undefined;
  const n = parseInteger(text, `--${name}`);
  if (n < min || n > max)
    throw usageError(`Invalid value for '--${name}': ${n} is not in the range ${min}<=x<=${max}.`);
  return n;
}

/** elf2image ELF [-o OUTPUT] */
export async function elf2imageCommand(ctx: EsptoolContext): Promise<number> {
  const target = requireChip(ctx);
  if (ctx.positionals.length !== 1)
    throw usageError('elf2image needs one ELF file, e.g. elf2image build/app.elf.');
  const o = ctx.options;
  for (const unsupported of ['secure-pad', 'secure-pad-v2', 'ram-only-header'])
    if (o.has(unsupported))
      throw usageError(
        `--${unsupported} is not supported here; use esptool for Secure Boot padding and RAM-only headers.`,
      );
  const version = optionValue(o, 'version') ?? '1';
  if (!['1', '2', '3'].includes(version))
    throw usageError(`Invalid value for '--version' / '-e': '${version}' is not one of '1', '2', '3'.`);
  if (target.name === 'esp8266' && version !== '1')
    throw usageError(
      `ESP8266 image version ${version} is not supported here; only version 1 (the ROM-loaded image) is.`,
    );
  const flash = {
    mode: optionValue(o, 'flash-mode'),
    freq: optionValue(o, 'flash-freq'),
    size: optionValue(o, 'flash-size'),
  };
  checkFlashSettingNames(flash, { allowKeep: false });
  const mmuText = optionValue(o, 'flash-mmu-page-size');
  if (mmuText !== undefined && !(mmuText in MMU_PAGE_SIZES))
    throw usageError(
      `Invalid value for '--flash-mmu-page-size': '${mmuText}' is not one of '64KB', '32KB', '16KB', '8KB'.`,
    );
  const padText = optionValue(o, 'pad-to-size');
  const padToSize = padText === undefined ? undefined : flashSizeBytes(padText.toUpperCase());
  if (padText !== undefined && padToSize === undefined)
    throw usageError(`--pad-to-size "${padText}" is not a size such as 4MB or 64KB.`);
  const elfOffset = optionValue(o, 'elf-sha256-offset');
  const input = ctx.positionals[0];
  const result = elf2image(await readInput(ctx, input), {
    chip: target.name,
    flashMode: flash.mode,
    flashFreq: flash.freq,
    flashSize: flash.size,
    minRev: intOption(ctx, 'min-rev', 0, 256),
    minRevFull: intOption(ctx, 'min-rev-full', 0, 65536),
    maxRevFull: intOption(ctx, 'max-rev-full', 0, 65536),
    appendDigest: !o.has('dont-append-digest'),
    useSegments: o.has('use-segments'),
    elfSha256Offset: elfOffset === undefined ? undefined : parseInteger(elfOffset, '--elf-sha256-offset'),
    mmuPageSize: mmuText === undefined ? undefined : MMU_PAGE_SIZES[mmuText],
    padToSize,
    name: basename(input),
  });
  for (const note of result.notes) ctx.out.write(`${note}\n`);
  const output = optionValue(o, 'output');
  if (target.name === 'esp8266') {
    // esptool's v1 naming: a prefix (default "<elf>-") followed by each file's flash offset.
    const prefix = output ?? `${input}-`;
    await writeOutput(ctx, `${prefix}0x00000.bin`, result.image);
    if (result.irom)
      await writeOutput(
        ctx,
        `${prefix}0x${result.irom.offset.toString(16).padStart(5, '0')}.bin`,
        result.irom.data,
      );
  } else {
    await writeOutput(
      ctx,
      output ?? join(dirname(input), `${basename(input, extname(input))}.bin`),
      result.image,
    );
  }
  return 0;
}

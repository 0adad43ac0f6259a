/**
 * The flash commands: write-flash, verify-flash, read-flash, erase-flash,
 * erase-region. Everything that can be checked without the board (files,
 * addresses, alignment, flash settings, sizes against an explicit
 * --flash-size, images for another --chip) is checked before the port is
 * opened; the rest (detected flash size, the chip's own tables) right after
 * connecting, before any flash is touched.
 */
import {
  checkFlashRange,
  checkFlashSettingNames,
  checkFlashSettingsForChip,
  EspError,
  esp32FamilyImageChip,
  eraseFlash,
  flash,
  type FlashResult,
  flashSizeBytes,
  flashSizeName,
  getTarget,
  md5Hex,
  padTo4,
  readFlash,
  runSession,
  type SessionOptions,
  type Transport,
  updateImageFlashParams,
} from '#esp';
import { optionValue, parseInteger, parseSizeArg, usageError } from './args.js';
import { type EsptoolContext, sessionOptions, writeOutput } from './context.js';
import { checkWordAligned, type InputPart, readAddressFilePairs } from './inputs.js';
import { withBoard } from './ports.js';
import { afterMessage, hex8, onBoard, printChip } from './session.js';

function flashSettings(ctx: EsptoolContext): { mode?: string; freq?: string; size?: string } {
  const settings = {
    mode: optionValue(ctx.options, 'flash-mode'),
    freq: optionValue(ctx.options, 'flash-freq'),
    size: optionValue(ctx.options, 'flash-size'),
  };
  checkFlashSettingNames(settings, { allowKeep: true, allowDetect: true });
  if (ctx.globals.chip) checkFlashSettingsForChip(getTarget(ctx.globals.chip), settings);
  return settings;
}

/** Refuses, before connecting, parts that cannot fit an explicit --flash-size or are built for another --chip. */
function precheckParts(ctx: EsptoolContext, parts: readonly InputPart[], size: string | undefined): void {
  const limit = size && size !== 'keep' && size !== 'detect' ? flashSizeBytes(size) : undefined;
  for (const p of parts) {
    if (limit !== undefined && p.offset + p.data.length > limit)
      throw new EspError(
        `File '${p.name}' (length ${p.data.length}) at offset ${hex8(p.offset)} will not fit in ${limit} bytes (${size}) of flash. Change the --flash-size argument or the flashing address.`,
        { code: 'IMAGE_TOO_BIG', stage: 'image' },
      );
    const built = ctx.globals.chip && !ctx.options.has('force') ? esp32FamilyImageChip(p.data) : undefined;
    if (built && built.name !== ctx.globals.chip) {
      const target = getTarget(ctx.globals.chip!);
      throw new EspError(
        `'${p.name}' is an ${built.displayName} image, not an ${target.displayName} image. Build it for ${target.displayName}, use --chip ${built.name} with an ${built.displayName} board, or pass --force to write it anyway.`,
        { code: 'CHIP_MISMATCH', stage: 'image' },
      );
    }
  }
}

/** write-flash ADDRESS FILE [ADDRESS FILE …] */
export async function writeFlashCommand(ctx: EsptoolContext): Promise<number> {
  const o = ctx.options;
  if (o.has('compress') && o.has('no-compress'))
    throw usageError('Illegal usage: --compress is mutually exclusive with arguments: --no-compress.');
  const settings = flashSettings(ctx);
  const all = await readAddressFilePairs(ctx, ctx.positionals, 'write-flash');
  const parts = all.filter((p) => {
    if (p.data.length > 0) return true;
    ctx.out.write(`Warning: '${p.name}' is empty.\n`);
    return false;
  });
  if (parts.length === 0) throw usageError('Nothing to write: every input file is empty.');
  checkWordAligned(parts);
  precheckParts(ctx, parts, settings.size);
  if (o.has('verify')) ctx.out.write('Note: --verify has no effect: every write is verified by MD5.\n');
  const started = Date.now();
  const result = await withBoard(ctx, async (transport, port) => {
    const r = await flash(
      transport,
      parts.map((p) => ({ offset: p.offset, data: p.data, name: p.name })),
      {
        ...sessionOptions(ctx, port),
        verify: true,
        skipUnchanged: o.has('skip-flashed') || o.has('skip-unchanged'),
        // --skip-flashed skips whole files as esptool does; --skip-unchanged also rewrites only the changed sectors.
        chunkDiff: o.has('skip-unchanged'),
        eraseAll: o.has('erase-all'),
        compress: o.has('no-compress') ? false : undefined,
        flashMode: settings.mode,
        flashFreq: settings.freq,
        flashSize: settings.size,
        force: o.has('force'),
      },
    );
    printChip(ctx, r.chip, port);
    return r;
  });
  renderWriteResult(ctx, result, Date.now() - started);
  return 0;
}

function renderWriteResult(ctx: EsptoolContext, result: FlashResult, ms: number): void {
  if (ctx.options.has('json')) {
    ctx.out.write(`${JSON.stringify(result)}\n`);
    return;
  }
  for (const r of result.regions) {
    const source = r.name ? `'${r.name}'` : 'Input bytes';
    if (r.status === 'skipped')
      ctx.out.write(`${source} at ${hex8(r.offset)} already in flash, skipping write.\n`);
    else if (r.status === 'partial')
      ctx.out.write(
        `Rewrote ${r.bytesWritten} changed bytes of ${r.size} at ${hex8(r.offset)}.\nHash of data verified.\n`,
      );
    else ctx.out.write(`Wrote ${r.size} bytes at ${hex8(r.offset)}.\nHash of data verified.\n`);
  }
  const fallback = result.baudFallbacks.length ? ` (fell back from ${result.baudFallbacks.join(', ')})` : '';
  ctx.out.write(
    `Wrote ${result.bytesWritten} bytes, skipped ${result.bytesSkipped}, in ${(ms / 1000).toFixed(1)} seconds at ${result.baud} baud${fallback}.\n`,
  );
  ctx.out.write(`\n${afterMessage(ctx.globals.after)}\n`);
}

/** verify-flash ADDRESS FILE [ADDRESS FILE …] */
export async function verifyFlashCommand(ctx: EsptoolContext): Promise<number> {
  const settings = flashSettings(ctx);
  const parts = await readAddressFilePairs(ctx, ctx.positionals, 'verify-flash');
  checkWordAligned(parts);
  precheckParts(ctx, parts, settings.size);
  const diff = ctx.options.has('diff');
  const failed = await onBoard(ctx, async (p) => {
    let mismatch = false;
    const size = settings.size === 'detect' ? flashSizeName(p.flashSizeBytes) : settings.size;
    for (const part of parts) {
      const update = updateImageFlashParams(
        p.session.target,
        part.offset,
        { ...settings, size },
        padTo4(part.data),
      );
      if (update.warning) ctx.out.write(`Warning: ${update.warning}\n`);
      const image = update.data;
      checkFlashRange(p, part.offset, image.length, 'verify');
      ctx.out.write(
        `Verifying 0x${image.length.toString(16)} (${image.length}) bytes at ${hex8(part.offset)} in flash against '${part.name}'...\n`,
      );
      const remote = p.session.canMd5
        ? await p.session.flashMd5(part.offset, image.length, 'verify')
        : md5Hex(await p.session.readFlash(part.offset, image.length));
      if (remote === md5Hex(image)) {
        ctx.out.write('Verification successful (digest matched).\n');
        continue;
      }
      mismatch = true;
      if (!diff) {
        ctx.out.write('Verification failed (digest mismatch).\n');
        continue;
      }
      const flashed = await p.session.readFlash(part.offset, image.length);
      const differences = Array.from(image.keys()).filter((i) => flashed[i] !== image[i]);
      ctx.out.write(
        `Verification failed: ${differences.length} differences, first at ${hex8(part.offset + differences[0])}:\n`,
      );
      for (const i of differences)
        ctx.out.write(
          `   ${hex8(part.offset + i)} ${flashed[i].toString(16).padStart(2, '0')} ${image[i].toString(16).padStart(2, '0')}\n`,
        );
    }
    return mismatch;
  });
  if (failed)
    throw new EspError(
      'Verification failed: the flash does not hold these files. Write them again (write-flash), then verify.',
      {
        code: 'DIGEST_MISMATCH',
        stage: 'verify',
      },
    );
  return 0;
}

/** read-flash ADDRESS SIZE|all OUTPUT */
export async function readFlashCommand(ctx: EsptoolContext): Promise<number> {
  const [addressText, sizeText, output] = ctx.positionals;
  if (output === undefined || ctx.positionals.length !== 3)
    throw usageError(
      'read-flash needs ADDRESS SIZE OUTPUT, e.g. read-flash 0 4M backup.bin (SIZE may be "all").',
    );
  const address = parseInteger(addressText, 'Address');
  const size = parseSizeArg(sizeText, 'Size', true);
  if (size !== 'all' && size <= 0) throw usageError(`Size "${sizeText}" must be at least 1 byte.`);
  const started = Date.now();
  const data = await withBoard(ctx, (transport, port) =>
    readFlash(transport, address, size, sessionOptions(ctx, port)),
  );
  const seconds = (Date.now() - started) / 1000;
  await writeOutput(ctx, output, data);
  ctx.out.write(
    `Read ${data.length} bytes from ${hex8(address)} in ${seconds.toFixed(1)} seconds (${((data.length * 8) / 1000 / Math.max(seconds, 0.001)).toFixed(1)} kbit/s) to '${output}'.\n`,
  );
  ctx.out.write(`\n${afterMessage(ctx.globals.after)}\n`);
  return 0;
}

/** erase-flash */
export async function eraseFlashCommand(ctx: EsptoolContext): Promise<number> {
  if (ctx.positionals.length)
    throw usageError(
      `erase-flash takes no arguments (got "${ctx.positionals.join(' ')}"); to erase a part, use erase-region ADDRESS SIZE.`,
    );
  const started = Date.now();
  await withBoard(ctx, (transport, port) => eraseFlash(transport, sessionOptions(ctx, port)));
  ctx.out.write(
    `Flash memory erased successfully in ${((Date.now() - started) / 1000).toFixed(1)} seconds.\n`,
  );
  ctx.out.write(`\n${afterMessage(ctx.globals.after)}\n`);
  return 0;
}

/** erase-region ADDRESS SIZE|all */
export async function eraseRegionCommand(ctx: EsptoolContext): Promise<number> {
  const [addressText, sizeText] = ctx.positionals;
  if (sizeText === undefined || ctx.positionals.length !== 2)
    throw usageError(
      'erase-region needs ADDRESS SIZE, e.g. erase-region 0x9000 0x6000 (both multiples of 4096).',
    );
  const address = parseInteger(addressText, 'Address');
  const size = parseSizeArg(sizeText, 'Size', true);
  if (address % 4096 !== 0) throw usageError('Offset to erase from must be a multiple of 4096.');
  if (size !== 'all' && size % 4096 !== 0)
    throw usageError('Size of data to erase must be a multiple of 4096.');
  const started = Date.now();
  await withBoard(ctx, async (transport, port) => {
    const options = sessionOptions(ctx, port);
    if (size !== 'all') return eraseFlash(transport, { ...options, regions: [{ offset: address, size }] });
    // "all" is the whole detected flash (so only from address 0), as in esptool.
    return onBoardErase(transport, options, address);
  });
  ctx.out.write(
    `Flash memory region erased successfully in ${((Date.now() - started) / 1000).toFixed(1)} seconds.\n`,
  );
  ctx.out.write(`\n${afterMessage(ctx.globals.after)}\n`);
  return 0;
}

async function onBoardErase(transport: Transport, options: SessionOptions, address: number): Promise<void> {
  await runSession(transport, options, options.after ?? 'hard-reset', (run) =>
    run.withRecovery(async (p) => {
      checkFlashRange(p, address, p.flashSizeBytes, 'erase');
      for (let offset = address; offset < p.flashSizeBytes; offset += 0x100000)
        await p.session.eraseRegion(offset, Math.min(0x100000, p.flashSizeBytes - offset));
    }),
  );
}

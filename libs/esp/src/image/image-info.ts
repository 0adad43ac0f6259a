/**
 * `image-info`: the report esptool v5 prints for a firmware image — header,
 * extended header, segments with their memory types, checksum, validation
 * hash, and the ESP-IDF application or bootloader description — line for
 * line, so scripts that read esptool's output read ours. Pure: bytes in,
 * lines out (warnings are lines starting "Warning: ", as esptool prints them
 * on stdout).
 */
import { CHIP_TARGETS, findTarget } from '../targets/registry.js';
import { FLASH_MODES } from '../targets/flash-tables.js';
import type { ChipName, ChipTarget } from '../targets/types.js';
import { toHex } from './digest.js';
import type { HexRegion } from './intel-hex.js';
import { loadedChecksum, loadImage, type LoadedImage } from './loaded-image.js';
import { memoryTypesAt } from './memory-types.js';
import { IMAGE_MAGIC, IMAGE_MAGIC_ESP8266_V2, WP_PIN_DISABLED } from './parser.js';
import { hex, ImageError } from './problems.js';

const hexPad = (value: number, width: number): string => `0x${value.toString(16).padStart(width - 2, '0')}`;

/** Python's `{:#Nx}` (pad with spaces to N characters, prefix included). */
const hexSpace = (value: number, width: number): string => `0x${value.toString(16)}`.padStart(width);

function title(lines: string[], text: string): void {
  lines.push(text, '='.repeat(text.length));
}

/** Decodes a C char field as esptool does: the whole field as UTF-8, NUL characters removed. */
function sanitize(bytes: Uint8Array): string {
  return new TextDecoder('utf-8').decode(bytes).replace(/\0/g, '');
}

const revision = (full: number): string => `${Math.floor(full / 100)}.${full % 100}`;

/**
 * The chip an image is for, as esptool's image-info guesses it: the chip id
 * byte of the extended header when the append-digest byte is 0 or 1 and the
 * id is known, else ESP8266. Throws for data without an image magic.
 */
export function detectImageChip(data: Uint8Array): ChipName {
  if (data.length === 0) throw new ImageError('NOT_AN_IMAGE', 'Image is empty.');
  if (data[0] !== IMAGE_MAGIC && data[0] !== IMAGE_MAGIC_ESP8266_V2)
    throw new ImageError(
      'NOT_AN_IMAGE',
      `This is not a valid image (invalid magic number: ${hex(data[0])}).`,
    );
  // esptool reads one byte of the chip id (offset 12) here.
  const digestByte = data[23];
  if (data.length >= 24 && digestByte <= 1) {
    const target = CHIP_TARGETS.find((t) => t.imageChipId !== undefined && t.imageChipId === data[12]);
    if (target) return target.name;
  }
  return 'esp8266';
}

function appDescriptionLines(lines: string[], seg: Uint8Array): void {
  if (seg.length < 256) return;
  const view = new DataView(seg.buffer, seg.byteOffset, 256);
  if (view.getUint32(0, true) !== 0xabcd5432) return;
  const mmu = seg[180];
  lines.push('');
  title(lines, 'Application Information');
  lines.push(`Project name: ${sanitize(seg.subarray(48, 80))}`);
  lines.push(`App version: ${sanitize(seg.subarray(16, 48))}`);
  lines.push(`Compile time: ${sanitize(seg.subarray(96, 112))} ${sanitize(seg.subarray(80, 96))}`);
  lines.push(`ELF file SHA256: ${toHex(seg.subarray(144, 176))}`);
  lines.push(`ESP-IDF: ${sanitize(seg.subarray(112, 144))}`);
  lines.push(`Minimal eFuse block revision: ${revision(view.getUint16(176, true))}`);
  lines.push(`Maximal eFuse block revision: ${revision(view.getUint16(178, true))}`);
  if (mmu !== 0) lines.push(`MMU page size: ${Math.floor(2 ** mmu / 1024)} KB`);
  lines.push(`Secure version: ${view.getUint32(4, true)}`);
}

function bootloaderDescriptionLines(lines: string[], seg: Uint8Array): void {
  if (seg[0] !== 0x50) return;
  lines.push('');
  title(lines, 'Bootloader Information');
  lines.push(`Bootloader version: ${new DataView(seg.buffer, seg.byteOffset + 4, 4).getUint32(0, true)}`);
  lines.push(`ESP-IDF: ${sanitize(seg.subarray(8, 40))}`);
  lines.push(`Compile time: ${sanitize(seg.subarray(40, 64))}`);
}

function keyOf(table: Readonly<Record<string, number>>, code: number): string | undefined {
  return Object.entries(table).find(([, c]) => c === code)?.[0];
}

function imageLines(target: ChipTarget, data: Uint8Array, lines: string[]): void {
  const esp8266 = target.name === 'esp8266';
  const image: LoadedImage = loadImage(data, { esp8266 });
  const ext = image.extended;
  if (ext && ext.chipId !== target.imageChipId)
    lines.push(
      `Warning: Unexpected chip ID in image. Expected ${target.imageChipId} but value was ${ext.chipId}. Is this image for a different chip model?`,
    );
  lines.push('');
  title(lines, `${target.displayName} Image Header`);
  lines.push(`Image version: ${image.version}`);
  lines.push(image.entry !== 0 ? `Entry point: ${hexSpace(image.entry, 8)}` : 'Entry point not set');
  lines.push(`Segments: ${image.segments.length}`);
  const sizeBits = image.flashSizeFreq & 0xf0;
  const size = keyOf(target.flashSizes, sizeBits >> 4);
  lines.push(size !== undefined ? `Flash size: ${size}` : `Warning: Invalid flash size (${hex(sizeBits)})`);
  const freqBits = image.flashSizeFreq & 0x0f;
  const freq = keyOf(target.flashFrequencies, freqBits);
  lines.push(
    freq !== undefined ? `Flash freq: ${freq}` : `Warning: Invalid flash frequency (${hex(freqBits)})`,
  );
  const mode = keyOf(FLASH_MODES, image.flashMode);
  lines.push(
    mode !== undefined
      ? `Flash mode: ${mode.toUpperCase()}`
      : `Warning: Invalid flash mode (${image.flashMode})`,
  );
  if (ext) {
    lines.push('');
    title(lines, `${target.displayName} Extended Image Header`);
    lines.push(`WP pin: ${hex(ext.wpPin)}${ext.wpPin === WP_PIN_DISABLED ? ' (disabled)' : ''}`);
    lines.push(
      `Flash pins drive settings: clk_drv: ${hex(ext.clkDrv)}, q_drv: ${hex(ext.qDrv)}, d_drv: ${hex(ext.dDrv)}, cs0_drv: ${hex(ext.csDrv)}, hd_drv: ${hex(ext.hdDrv)}, wp_drv: ${hex(ext.wpDrv)}`,
    );
    const named = CHIP_TARGETS.find((t) => t.imageChipId === ext.chipId);
    lines.push(`Chip ID: ${ext.chipId} (${named ? named.displayName : 'Unknown ID'})`);
    lines.push(`Minimal chip revision: v${revision(ext.minRevFull)}, (legacy min_rev = ${ext.minRev})`);
    lines.push(`Maximal chip revision: v${revision(ext.maxRevFull)}`);
  }
  lines.push('');
  title(lines, 'Segments Information');
  lines.push('Segment   Length   Load addr   File offs  Memory types');
  lines.push(`${'-'.repeat(7)}  ${'-'.repeat(7)}  ${'-'.repeat(10)}  ${'-'.repeat(10)}  ${'-'.repeat(12)}`);
  let appDesc: Uint8Array | undefined;
  let bootDesc: Uint8Array | undefined;
  image.segments.forEach((seg, index) => {
    const types = memoryTypesAt(target.name, seg.loadAddress);
    if (types.includes('DROM') && appDesc === undefined) appDesc = seg.data;
    else if (types.includes('DRAM') && seg.data.length >= 80) bootDesc = seg.data;
    lines.push(
      `${String(index).padStart(7)}  ${hexPad(seg.data.length, 7)}  ${hexPad(seg.loadAddress, 10)}  ${hexPad(seg.fileOffset, 10)}  ${types.join(', ')}`,
    );
  });
  lines.push('');
  title(lines, `${target.displayName} Image Footer`);
  const computed = loadedChecksum(image);
  lines.push(
    `Checksum: ${hexPad(image.checksum, 4)} (${image.checksum === computed ? 'valid' : `invalid - calculated ${hexPad(computed, 4)}`})`,
  );
  if (image.storedDigest && image.computedDigest) {
    const valid = toHex(image.storedDigest) === toHex(image.computedDigest);
    lines.push(`Validation hash: ${toHex(image.computedDigest)} (${valid ? 'valid' : 'invalid'})`);
  }
  if (appDesc) appDescriptionLines(lines, appDesc);
  else if (bootDesc) bootloaderDescriptionLines(lines, bootDesc);
}

/**
 * The report for one image (esptool `image-info FILE`). `chip` forces the
 * chip as `--chip` does; otherwise it is detected from the header. Throws
 * ImageError for data esptool refuses (no magic, truncated segments, …).
 */
export function formatImageInfo(data: Uint8Array, options: { chip?: ChipName } = {}): string[] {
  const detected = options.chip ?? detectImageChip(data);
  if (options.chip && data[0] !== IMAGE_MAGIC && data[0] !== IMAGE_MAGIC_ESP8266_V2)
    throw new ImageError(
      'NOT_AN_IMAGE',
      `This is not a valid image (invalid magic number: ${hex(data[0] ?? 0)}).`,
    );
  const target = findTarget(detected)!;
  const lines = [`Image size: ${data.length} bytes`];
  if (!options.chip) lines.push(`Detected image type: ${target.displayName}`);
  imageLines(target, data, lines);
  return lines;
}

/**
 * The report for a merged Intel HEX input, one section per contiguous region,
 * as esptool prints it; a region that is no image (a partition table) gets
 * an error line and is skipped. Errors are returned separately because
 * esptool prints them on stderr.
 */
export function formatMergedImageInfo(
  regions: readonly HexRegion[],
  options: { chip?: ChipName } = {},
): { lines: string[]; errors: string[] } {
  const lines = ['Merged binary image detected. Processing each file individually.'];
  const errors: string[] = [];
  let chip = options.chip;
  regions.forEach((region, i) => {
    const head = `Processing file ${i + 1}/${regions.length}, offset: ${hex(region.address)}, size: ${region.data.length} bytes`;
    lines.push('', '='.repeat(head.length), head, '='.repeat(head.length));
    let detected: ChipName;
    try {
      detected = options.chip ?? detectImageChip(region.data);
    } catch (err) {
      errors.push(`Error processing file ${i + 1}/${regions.length}: ${(err as Error).message}`);
      errors.push('Probably not a valid firmware image (e.g. partition table).');
      return;
    }
    if (i === 0 && chip === undefined) {
      lines.push(`Detected image type: ${findTarget(detected)!.displayName}`);
      chip = detected;
    }
    imageLines(findTarget(detected)!, region.data, lines);
  });
  return { lines, errors };
}

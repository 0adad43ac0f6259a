/**
 * `elf2image`: an ELF file (ESP-IDF, Arduino, any linker script that places
 * sections at the chip's addresses) to the image the ROM loads, laid out as
 * esptool v5 lays it out, so the bytes are the same:
 *
 * - sections (or LOAD segments) padded to 4 bytes, adjacent ones merged when
 *   they touch and lie in the same memory types;
 * - ESP32 family: flash-mapped segments (IROM/DROM) placed so that file
 *   offset ≡ load address modulo the MMU page size, the gap in front filled
 *   with the start of a RAM segment (split) or a zero segment at address 0;
 *   `.flash.appdesc` first among the flash segments (it carries the app
 *   descriptor, whose ELF SHA-256 field at file offset 0xB0 is filled in),
 *   `.dram0.bootdesc` first among RAM segments; the ESP32-only 0x24-byte tail
 *   after a flash segment that ends just past a page; checksum at the end of
 *   a 16-byte line; the segment count rewritten; SHA-256 appended;
 * - ESP8266 v1: the RAM segments in a v1 image, and the one IROM segment as a
 *   separate file to write at (its address − 0x40200000).
 *
 * Pure: bytes in, bytes out; `notes` holds what esptool prints.
 */
import { findTarget } from '../targets/registry.js';
import { FLASH_MODES } from '../targets/flash-tables.js';
import type { ChipTarget } from '../targets/types.js';
import { sha256, xorChecksum } from './digest.js';
import { type ElfChunk, parseElf } from './elf.js';
import { flashFreqCode, flashSizeCode } from './flash-params.js';
import { memoryTypesAt } from './memory-types.js';
import { IMAGE_MAGIC, MAX_SEGMENTS, WP_PIN_DISABLED } from './parser.js';
import { hex, ImageError } from './problems.js';

/** Options of elf2image. */
export interface Elf2ImageOptions {
  chip: string;
  /** Default qio, as esptool. */
  flashMode?: string;
  /** Default: the chip's code 0 (40m on most chips). */
  flashFreq?: string;
  /** Default 1MB, as esptool. */
  flashSize?: string;
  minRev?: number;
  minRevFull?: number;
  /** Default 65535 (no upper bound). */
  maxRevFull?: number;
  /** Append a SHA-256 of the image (ESP32 family; default true). */
  appendDigest?: boolean;
  /** Use the ELF's LOAD segments instead of its sections. */
  useSegments?: boolean;
  /** Put the ELF file's SHA-256 at this image offset (default: 0xB0 when an app descriptor is in flash). */
  elfSha256Offset?: number;
  /** MMU page size in bytes; only ESP32-C2/C6/H2 can change it. */
  mmuPageSize?: number;
  /** Pad the output with 0xFF to a multiple of this many bytes. */
  padToSize?: number;
  /** Name used in messages. */
  name?: string;
}

/** Output of elf2image. */
export interface Elf2ImageResult {
  /** ESP32 family: the image. ESP8266: the v1 image of the RAM segments (flash it at 0x0). */
  image: Uint8Array;
  /** ESP8266 only: the IROM segment's bytes and the flash offset they belong at. */
  irom?: { offset: number; data: Uint8Array };
  /** What esptool prints while converting ("Merged 2 ELF sections.", warnings prefixed "Warning: "). */
  notes: string[];
}

/** MMU page sizes a chip can be linked for, when it can change them (esptool's MMU_PAGE_SIZE_CONF). */
const MMU_PAGE_SIZES: Partial<Record<string, readonly number[]>> = {
  esp32c2: [16384, 32768, 65536],
  esp32c6: [8192, 16384, 32768, 65536],
  esp32h2: [8192, 16384, 32768, 65536],
};
const DEFAULT_MMU_PAGE = 0x10000;
const SEGMENT_HEADER = 8;
/** Where ESP-IDF's app descriptor keeps the ELF SHA-256 in a flash build. */
const APP_DESC_ELF_SHA_OFFSET = 0xb0;
const ESP8266_IROM = { start: 0x40200000, end: 0x40300000 } as const;

interface Segment {
  name: string;
  address: number;
  data: Uint8Array<ArrayBufferLike>;
}

function pad4(data: Uint8Array): Uint8Array {
  if (data.length % 4 === 0) return data;
  const out = new Uint8Array(data.length + 4 - (data.length % 4));
  out.set(data);
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBufferLike> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Joins each segment into the one before it when it starts where that ends, in the same memory types. */
function mergeAdjacent(target: ChipTarget, segments: Segment[]): Segment[] {
  if (segments.length === 0) return segments;
  const out: Segment[] = [];
  // Backwards, as esptool does, so a run of touching sections folds into its first one.
  for (let i = segments.length - 1; i > 0; i--) {
    const elem = segments[i - 1];
    const next = segments[i];
    if (
      sameList(memoryTypesAt(target.name, elem.address), memoryTypesAt(target.name, next.address)) &&
      next.address === elem.address + elem.data.length
    ) {
      elem.data = concat(elem.data, next.data);
    } else {
      out.unshift(next);
    }
  }
  out.unshift(segments[0]);
  return out;
}

class ImageWriter {
  private chunks: Uint8Array[] = [];
  length = 0;
  checksum = 0xef;

  constructor(
    private readonly elfSha?: { offset: number; digest: Uint8Array },
    private readonly name = 'ELF file',
  ) {}

  bytes(data: Uint8Array): void {
    this.chunks.push(data);
    this.length += data.length;
  }

  /** One segment: header, data (ELF SHA-256 patched in when it falls here), checksum. */
  segment(address: number, data: Uint8Array, checksummed = true, name = ''): void {
    const patched = this.patchElfSha(data);
    if (patched.length % 4 !== 0)
      throw new ImageError(
        'BAD_SEGMENT',
        `Invalid ${name} segment length ${hex(patched.length)}. It has to be multiple of 4.`,
      );
    if (patched.length >= 0x1000000)
      throw new ImageError(
        'BAD_SEGMENT',
        `Invalid ${name} segment length ${hex(patched.length)}. The 16 MB limit has been exceeded.`,
      );
    const header = new Uint8Array(8);
    const view = new DataView(header.buffer);
    view.setUint32(0, address >>> 0, true);
    view.setUint32(4, patched.length, true);
    this.bytes(header);
    this.bytes(patched);
    if (checksummed) this.checksum = xorChecksum(patched, this.checksum);
  }

  /** Zero bytes up to the last byte of a 16-byte line, then the checksum. */
  appendChecksum(): void {
    this.bytes(new Uint8Array(15 - (this.length % 16)));
    this.bytes(Uint8Array.of(this.checksum));
  }

  result(): Uint8Array {
    const out = new Uint8Array(this.length);
    let pos = 0;
    for (const c of this.chunks) {
      out.set(c, pos);
      pos += c.length;
    }
    return out;
  }

  private patchElfSha(data: Uint8Array): Uint8Array {
    const sha = this.elfSha;
    // esptool compares against the position of the segment header and the data length.
    if (!sha || sha.offset < this.length || sha.offset >= this.length + data.length) return data;
    const at = sha.offset - this.length;
    if (at < SEGMENT_HEADER || at + 32 > data.length)
      throw new ImageError(
        'BAD_LAYOUT',
        `Cannot place SHA256 digest on segment boundary (elf_sha256_offset=${sha.offset}, file_pos=${this.length}, segment_size=${data.length}) in '${this.name}'.`,
      );
    const inData = at - SEGMENT_HEADER;
    if (data.subarray(inData, inData + 32).some((b) => b !== 0))
      throw new ImageError(
        'BAD_LAYOUT',
        `Contents of segment at SHA256 digest offset ${hex(sha.offset)} are not zero. Refusing to overwrite.`,
      );
    const out = data.slice();
    out.set(sha.digest, inData);
    return out;
  }
}

function isFlashAddress(target: ChipTarget, address: number): boolean {
  return (
    (address >= target.iromMap.start && address < target.iromMap.end) ||
    (address >= target.dromMap.start && address < target.dromMap.end)
  );
}

function headerByte3(target: ChipTarget, options: Elf2ImageOptions): number {
  const size = flashSizeCode(target, options.flashSize ?? '1MB');
  // esptool: no --flash-freq means code 0, the chip's default frequency.
  const freq = options.flashFreq === undefined ? 0 : flashFreqCode(target, options.flashFreq);
  return ((size << 4) | freq) & 0xff;
}

function flashModeCode(mode: string | undefined): number {
  const code = (FLASH_MODES as Record<string, number>)[mode ?? 'qio'];
  if (code === undefined)
    throw new ImageError('BAD_EXTENDED_HEADER', `Flash mode '${mode}' is not one of qio, qout, dio, dout.`);
  return code;
}

/** The MMU page size to lay flash segments out with (esptool's IROM_ALIGN and its auto-detection). */
function mmuPageSize(
  target: ChipTarget,
  options: Elf2ImageOptions,
  sections: readonly ElfChunk[],
  notes: string[],
): number {
  const conf = MMU_PAGE_SIZES[target.name];
  const choose = (size: number): number => {
    if (!conf) {
      if (size !== DEFAULT_MMU_PAGE)
        notes.push(
          `Warning: Changing MMU page size is not supported on ${target.displayName}! Defaulting to 64KB.`,
        );
      return DEFAULT_MMU_PAGE;
    }
    if (!conf.includes(size))
      throw new ImageError(
        'BAD_LAYOUT',
        `${size} bytes is not a valid ${target.displayName} page size, select from ${conf.map((s) => `${s / 1024}KB`).join(', ')}.`,
      );
    return size;
  };
  if (options.mmuPageSize !== undefined) return choose(options.mmuPageSize);
  const appDesc = sections.find((s) => s.name.includes('.flash.appdesc'));
  if (!conf || !appDesc || !isFlashAddress(target, appDesc.address)) return DEFAULT_MMU_PAGE;
  const d = appDesc.data;
  if (d.length < 256 || new DataView(d.buffer, d.byteOffset, 4).getUint32(0, true) !== 0xabcd5432)
    return DEFAULT_MMU_PAGE;
  // ESP-IDF 5.4+ records the page size (log2) in the descriptor; older builds are recognised by alignment.
  if (d[180] !== 0) return choose(Math.floor(2 ** d[180] / 1024) * 1024);
  for (const size of [...conf].reverse()) {
    if ((appDesc.address - 24 - 8) % size === 0) {
      notes.push(`MMU page size not specified, set to ${size / 1024} KB`);
      return size;
    }
  }
  notes.push(
    'Warning: App description segment is not aligned to MMU page size, probably linker script issue or wrong MMU page size. Try to set MMU page size parameter manually.',
  );
  return DEFAULT_MMU_PAGE;
}

function moveFirst(list: Segment[], name: string): void {
  const i = list.findIndex((s) => s.name === name);
  if (i > 0) list.unshift(...list.splice(i, 1));
}

function esp32Image(
  target: ChipTarget,
  segments: Segment[],
  options: Elf2ImageOptions,
  entry: number,
  page: number,
  elfSha?: { offset: number; digest: Uint8Array },
): Uint8Array {
  const w = new ImageWriter(elfSha, options.name);
  const header = new Uint8Array(24);
  const view = new DataView(header.buffer);
  header[0] = IMAGE_MAGIC;
  header[1] = segments.length; // rewritten below with the padding segments counted
  header[2] = flashModeCode(options.flashMode);
  header[3] = headerByte3(target, options);
  view.setUint32(4, entry >>> 0, true);
  header[8] = WP_PIN_DISABLED;
  view.setUint16(12, target.imageChipId!, true);
  header[14] = options.minRev ?? 0;
  view.setUint16(15, options.minRevFull ?? 0, true);
  view.setUint16(17, options.maxRevFull ?? 0xffff, true);
  const appendDigest = options.appendDigest ?? true;
  header[23] = appendDigest ? 1 : 0;
  w.bytes(header);

  const sorted: Segment[] = [...segments]
    .sort((a, b) => a.address - b.address)
    .map((s) => ({ ...s, data: s.data.slice() }));
  const flash = sorted.filter((s) => isFlashAddress(target, s.address));
  const ram = sorted.filter((s) => !isFlashAddress(target, s.address));
  moveFirst(flash, '.flash.appdesc');
  moveFirst(ram, '.dram0.bootdesc');
  for (let i = 1; i < flash.length; i++) {
    if (Math.floor(flash[i].address / page) === Math.floor(flash[i - 1].address / page))
      throw new ImageError(
        'BAD_LAYOUT',
        `Segment loaded at ${hex(flash[i].address, 8)} lands in same ${page / 1024} KB flash mapping as segment loaded at ${hex(flash[i - 1].address, 8)}. Can't generate binary. Suggest changing linker script or ELF to merge sections.`,
      );
  }
  let total = 0;
  const alignmentNeeded = (segment: Segment): number => {
    const alignPast = (segment.address % page) - SEGMENT_HEADER;
    let pad = page - (w.length % page) + alignPast;
    if (pad === 0 || pad === page) return 0;
    pad -= SEGMENT_HEADER;
    if (pad < 0) pad += page;
    return pad;
  };
  while (flash.length > 0) {
    const segment = flash[0];
    const pad = alignmentNeeded(segment);
    if (pad > 0) {
      if (ram.length > 0 && pad > SEGMENT_HEADER) {
        // Fill the gap with the start of the first RAM segment rather than zeros.
        const first = ram[0];
        const piece = first.data.subarray(0, pad);
        w.segment(first.address, piece, true, segment.name);
        first.data = first.data.subarray(piece.length);
        first.address += piece.length;
        if (first.data.length === 0) ram.shift();
      } else {
        w.segment(0, new Uint8Array(pad), true, segment.name);
      }
      total++;
      continue;
    }
    if (target.name === 'esp32') {
      // ESP32 2nd-stage bootloaders before IDF v3 did not map a last MMU page holding < 0x24 bytes.
      const remainder = (w.length + segment.data.length + SEGMENT_HEADER) % page;
      if (remainder < 0x24) segment.data = concat(segment.data, new Uint8Array(0x24 - remainder));
    }
    w.segment(segment.address, segment.data, true, segment.name);
    flash.shift();
    total++;
  }
  for (const segment of ram) {
    w.segment(segment.address, segment.data, true, segment.name);
    total++;
  }
  w.appendChecksum();
  let out = w.result();
  out[1] = total;
  if (appendDigest) out = concat(out, sha256(out));
  return out;
}

function esp8266Image(
  target: ChipTarget,
  segments: Segment[],
  options: Elf2ImageOptions,
  entry: number,
  elfSha?: { offset: number; digest: Uint8Array },
): { image: Uint8Array; irom?: { offset: number; data: Uint8Array } } {
  const iroms = segments.filter((s) => s.address >= ESP8266_IROM.start && s.address < ESP8266_IROM.end);
  if (iroms.length > 1)
    throw new ImageError('BAD_LAYOUT', `Found ${iroms.length} segments that could be irom0. Bad ELF file?`);
  const normal = segments.filter((s) => s !== iroms[0]);
  const w = new ImageWriter(elfSha, options.name);
  const header = new Uint8Array(8);
  header[0] = IMAGE_MAGIC;
  header[1] = normal.length;
  header[2] = flashModeCode(options.flashMode);
  header[3] = headerByte3(target, options);
  new DataView(header.buffer).setUint32(4, entry >>> 0, true);
  w.bytes(header);
  for (const s of normal) w.segment(s.address, s.data, true, s.name);
  w.appendChecksum();
  return {
    image: w.result(),
    irom: iroms[0] && { offset: iroms[0].address - ESP8266_IROM.start, data: iroms[0].data },
  };
}

/** Converts an ELF file to an image for `options.chip`; throws ImageError naming what cannot work. */
export function elf2image(elfBytes: Uint8Array, options: Elf2ImageOptions): Elf2ImageResult {
  const target = findTarget(options.chip);
  if (!target) throw new ImageError('CHIP_UNKNOWN', `Unknown chip "${options.chip}".`);
  const notes: string[] = [];
  const warnings: string[] = [];
  const elf = parseElf(elfBytes, options.name, warnings);
  notes.push(...warnings.map((w) => `Warning: ${w}`));
  notes.push(`Creating ${target.displayName} image...`);
  const page =
    target.name === 'esp8266' ? DEFAULT_MMU_PAGE : mmuPageSize(target, options, elf.sections, notes);
  const chunks = options.useSegments ? elf.segments : elf.sections;
  let segments: Segment[] = chunks.map((c) => ({
    name: c.name,
    address: c.address,
    data: pad4(c.data.slice()),
  }));
  let elfSha: { offset: number; digest: Uint8Array } | undefined;
  if (options.elfSha256Offset) elfSha = { offset: options.elfSha256Offset, digest: elf.sha256 };
  else {
    const appDesc = segments.find((s) => s.name.includes('.flash.appdesc'));
    if (appDesc && target.name !== 'esp8266' && isFlashAddress(target, appDesc.address))
      elfSha = { offset: APP_DESC_ELF_SHA_OFFSET, digest: elf.sha256 };
  }
  const before = segments.length;
  segments = mergeAdjacent(target, segments);
  if (segments.length !== before) {
    const delta = before - segments.length;
    notes.push(`Merged ${delta} ELF section${delta > 1 ? 's' : ''}.`);
  }
  if (segments.length > MAX_SEGMENTS)
    throw new ImageError(
      'TOO_MANY_SEGMENTS',
      `Invalid segment count ${segments.length} (max ${MAX_SEGMENTS}). Usually this indicates a linker script problem.`,
    );
  notes.push(`Successfully created ${target.displayName} image.`);
  if (target.name === 'esp8266') {
    const { image, irom } = esp8266Image(target, segments, options, elf.entry, elfSha);
    return { image, irom, notes };
  }
  let image = esp32Image(target, segments, options, elf.entry, page, elfSha);
  if (options.padToSize && image.length % options.padToSize !== 0) {
    const padded = new Uint8Array(image.length + options.padToSize - (image.length % options.padToSize)).fill(
      0xff,
    );
    padded.set(image);
    image = padded;
  }
  return { image, notes };
}

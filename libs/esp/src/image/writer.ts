import { findTarget } from '../targets/registry.js';
import { FLASH_MODES, flashSizeBytes, type FlashModeName } from '../targets/flash-tables.js';
import type { ChipName, ChipTarget, MemoryRegion } from '../targets/types.js';
import { encodeAppDescriptor, encodeBootloaderDescriptor, APP_DESC_SIZE } from './app-descriptor.js';
import { sha256, xorChecksum } from './digest.js';
import {
  EXTENDED_HEADER_BYTES,
  IMAGE_DIGEST_BYTES,
  IMAGE_HEADER_BYTES,
  IMAGE_MAGIC,
  MAX_SEGMENTS,
  WP_PIN_DISABLED,
} from './parser.js';
import {
  buildPartitionTable,
  DEFAULT_PARTITION_TABLE_OFFSET,
  type PartitionSpec,
} from './partition-table.js';
import { ImageError } from './problems.js';

/** One segment to place in an image. Data is zero-padded to a multiple of 4. */
export interface SegmentSpec {
  loadAddress: number;
  data: Uint8Array;
}

/** Options of buildImage. */
export interface BuildImageOptions {
  chip: ChipName | ChipTarget;
  segments: readonly SegmentSpec[];
  entry?: number;
  flashMode?: FlashModeName;
  /** Size name from the chip's table; default 2MB (4MB on ESP8266). */
  flashSize?: string;
  /** Frequency name from the chip's table; default 40m where the chip has it, else its first entry. */
  flashFreq?: string;
  minRevFull?: number;
  maxRevFull?: number;
  /** Append a SHA-256 (ESP32 family only; default true there). */
  hashAppended?: boolean;
}

function resolve(chip: ChipName | ChipTarget): ChipTarget {
  const target = typeof chip === 'string' ? findTarget(chip) : chip;
  if (!target)
    throw new ImageError('CHIP_UNKNOWN', `Unknown chip "${typeof chip === 'string' ? chip : chip.name}".`);
  return target;
}

function defaultFreq(target: ChipTarget): string {
  return '40m' in target.flashFrequencies ? '40m' : Object.keys(target.flashFrequencies)[0];
}

/** Builds a valid ESP image: header, extended header (ESP32 family), segments, checksum and optional SHA-256. */
export function buildImage(options: BuildImageOptions): Uint8Array {
  const target = resolve(options.chip);
  const esp8266 = target.name === 'esp8266';
  if (options.segments.length === 0 || options.segments.length > MAX_SEGMENTS)
    throw new ImageError(
      'TOO_MANY_SEGMENTS',
      `An image needs 1 to ${MAX_SEGMENTS} segments; got ${options.segments.length}.`,
    );
  const sizeName = options.flashSize ?? (esp8266 ? '4MB' : '2MB');
  const sizeCode = target.flashSizes[sizeName];
  const freqName = options.flashFreq ?? defaultFreq(target);
  const freqCode = target.flashFrequencies[freqName];
  if (sizeCode === undefined || freqCode === undefined)
    throw new ImageError(
      'BAD_EXTENDED_HEADER',
      `Flash size "${sizeName}" or frequency "${freqName}" is not valid for ${target.displayName}.`,
    );
  const hashAppended = !esp8266 && (options.hashAppended ?? true);
  const headerBytes = IMAGE_HEADER_BYTES + (esp8266 ? 0 : EXTENDED_HEADER_BYTES);
  const padded = options.segments.map((s) => {
    const len = Math.ceil(s.data.length / 4) * 4;
    const data = new Uint8Array(len);
    data.set(s.data);
    return { loadAddress: s.loadAddress, data };
  });
  const body = padded.reduce((n, s) => n + 8 + s.data.length, headerBytes);
  const checksumOffset = body + ((15 - (body % 16)) % 16);
  const total = checksumOffset + 1 + (hashAppended ? IMAGE_DIGEST_BYTES : 0);
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out[0] = IMAGE_MAGIC;
  out[1] = padded.length;
  out[2] = FLASH_MODES[options.flashMode ?? 'dio'];
  out[3] = (sizeCode << 4) | freqCode;
  view.setUint32(4, options.entry ?? padded[0].loadAddress, true);
  if (!esp8266) {
    out[8] = WP_PIN_DISABLED;
    view.setUint16(12, target.imageChipId!, true);
    const minFull = options.minRevFull ?? 0;
    out[14] = Math.floor(minFull / 100);
    view.setUint16(15, minFull, true);
    view.setUint16(17, options.maxRevFull ?? 0xffff, true);
    out[23] = hashAppended ? 1 : 0;
  }
  let pos = headerBytes;
  let checksum = 0xef;
  for (const s of padded) {
    view.setUint32(pos, s.loadAddress, true);
    view.setUint32(pos + 4, s.data.length, true);
    out.set(s.data, pos + 8);
    checksum = xorChecksum(s.data, checksum);
    pos += 8 + s.data.length;
  }
  out[checksumOffset] = checksum;
  if (hashAppended) out.set(sha256(out.subarray(0, checksumOffset + 1)), checksumOffset + 1);
  return out;
}

/** A small, fast, seedable PRNG (mulberry32); the same seed gives the same firmware bytes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LOG_STRINGS = [
  'I (%lu) %s: Initializing NVS\n',
  'E (%lu) %s: Failed to allocate buffer of %d bytes\n',
  'W (%lu) wifi: Station disconnected, reason %d\n',
  'assert failed: %s %s:%d (%s)\n',
  "Guru Meditation Error: Core %d panic'ed (%s)\n",
];

/**
 * Code-like filler: words drawn mostly from a small instruction dictionary, some with a randomised
 * operand byte, some fully random, with log strings sprinkled in. zlib level 9 shrinks 1 MiB of it
 * to 56.6 % of its size; the real ESP-IDF blink app (test/fixtures) gives 57.5 %. So compressed
 * transfer times in benchmarks are realistic: neither all-zero nor incompressible.
 */
export function codeLikePayload(bytes: number, seed = 1): Uint8Array {
  const rand = prng(seed);
  const dictionary = Array.from({ length: 48 }, () => (rand() * 0x100000000) >>> 0);
  const out = new Uint8Array(Math.ceil(bytes / 4) * 4);
  const encoder = new TextEncoder();
  let pos = 0;
  while (pos < out.length) {
    if (rand() < 0.004) {
      const text = encoder.encode(LOG_STRINGS[Math.floor(rand() * LOG_STRINGS.length)]);
      const n = Math.min(text.length, out.length - pos) & ~3;
      out.set(text.subarray(0, n), pos);
      pos += n;
      if (n > 0) continue;
    }
    const r = rand();
    // Skew towards the first dictionary entries, as real code reuses a few instruction forms.
    const word = dictionary[Math.floor(rand() * rand() * dictionary.length)];
    let value: number;
    if (r < 0.5) value = word;
    else if (r < 0.82) value = (word & 0xffffff00) | Math.floor(rand() * 256);
    else value = (rand() * 0x100000000) >>> 0;
    // Byte stores rather than DataView: much faster inside Jest's VM contexts.
    out[pos] = value & 0xff;
    out[pos + 1] = (value >>> 8) & 0xff;
    out[pos + 2] = (value >>> 16) & 0xff;
    out[pos + 3] = value >>> 24;
    pos += 4;
  }
  return bytes === out.length ? out : out.subarray(0, bytes);
}

function ramRegion(target: ChipTarget, prefer: MemoryRegion['name']): MemoryRegion {
  const region =
    target.memoryMap.find((r) => r.name === prefer) ?? target.memoryMap.find((r) => r.name === 'DRAM');
  if (!region) throw new ImageError('CHIP_UNKNOWN', `${target.displayName} has no RAM region to load into.`);
  return region;
}

/** Options of buildAppImage. */
export interface AppImageOptions {
  chip: ChipName | ChipTarget;
  projectName: string;
  version: string;
  idfVersion?: string;
  /** Size of the code payload (the flash-mapped IROM segment); default 16 KiB. */
  payloadBytes?: number;
  seed?: number;
  flashMode?: FlashModeName;
  flashSize?: string;
  flashFreq?: string;
  secureVersion?: number;
}

/** MMU page size: flash-mapped segments keep file offset ≡ load address modulo this. */
const MMU_PAGE_BYTES = 0x10000;

/**
 * A valid app image with an esp_app_desc_t at the start of its first DROM segment (at the chip's
 * DROM address), a little DRAM/IRAM, and a code-like IROM payload. ESP8266 gets a v1 image whose
 * first (DRAM) segment carries the descriptor.
 */
export function buildAppImage(options: AppImageOptions): Uint8Array {
  const target = resolve(options.chip);
  const seed = options.seed ?? 1;
  const desc = encodeAppDescriptor({
    projectName: options.projectName,
    version: options.version,
    idfVersion: options.idfVersion,
    secureVersion: options.secureVersion,
    compileDate: 'Jan  1 2026',
    compileTime: '12:00:00',
    elfSha256: sha256(new TextEncoder().encode(`${options.projectName}@${options.version}#${seed}`)),
  });
  const rodata = new Uint8Array(APP_DESC_SIZE + 256);
  rodata.set(desc);
  rodata.set(new TextEncoder().encode(`${options.projectName} ${options.version}\0`), APP_DESC_SIZE);
  const dram = ramRegion(target, 'DRAM');
  const iram = ramRegion(target, 'IRAM');
  const code = codeLikePayload(options.payloadBytes ?? 16 * 1024, seed);
  const dramData = codeLikePayload(256, seed + 1);
  const iramData = codeLikePayload(1024, seed + 2);
  // C6/H2/P4 share one RAM window for code and data; keep the two small segments apart.
  const iramAddress = iram === dram ? dram.start + 0x10000 : iram.start;
  const image = {
    flashMode: options.flashMode,
    flashSize: options.flashSize,
    flashFreq: options.flashFreq,
    chip: target,
  };

  if (target.name === 'esp8266') {
    return buildImage({
      ...image,
      entry: iramAddress,
      segments: [
        { loadAddress: dram.start, data: rodata },
        { loadAddress: iramAddress, data: iramData },
        { loadAddress: target.iromMap.start + 0x1010, data: code },
      ],
    });
  }
  const headerBytes = IMAGE_HEADER_BYTES + EXTENDED_HEADER_BYTES;
  // Segment data offsets in the file, to choose an IROM address with the same 64 KiB page offset.
  const dromDataOffset = headerBytes + 8;
  const afterRam = dromDataOffset + rodata.length + 8 + dramData.length + 8 + iramData.length;
  const iromDataOffset = afterRam + 8;
  const sharedWindow = target.iromMap.start === target.dromMap.start;
  const iromBase = target.iromMap.start + (sharedWindow ? 0x02000000 : 0);
  return buildImage({
    ...image,
    entry: iramAddress,
    segments: [
      { loadAddress: target.dromMap.start + dromDataOffset, data: rodata },
      { loadAddress: dram.start, data: dramData },
      { loadAddress: iramAddress, data: iramData },
      { loadAddress: iromBase + (iromDataOffset % MMU_PAGE_BYTES), data: code },
    ],
  });
}

/** Options of buildBootloaderImage. */
export interface BootloaderImageOptions {
  chip: ChipName | ChipTarget;
  flashMode?: FlashModeName;
  flashSize?: string;
  flashFreq?: string;
  /** IDF version for the esp_bootloader_desc_t; default v5.3.1. */
  idfVersion?: string;
  /** Code bytes; default 12 KiB, about the size of a real ESP-IDF bootloader. */
  payloadBytes?: number;
  seed?: number;
}

/** A valid second-stage bootloader image: RAM-only segments, checksum, SHA-256 (ESP32 family). */
export function buildBootloaderImage(options: BootloaderImageOptions): Uint8Array {
  const target = resolve(options.chip);
  const seed = options.seed ?? 7;
  const dram = ramRegion(target, 'DRAM');
  const iram = ramRegion(target, 'IRAM');
  const code = codeLikePayload(options.payloadBytes ?? 12 * 1024, seed);
  const data = codeLikePayload(2048, seed + 1);
  data.set(encodeBootloaderDescriptor({ idfVersion: options.idfVersion }));
  // Load high in RAM, away from where the app will go, as the real bootloader does.
  const dataAddress = Math.max(dram.start, dram.end - 0x20000);
  const codeAddress = iram === dram ? dram.end - 0x10000 : Math.max(iram.start, iram.end - 0x10000);
  return buildImage({
    chip: target,
    flashMode: options.flashMode,
    flashSize: options.flashSize,
    flashFreq: options.flashFreq,
    entry: codeAddress,
    segments: [
      { loadAddress: dataAddress, data },
      { loadAddress: codeAddress, data: code },
    ],
  });
}

/** One part of a firmware set: bytes to write at a flash offset. */
export interface FirmwarePart {
  offset: number;
  data: Uint8Array;
  name?: string;
}

/** Options of buildFirmwareSet. */
export interface FirmwareSetOptions extends Omit<AppImageOptions, 'chip' | 'flashSize'> {
  chip: ChipName | ChipTarget;
}

const APP_OFFSET = 0x10000;
const MB = 0x100000;

/**
 * A complete synthetic ESP-IDF build: bootloader at the chip's bootloader offset, partition table at
 * 0x8000 (nvs, phy_init, factory), app at 0x10000. The factory partition and the header's flash size
 * grow with the payload.
 */
export function buildFirmwareSet(options: FirmwareSetOptions): FirmwarePart[] {
  const target = resolve(options.chip);
  const probe = buildAppImage({ ...options, chip: target });
  const factorySize = Math.max(MB, Math.ceil(probe.length / MMU_PAGE_BYTES) * MMU_PAGE_BYTES);
  const needed = APP_OFFSET + factorySize;
  const flashSize = Object.keys(target.flashSizes)
    .filter((n) => !n.endsWith('-c1'))
    .map((n) => [n, flashSizeBytes(n)!] as const)
    .filter(([, b]) => b >= Math.max(needed, 2 * MB))
    .sort((a, b) => a[1] - b[1])[0]?.[0];
  if (!flashSize)
    throw new ImageError(
      'TOO_LARGE',
      `An app of ${probe.length} bytes does not fit any ${target.displayName} flash size.`,
    );
  const partitions: PartitionSpec[] = [
    { label: 'nvs', type: 'data', subtype: 'nvs', offset: 0x9000, size: 0x6000 },
    { label: 'phy_init', type: 'data', subtype: 'phy', offset: 0xf000, size: 0x1000 },
    { label: 'factory', type: 'app', subtype: 'factory', offset: APP_OFFSET, size: factorySize },
  ];
  const common = { flashMode: options.flashMode, flashFreq: options.flashFreq, flashSize };
  return [
    {
      name: 'bootloader.bin',
      offset: target.bootloaderOffset,
      data: buildBootloaderImage({ chip: target, ...common }),
    },
    {
      name: 'partition-table.bin',
      offset: DEFAULT_PARTITION_TABLE_OFFSET,
      data: buildPartitionTable(partitions),
    },
    {
      name: `${options.projectName}.bin`,
      offset: APP_OFFSET,
      data: buildAppImage({ ...options, ...common, chip: target }),
    },
  ];
}

export { buildPartitionTable } from './partition-table.js';

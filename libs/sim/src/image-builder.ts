import { createHash } from 'node:crypto';
import { getChip } from './chips/index.js';
import { type ChipName } from './chips/types.js';
import { APP_DESC_MAGIC, IMAGE_MAGIC } from './firmware-image.js';

/** Where ESP-IDF maps an app's first (DROM) segment, per chip. */
const APP_DROM_ADDRESS: Record<ChipName, number> = {
  esp8266: 0x40200010,
  esp32: 0x3f400020,
  esp32s2: 0x3f000020,
  esp32s3: 0x3c000020,
  esp32c3: 0x3c000020,
  esp32c6: 0x42800020,
};

/** A segment to put in a built image. */
export interface BuiltSegment {
  loadAddress: number;
  data: Uint8Array;
}

/** Fields of esp_app_desc_t written into a built app. */
export interface AppDescriptorFields {
  projectName: string;
  version: string;
  idfVersion?: string;
  date?: string;
  time?: string;
}

/** Options of buildImage(). */
export interface BuildImageOptions {
  chip: ChipName;
  /** Segments; default: an app descriptor segment (if appDescriptor) and a small code segment. */
  segments?: BuiltSegment[];
  appDescriptor?: AppDescriptorFields;
  entry?: number;
  /** 0 QIO, 1 QOUT, 2 DIO, 3 DOUT. Default DIO. */
  flashMode?: number;
  /** High nibble size code, low nibble frequency code. Default 0x20 (4 MB, 40 MHz). */
  sizeFreq?: number;
  /** Append a SHA-256 digest after the checksum (ESP32 family only). */
  hashAppended?: boolean;
  /** Bytes of the filler code segment. Default 4096. */
  codeBytes?: number;
}

function fixedString(text: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  out.set(Buffer.from(text, 'latin1').subarray(0, length - 1));
  return out;
}

/** An esp_app_desc_t (256 bytes) with the given fields. */
export function buildAppDescriptor(fields: AppDescriptorFields): Uint8Array {
  const out = new Uint8Array(256);
  new DataView(out.buffer).setUint32(0, APP_DESC_MAGIC, true);
  out.set(fixedString(fields.version, 32), 16);
  out.set(fixedString(fields.projectName, 32), 48);
  out.set(fixedString(fields.time ?? '12:00:00', 16), 80);
  out.set(fixedString(fields.date ?? 'Jan  1 2024', 16), 96);
  out.set(fixedString(fields.idfVersion ?? 'v5.1.2', 32), 112);
  return out;
}

/**
 * Builds a structurally valid ESP image (header, extended header, segments,
 * checksum, optional digest) for tests and demo boards: the simulator's boot
 * path accepts it, and esptool-js's image checks pass. It is not runnable code.
 */
export function buildImage(options: BuildImageOptions): Uint8Array {
  const def = getChip(options.chip);
  const extended = def.imageChipId !== null;
  let segments = options.segments;
  if (!segments) {
    segments = [];
    if (options.appDescriptor)
      segments.push({
        loadAddress: APP_DROM_ADDRESS[def.name],
        data: buildAppDescriptor(options.appDescriptor),
      });
    const code = new Uint8Array(options.codeBytes ?? 4096);
    for (let i = 0; i < code.length; i++) code[i] = (i * 31 + 7) & 0xff;
    segments.push({ loadAddress: def.name === 'esp8266' ? 0x40100000 : 0x40080000, data: code });
  }
  const parts: Uint8Array[] = [];
  const header = new Uint8Array(extended ? 24 : 8);
  const hv = new DataView(header.buffer);
  header[0] = IMAGE_MAGIC;
  header[1] = segments.length;
  header[2] = options.flashMode ?? 2;
  header[3] = options.sizeFreq ?? 0x20;
  hv.setUint32(4, options.entry ?? 0x40080000, true);
  if (extended) {
    header[8] = 0xee;
    hv.setUint16(12, def.imageChipId!, true);
    header[23] = options.hashAppended ? 1 : 0;
  }
  parts.push(header);
  let sum = 0xef;
  for (const s of segments) {
    const padded = new Uint8Array(Math.ceil(s.data.length / 4) * 4);
    padded.set(s.data);
    const sh = new Uint8Array(8);
    new DataView(sh.buffer).setUint32(0, s.loadAddress, true);
    new DataView(sh.buffer).setUint32(4, padded.length, true);
    parts.push(sh, padded);
    for (const b of padded) sum ^= b;
  }
  let length = parts.reduce((n, p) => n + p.length, 0);
  const pad = 15 - (length % 16);
  parts.push(new Uint8Array(pad), Uint8Array.of(sum));
  length += pad + 1;
  let image = new Uint8Array(length);
  let pos = 0;
  for (const p of parts) {
    image.set(p, pos);
    pos += p.length;
  }
  if (options.hashAppended && extended) {
    const digest = createHash('sha256').update(image).digest();
    const withHash = new Uint8Array(image.length + 32);
    withHash.set(image);
    withHash.set(digest, image.length);
    image = withHash;
  }
  return image;
}

/** One entry of a partition table to build. */
export interface PartitionEntry {
  label: string;
  type: number;
  subtype: number;
  offset: number;
  size: number;
}

/** ESP-IDF's "single factory app" layout. */
export const SINGLE_APP_PARTITIONS: readonly PartitionEntry[] = [
  { label: 'nvs', type: 1, subtype: 2, offset: 0x9000, size: 0x6000 },
  { label: 'phy_init', type: 1, subtype: 1, offset: 0xf000, size: 0x1000 },
  { label: 'factory', type: 0, subtype: 0, offset: 0x10000, size: 0x100000 },
];

/** Builds a partition table image (32-byte entries, then 0xFF). */
export function buildPartitionTable(entries: readonly PartitionEntry[] = SINGLE_APP_PARTITIONS): Uint8Array {
  const out = new Uint8Array(0xc00).fill(0xff);
  const view = new DataView(out.buffer);
  entries.forEach((e, i) => {
    const pos = i * 32;
    out[pos] = 0xaa;
    out[pos + 1] = 0x50;
    out[pos + 2] = e.type;
    out[pos + 3] = e.subtype;
    view.setUint32(pos + 4, e.offset, true);
    view.setUint32(pos + 8, e.size, true);
    out.set(fixedString(e.label, 16), pos + 12);
    view.setUint32(pos + 28, 0, true);
  });
  return out;
}

/** Something with a flash that can be programmed (a SimBoard's flash). */
export interface ProgrammableFlash {
  erase(offset: number, length: number): void;
  program(offset: number, data: Uint8Array): void;
}

/**
 * Puts a bootable set on a board's flash: a built bootloader at the chip's
 * offset, the single-app partition table at 0x8000 and an app at 0x10000 that
 * announces `app` when it boots. Demo farms and tests start from this.
 */
export function installBootableApp(flash: ProgrammableFlash, chip: ChipName, app: AppDescriptorFields): void {
  for (const { offset, data } of bootableAppImages(chip, app)) {
    flash.erase(offset, data.length);
    flash.program(offset, data);
  }
}

/** A flash region's contents. */
export interface FlashRegion {
  offset: number;
  data: Uint8Array;
}

/** The regions installBootableApp() writes (for SimBoardOptions.initialFlash). */
export function bootableAppImages(chip: ChipName, app: AppDescriptorFields): FlashRegion[] {
  return [
    { offset: getChip(chip).bootloaderOffset, data: buildImage({ chip, codeBytes: 2048 }) },
    { offset: 0x8000, data: buildPartitionTable() },
    { offset: 0x10000, data: buildImage({ chip, appDescriptor: app }) },
  ];
}

import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';

/** Erase granularity of the simulated NOR flash. */
export const FLASH_SECTOR_BYTES = 4096;
/** Large-erase granularity (block erase). */
export const FLASH_BLOCK_BYTES = 65536;
/** Program granularity (page program). */
export const FLASH_PAGE_BYTES = 256;

/** Datasheet-typical timings of a 3.3 V SPI NOR (GD25Q/W25Q class). */
export const FLASH_TIMING_MS = {
  sectorErase: 45,
  blockErase: 150,
  pageProgram: 0.7,
  /** Read throughput for MD5/readback: about 20 MB/s at 40 MHz DIO. */
  readPerMiB: 50,
} as const;

/** Options of a SimFlash. */
export interface SimFlashOptions {
  sizeBytes: number;
  /** When set, the contents are loaded from and saved to this file (a full-size image). */
  file?: string;
}

/** A region that differs between flash and an expected buffer. */
export interface FlashDifference {
  offset: number;
  expected: number;
  actual: number;
}

/**
 * Sparse NOR flash: 4 KiB sectors are allocated on first write and read as
 * 0xFF until then. Erase sets a sector to 0xFF; programming can only clear
 * bits (new = old AND data), as on a real NOR part. Contents survive resets
 * (they live on the board, not in the chip).
 */
export class SimFlash {
  readonly sizeBytes: number;
  private readonly sectors = new Map<number, Uint8Array>();
  private readonly file: string | undefined;
  private dirty = false;
  /** Buffers of erased sectors, reused by the next program (contents undefined). */
  private readonly spare: Uint8Array[] = [];

  constructor(options: SimFlashOptions) {
    const { sizeBytes } = options;
    if (!Number.isInteger(sizeBytes) || sizeBytes <= 0 || sizeBytes % FLASH_BLOCK_BYTES !== 0) {
      throw new RangeError(`flash size must be a positive multiple of 64 KiB, got ${sizeBytes}`);
    }
    this.sizeBytes = sizeBytes;
    this.file = options.file;
    if (this.file && existsSync(this.file)) this.load(this.file);
  }

  /** Reads bytes; unwritten sectors read as 0xFF. The range must lie inside the flash. */
  read(offset: number, length: number): Uint8Array {
    this.checkRange(offset, length);
    const out = new Uint8Array(length).fill(0xff);
    let pos = 0;
    while (pos < length) {
      const addr = offset + pos;
      const index = Math.floor(addr / FLASH_SECTOR_BYTES);
      const within = addr % FLASH_SECTOR_BYTES;
      const n = Math.min(FLASH_SECTOR_BYTES - within, length - pos);
      const sector = this.sectors.get(index);
      if (sector) out.set(sector.subarray(within, within + n), pos);
      pos += n;
    }
    return out;
  }

  /** Programs bytes with NOR semantics: each stored bit can only go from 1 to 0. */
  program(offset: number, data: Uint8Array): void {
    this.checkRange(offset, data.length);
    let pos = 0;
    while (pos < data.length) {
      const addr = offset + pos;
      const index = Math.floor(addr / FLASH_SECTOR_BYTES);
      const within = addr % FLASH_SECTOR_BYTES;
      const n = Math.min(FLASH_SECTOR_BYTES - within, data.length - pos);
      const chunk = data.subarray(pos, pos + n);
      const sector = this.sectors.get(index);
      if (!sector) {
        // An erased sector: programming is a plain copy (x AND 0xFF = x), and all-0xFF data changes nothing.
        if (!isAllOnes(chunk)) {
          const fresh = this.spare.pop() ?? new Uint8Array(FLASH_SECTOR_BYTES);
          if (n < FLASH_SECTOR_BYTES) fresh.fill(0xff);
          fresh.set(chunk, within);
          this.sectors.set(index, fresh);
        }
      } else {
        for (let i = 0; i < n; i++) sector[within + i] &= chunk[i];
      }
      pos += n;
    }
    this.dirty = true;
  }

  /** Erase commands the part has executed (sector, block, area or chip), for tests of erase strategies. */
  eraseOperations = 0;

  /** Erases every 4 KiB sector touched by [offset, offset+length). */
  erase(offset: number, length: number): void {
    if (length === 0) return;
    this.checkRange(offset, length);
    this.eraseOperations++;
    const first = Math.floor(offset / FLASH_SECTOR_BYTES);
    const last = Math.floor((offset + length - 1) / FLASH_SECTOR_BYTES);
    for (let i = first; i <= last; i++) {
      const sector = this.sectors.get(i);
      if (!sector) continue;
      this.sectors.delete(i);
      // Erase-then-program is what every flash does: keep a few buffers for the writes that follow.
      if (this.spare.length < SPARE_SECTORS) this.spare.push(sector);
    }
    this.dirty = true;
  }

  /** Erases the whole chip. */
  eraseAll(): void {
    this.eraseOperations++;
    this.sectors.clear();
    this.dirty = true;
  }

  /** True when every byte of the range is 0xFF (sectors never written are, without looking). */
  isErased(offset: number, length: number): boolean {
    this.checkRange(offset, length);
    let erased = true;
    this.forEachPiece(offset, length, (piece) => {
      erased &&= piece === null || isAllOnes(piece);
    });
    return erased;
  }

  /** MD5 of a range, as the ROM and stubs compute it. */
  md5(offset: number, length: number): Uint8Array {
    return this.digest('md5', offset, length);
  }

  /** Digest (any node:crypto hash, e.g. sha256) of a range, read sector by sector without copying the range. */
  digest(algorithm: string, offset: number, length: number): Uint8Array {
    this.checkRange(offset, length);
    const hash = createHash(algorithm);
    this.forEachPiece(offset, length, (piece, n) => {
      hash.update(piece ?? ERASED_SECTOR.subarray(0, n));
    });
    return new Uint8Array(hash.digest());
  }

  /** The whole flash as one buffer. */
  dump(): Uint8Array {
    return this.read(0, this.sizeBytes);
  }

  /** Compares flash at offset with expected; returns the first differences (up to `limit`). */
  compare(offset: number, expected: Uint8Array, limit = 16): FlashDifference[] {
    const actual = this.read(offset, expected.length);
    const diffs: FlashDifference[] = [];
    for (let i = 0; i < expected.length && diffs.length < limit; i++) {
      if (actual[i] !== expected[i])
        diffs.push({ offset: offset + i, expected: expected[i], actual: actual[i] });
    }
    return diffs;
  }

  /** Number of 4 KiB sectors holding anything but 0xFF (for tests of sparseness). */
  get allocatedSectors(): number {
    return this.sectors.size;
  }

  /** Writes the contents to the persistence file, if one was configured and anything changed. */
  save(): void {
    if (!this.file || !this.dirty) return;
    const fd = openSync(this.file, 'w');
    try {
      const blank = new Uint8Array(FLASH_SECTOR_BYTES).fill(0xff);
      for (let i = 0; i < this.sizeBytes / FLASH_SECTOR_BYTES; i++) {
        writeSync(fd, this.sectors.get(i) ?? blank);
      }
    } finally {
      closeSync(fd);
    }
    this.dirty = false;
  }

  private load(file: string): void {
    const fd = openSync(file, 'r');
    try {
      const size = fstatSync(fd).size;
      const sector = new Uint8Array(FLASH_SECTOR_BYTES);
      for (let i = 0; i * FLASH_SECTOR_BYTES < Math.min(size, this.sizeBytes); i++) {
        sector.fill(0xff);
        readSync(fd, sector, 0, FLASH_SECTOR_BYTES, i * FLASH_SECTOR_BYTES);
        if (sector.some((b) => b !== 0xff)) this.sectors.set(i, sector.slice());
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Calls fn for each sector-bounded piece of the range: the stored bytes, or null for an erased sector. */
  private forEachPiece(
    offset: number,
    length: number,
    fn: (piece: Uint8Array | null, n: number) => void,
  ): void {
    let pos = 0;
    while (pos < length) {
      const addr = offset + pos;
      const index = Math.floor(addr / FLASH_SECTOR_BYTES);
      const within = addr % FLASH_SECTOR_BYTES;
      const n = Math.min(FLASH_SECTOR_BYTES - within, length - pos);
      const sector = this.sectors.get(index);
      fn(sector ? sector.subarray(within, within + n) : null, n);
      pos += n;
    }
  }

  private checkRange(offset: number, length: number): void {
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > this.sizeBytes
    ) {
      throw new RangeError(
        `flash range 0x${offset.toString(16)}+${length} outside 0..0x${this.sizeBytes.toString(16)}`,
      );
    }
  }
}

/** Sector buffers an erase keeps for reuse (256 KiB per board at most). */
const SPARE_SECTORS = 64;

/** A sector's worth of 0xFF, for hashing erased sectors without allocating. */
const ERASED_SECTOR = new Uint8Array(FLASH_SECTOR_BYTES).fill(0xff);
const ERASED_WORDS = new Uint32Array(ERASED_SECTOR.buffer);

/** True when every byte is 0xFF (compared four bytes at a time where the view is aligned). */
function isAllOnes(bytes: Uint8Array): boolean {
  let i = 0;
  if (bytes.byteOffset % 4 === 0) {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
    for (; i < words.length; i++) if (words[i] !== ERASED_WORDS[0]) return false;
    i *= 4;
  }
  for (; i < bytes.length; i++) if (bytes[i] !== 0xff) return false;
  return true;
}

/** Time a NOR part needs to erase [offset, offset+length): 64 KiB blocks where aligned, 4 KiB sectors elsewhere. */
export function eraseTimeMs(offset: number, length: number): number {
  if (length <= 0) return 0;
  let start = Math.floor(offset / FLASH_SECTOR_BYTES) * FLASH_SECTOR_BYTES;
  const end = Math.ceil((offset + length) / FLASH_SECTOR_BYTES) * FLASH_SECTOR_BYTES;
  let ms = 0;
  while (start < end) {
    if (start % FLASH_BLOCK_BYTES === 0 && end - start >= FLASH_BLOCK_BYTES) {
      ms += FLASH_TIMING_MS.blockErase;
      start += FLASH_BLOCK_BYTES;
    } else {
      ms += FLASH_TIMING_MS.sectorErase;
      start += FLASH_SECTOR_BYTES;
    }
  }
  return ms;
}

/** Time to page-program `length` bytes. */
export function programTimeMs(length: number): number {
  return Math.ceil(length / FLASH_PAGE_BYTES) * FLASH_TIMING_MS.pageProgram;
}

/** Time to read `length` bytes (MD5, read-back). */
export function readTimeMs(length: number): number {
  return (length / (1024 * 1024)) * FLASH_TIMING_MS.readPerMiB;
}

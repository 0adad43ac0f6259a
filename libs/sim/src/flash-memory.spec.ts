import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { FLASH_SECTOR_BYTES, SimFlash, eraseTimeMs, programTimeMs } from './flash-memory.js';

const MiB = 1024 * 1024;

describe('SimFlash (NOR semantics)', () => {
  it('reads 0xFF where nothing was written and allocates sectors only on write', () => {
    const flash = new SimFlash({ sizeBytes: 4 * MiB });
    expect(flash.read(0x123456, 16).every((b) => b === 0xff)).toBe(true);
    expect(flash.allocatedSectors).toBe(0);
    flash.program(0x1ffe, Uint8Array.of(1, 2, 3, 4));
    // The write straddles a sector boundary: two sectors.
    expect(flash.allocatedSectors).toBe(2);
    expect(Array.from(flash.read(0x1ffd, 6))).toEqual([0xff, 1, 2, 3, 4, 0xff]);
  });

  it('an erased sector reads 0xFF around a later partial write, even when its buffer is reused', () => {
    const flash = new SimFlash({ sizeBytes: 1 * MiB });
    flash.program(0x4000, new Uint8Array(2 * FLASH_SECTOR_BYTES)); // two sectors of 0x00
    flash.erase(0x4000, 2 * FLASH_SECTOR_BYTES);
    flash.program(0x4010, Uint8Array.of(0x12));
    flash.program(0x5000, new Uint8Array(FLASH_SECTOR_BYTES).fill(0x34));
    const sector = flash.read(0x4000, FLASH_SECTOR_BYTES);
    expect(sector[0x10]).toBe(0x12);
    expect(sector.filter((b) => b !== 0xff)).toHaveLength(1);
    expect(flash.read(0x5000, FLASH_SECTOR_BYTES).every((b) => b === 0x34)).toBe(true);
  });

  it('hashes ranges over written and erased sectors like a hash of the bytes read', () => {
    const flash = new SimFlash({ sizeBytes: 1 * MiB });
    const data = Uint8Array.from({ length: 10_000 }, (_, i) => (i * 13) & 0xff);
    flash.program(0x3001, data);
    for (const [offset, length] of [
      [0, 0x10000],
      [0x3001, data.length],
      [0x2fff, 3],
      [0x20000, 5],
    ]) {
      const bytes = flash.read(offset, length);
      expect(Buffer.from(flash.md5(offset, length)).toString('hex')).toBe(
        createHash('md5').update(bytes).digest('hex'),
      );
      expect(Buffer.from(flash.digest('sha256', offset, length)).toString('hex')).toBe(
        createHash('sha256').update(bytes).digest('hex'),
      );
    }
    expect(flash.isErased(0x0, 0x3001)).toBe(true);
    expect(flash.isErased(0x0, 0x3002)).toBe(false);
    // 0xFF bytes inside a written sector, at an unaligned offset.
    flash.program(0x10001, Uint8Array.of(0x00));
    expect(flash.isErased(0x10002, 0xffe)).toBe(true);
    expect(flash.isErased(0x10001, 1)).toBe(false);
  });

  it('programming only clears bits (AND), erase sets a whole 4 KiB sector back to 0xFF', () => {
    const flash = new SimFlash({ sizeBytes: 1 * MiB });
    flash.program(0x1000, Uint8Array.of(0b1111_0000));
    flash.program(0x1000, Uint8Array.of(0b1010_1010));
    expect(flash.read(0x1000, 1)[0]).toBe(0b1010_0000);
    flash.program(0x1fff, Uint8Array.of(0x00));
    flash.erase(0x1800, 1);
    expect(flash.isErased(0x1000, FLASH_SECTOR_BYTES)).toBe(true);
    expect(flash.allocatedSectors).toBe(0);
  });

  it('compares, hashes and dumps', () => {
    const flash = new SimFlash({ sizeBytes: 1 * MiB });
    flash.program(0x100, Uint8Array.of(9, 8, 7));
    expect(flash.compare(0x100, Uint8Array.of(9, 8, 7))).toEqual([]);
    expect(flash.compare(0x100, Uint8Array.of(9, 0, 7))).toEqual([{ offset: 0x101, expected: 0, actual: 8 }]);
    expect(Buffer.from(flash.md5(0x100, 3)).toString('hex')).toBe(
      createHash('md5')
        .update(Uint8Array.of(9, 8, 7))
        .digest('hex'),
    );
    const dump = flash.dump();
    expect(dump.length).toBe(MiB);
    expect(Array.from(dump.subarray(0x100, 0x103))).toEqual([9, 8, 7]);
  });

  it('refuses ranges outside the chip', () => {
    const flash = new SimFlash({ sizeBytes: 1 * MiB });
    expect(() => flash.read(MiB - 1, 2)).toThrow(RangeError);
    expect(() => flash.program(MiB, Uint8Array.of(0))).toThrow(RangeError);
    expect(() => new SimFlash({ sizeBytes: 1000 })).toThrow(RangeError);
  });

  it('persists to a file and loads it back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'simflash-'));
    try {
      const file = join(dir, 'flash.bin');
      const a = new SimFlash({ sizeBytes: 1 * MiB, file });
      a.program(0x8000, Uint8Array.of(0xaa, 0x50));
      a.save();
      expect(readFileSync(file).length).toBe(MiB);
      const b = new SimFlash({ sizeBytes: 1 * MiB, file });
      expect(Array.from(b.read(0x8000, 2))).toEqual([0xaa, 0x50]);
      expect(b.allocatedSectors).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes datasheet times: 45 ms per sector, 150 ms per aligned 64 KiB block, 0.7 ms per page', () => {
    expect(eraseTimeMs(0x1000, 4096)).toBe(45);
    expect(eraseTimeMs(0x10000, 0x10000)).toBe(150);
    expect(eraseTimeMs(0xf000, 0x11000)).toBe(45 + 150);
    expect(programTimeMs(4096)).toBeCloseTo(16 * 0.7);
  });
});

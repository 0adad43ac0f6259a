import { describe, expect, it } from '@jest/globals';
import { NvsError, type NvsProblemCode } from './errors.js';
import { NVS_PAGE_BYTES, nvsEntryCrc, nvsPageHeaderCrc } from './format.js';
import { generateNvsPartition } from './generate.js';
import { readNvsPartition } from './read.js';
import { nvsRecipeOf } from './recipe.js';

/*
 * The base image, laid out as the generator (and ESP-IDF's tool) does:
 * page 0: entry 0 namespace "n"; 1-2 string "s" = "hello"; 3 u32 "i";
 *         4-125 chunk 0 of blob "b" (3872 bytes);
 * page 1: 0-36 chunk 1 (1128 bytes); 37 the blob index; pages 2-4 erased.
 */
const blob = Uint8Array.from({ length: 5000 }, (_, i) => (i * 13) & 0xff);
const base = generateNvsPartition(
  {
    n: {
      s: { type: 'string', value: 'hello' },
      i: { type: 'u32', value: 7 },
      b: { type: 'blob', value: blob },
    },
  },
  { sizeBytes: 5 * NVS_PAGE_BYTES },
);
const entryOffset = (page: number, entry: number) => page * NVS_PAGE_BYTES + 64 + entry * 32;

function corrupt(change: (image: Uint8Array) => void): Uint8Array {
  const image = base.slice();
  change(image);
  return image;
}

/** Re-seals an entry after a change, so the test reaches the check behind the CRC. */
function reseal(image: Uint8Array, page: number, entry: number): void {
  const at = entryOffset(page, entry);
  const bytes = image.subarray(at, at + 32);
  new DataView(image.buffer).setUint32(at + 4, nvsEntryCrc(bytes), true);
}

function setEntryState(image: Uint8Array, page: number, entry: number, state: number): void {
  const at = page * NVS_PAGE_BYTES + 32 + (entry >> 2);
  const shift = (entry & 3) * 2;
  image[at] = (image[at] & ~(0b11 << shift)) | (state << shift);
}

function failure(image: Uint8Array): NvsError {
  try {
    readNvsPartition(image);
  } catch (err) {
    if (err instanceof NvsError) return err;
    throw err;
  }
  throw new Error('the corrupt image was read without complaint');
}

function expectProblem(image: Uint8Array, problem: NvsProblemCode, location: Record<string, unknown>): void {
  const err = failure(image);
  expect({ problem: err.problem, code: err.code, ...err.location }).toMatchObject({
    problem,
    code: 'BAD_IMAGE',
    ...location,
  });
}

describe('readNvsPartition', () => {
  it('reads the base image, and an erased partition as empty', () => {
    const decoded = readNvsPartition(base);
    expect(nvsRecipeOf(decoded.namespaces)).toEqual({
      n: {
        s: { type: 'string', value: 'hello' },
        i: { type: 'u32', value: 7 },
        b: { type: 'blob', value: blob },
      },
    });
    expect(decoded.entries.map((e) => [e.key, e.page, e.entry])).toEqual([
      ['s', 0, 1],
      ['i', 0, 3],
      ['b', 0, 4],
    ]);
    expect(decoded.pages.slice(0, 2).map((p) => [p.state, p.written])).toEqual([
      ['full', 126],
      ['active', 38],
    ]);
    expect(readNvsPartition(new Uint8Array(0x3000).fill(0xff))).toMatchObject({
      version: undefined,
      namespaces: [],
      entries: [],
    });
  });

  it('detects a changed page header (BAD_PAGE_CRC)', () => {
    expectProblem(
      corrupt((img) => (img[4] ^= 1)),
      'BAD_PAGE_CRC',
      { page: 0, offset: 0 },
    );
    expectProblem(
      corrupt((img) => (img[NVS_PAGE_BYTES + 8] = 0xfd)),
      'BAD_PAGE_CRC',
      { page: 1 },
    );
  });

  it('detects a changed entry header (BAD_ENTRY_CRC) and changed data (BAD_DATA_CRC)', () => {
    expectProblem(
      corrupt((img) => (img[entryOffset(0, 1) + 9] ^= 0x20)),
      'BAD_ENTRY_CRC',
      { page: 0, entry: 1 },
    );
    expectProblem(
      corrupt((img) => (img[entryOffset(0, 3) + 24] = 8)),
      'BAD_ENTRY_CRC',
      { page: 0, entry: 3 },
    );
    expectProblem(
      corrupt((img) => (img[entryOffset(0, 2)] ^= 0x01)),
      'BAD_DATA_CRC',
      { page: 0, entry: 1, key: 's' },
    );
    expectProblem(
      corrupt((img) => (img[entryOffset(1, 20) + 5] ^= 0x80)),
      'BAD_DATA_CRC',
      { page: 1, entry: 0, key: 'b' },
    );
  });

  it('detects page states NVS does not use and data on an erased page (BAD_PAGE_STATE)', () => {
    expectProblem(
      corrupt((img) => img.set([0x78, 0x56, 0x34, 0x12], 0)),
      'BAD_PAGE_STATE',
      { page: 0 },
    );
    expectProblem(
      corrupt((img) => img.set([0xf0, 0xff, 0xff, 0xff], NVS_PAGE_BYTES)),
      'BAD_PAGE_STATE',
      { page: 1 },
    );
    expectProblem(
      corrupt((img) => (img[3 * NVS_PAGE_BYTES + 1000] = 0)),
      'BAD_PAGE_STATE',
      { page: 3 },
    );
  });

  it('refuses an unknown format version even with a valid header CRC', () => {
    const image = corrupt((img) => {
      img[8] = 0x10;
      new DataView(img.buffer).setUint32(28, nvsPageHeaderCrc(img.subarray(0, 32)), true);
    });
    expectProblem(image, 'UNSUPPORTED_VERSION', { page: 0 });
  });

  it('detects bad entry states: 0b01, data in an empty entry, unwritten data entries (BAD_ENTRY_STATE)', () => {
    expectProblem(
      corrupt((img) => setEntryState(img, 0, 3, 0b01)),
      'BAD_ENTRY_STATE',
      { page: 0, entry: 3 },
    );
    expectProblem(
      corrupt((img) => (img[entryOffset(1, 60) + 3] = 0)),
      'BAD_ENTRY_STATE',
      { page: 1, entry: 60 },
    );
    expectProblem(
      corrupt((img) => setEntryState(img, 1, 5, 0b11)),
      'BAD_ENTRY_STATE',
      { page: 1, entry: 5, key: 'b' },
    );
  });

  it('applies ESP-IDF consistency rules behind a valid CRC (BAD_ENTRY)', () => {
    const badSpan = corrupt((img) => {
      img[entryOffset(0, 3) + 2] = 2;
      reseal(img, 0, 3);
    });
    expectProblem(badSpan, 'BAD_ENTRY', { page: 0, entry: 3, key: 'i' });
    const badType = corrupt((img) => {
      img[entryOffset(0, 3) + 1] = 0x33;
      reseal(img, 0, 3);
    });
    expect(failure(badType).message).toContain('not an NVS type');
    const pastEnd = corrupt((img) => {
      img[entryOffset(1, 0) + 25] = 0x10; // 0x1068 = 4200 bytes: more than a page holds
      reseal(img, 1, 0);
    });
    expectProblem(pastEnd, 'BAD_ENTRY', { page: 1, entry: 0 });
  });

  it('detects an entry in a namespace nobody defined (BAD_NAMESPACE)', () => {
    const image = corrupt((img) => {
      img[entryOffset(0, 3)] = 9;
      reseal(img, 0, 3);
    });
    expectProblem(image, 'BAD_NAMESPACE', { page: 0, entry: 3, key: 'i' });
  });

  it('detects blob chunks without their index and an index without its chunks (BAD_BLOB)', () => {
    expectProblem(
      corrupt((img) => setEntryState(img, 1, 37, 0b00)),
      'BAD_BLOB',
      { key: 'b' },
    );
    const index = corrupt((img) => {
      img[entryOffset(1, 37) + 28] = 3; // three chunks claimed, two exist
      reseal(img, 1, 37);
    });
    expectProblem(index, 'BAD_BLOB', { page: 1, entry: 37, key: 'b' });
    const size = corrupt((img) => {
      img[entryOffset(1, 37) + 24] ^= 1;
      reseal(img, 1, 37);
    });
    expect(failure(size).message).toContain('should hold 5001 bytes');
  });

  it('catches every single-bit change in bytes a CRC covers', () => {
    const ranges: Array<[number, number]> = [
      [4, 32],
      [NVS_PAGE_BYTES + 4, NVS_PAGE_BYTES + 32],
      [entryOffset(0, 0), entryOffset(0, 2)],
      [entryOffset(0, 2), entryOffset(0, 2) + 6],
      [entryOffset(0, 3), entryOffset(0, 126)],
      [entryOffset(1, 0), entryOffset(1, 36) + 8],
      [entryOffset(1, 37), entryOffset(1, 38)],
    ];
    const positions = ranges.flatMap(([from, to]) => Array.from({ length: to - from }, (_, i) => from + i));
    let state = 7;
    for (let n = 0; n < 400; n++) {
      state = (state * 48271) % 0x7fffffff;
      const at = positions[state % positions.length];
      const bit = 1 << (state % 8);
      const image = corrupt((img) => (img[at] ^= bit));
      expect({ at, bit, thrown: (() => failure(image) instanceof NvsError)() }).toEqual({
        at,
        bit,
        thrown: true,
      });
    }
  });

  it('refuses a size that is not whole pages', () => {
    expectProblem(new Uint8Array(5000).fill(0xff), 'BAD_PARTITION_SIZE', {});
  });
});

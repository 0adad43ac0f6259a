import { describe, expect, it } from '@jest/globals';
import { NvsError } from './errors.js';
import { NVS_PAGE_BYTES, nvsCrc32 } from './format.js';
import { generateNvsPartition } from './generate.js';
import { readNvsPartition } from './read.js';
import {
  NVS_STRING_MAX_BYTES,
  nvsRecipeOf,
  type NvsNamespace,
  type NvsValue,
  type NvsVersion,
} from './recipe.js';

/** Deterministic pseudo-random numbers (mulberry32), so a failing case can be replayed from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomRecipe(seed: number, version: NvsVersion): NvsNamespace[] {
  const rnd = prng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[int(0, xs.length - 1)];
  const chars = 'abcXYZ019 _-,"\'äß✓';
  const text = (n: number) => Array.from({ length: n }, () => pick([...chars])).join('');
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(0, 255));
  const value = (): NvsValue => {
    switch (pick(['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'u64', 'i64', 'string', 'blob'] as const)) {
      case 'u8':
        return { type: 'u8', value: int(0, 255) };
      case 'i8':
        return { type: 'i8', value: int(-128, 127) };
      case 'u16':
        return { type: 'u16', value: int(0, 65535) };
      case 'i16':
        return { type: 'i16', value: int(-32768, 32767) };
      case 'u32':
        return { type: 'u32', value: int(0, 0xffffffff) };
      case 'i32':
        return { type: 'i32', value: int(-0x80000000, 0x7fffffff) };
      case 'u64':
        return { type: 'u64', value: (BigInt(int(0, 0xffffffff)) << 32n) | BigInt(int(0, 0xffffffff)) };
      case 'i64':
        return {
          type: 'i64',
          value: BigInt.asIntN(64, (BigInt(int(0, 0xffffffff)) << 32n) | BigInt(int(0, 0xffffffff))),
        };
      case 'string':
        return { type: 'string', value: text(pick([0, 1, 31, 32, int(0, 300), int(0, 1200)])) };
      case 'blob':
        return {
          type: 'blob',
          value: bytes(
            version === 1
              ? pick([0, 1, 32, int(0, 1984)])
              : pick([0, 1, 32, int(0, 500), int(3990, 4010), int(0, 9000)]),
          ),
        };
    }
  };
  return Array.from({ length: int(1, 4) }, (_, n) => ({
    name: `ns${n}${text(int(0, 3)).replace(/[^a-z]/g, '')}`,
    entries: Array.from({ length: pick([0, 1, 10, 40, 130]) }, (_, k) => ({
      key: `key_${n}_${k}`,
      value: value(),
    })),
  }));
}

/** Blobs as hex: Jest compares typed arrays element by element, which is slow for large ones. */
function canonical(namespaces: readonly NvsNamespace[]): unknown {
  return namespaces.map((ns) => ({
    name: ns.name,
    entries: ns.entries.map(({ key, value }) => ({
      key,
      type: value.type,
      value: value.value instanceof Uint8Array ? Buffer.from(value.value).toString('hex') : value.value,
    })),
  }));
}

const le32 = (b: Uint8Array, at: number) => new DataView(b.buffer, b.byteOffset).getUint32(at, true);

describe('generateNvsPartition', () => {
  it('round-trips random recipes through the reader, values and order unchanged (versions 1 and 2)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const version: NvsVersion = seed % 4 === 0 ? 1 : 2;
      const recipe = randomRecipe(seed, version);
      const image = generateNvsPartition(recipe, { sizeBytes: 64 * NVS_PAGE_BYTES, version });
      const decoded = readNvsPartition(image);
      expect({ seed, namespaces: canonical(decoded.namespaces) }).toEqual({
        seed,
        namespaces: canonical(recipe),
      });
      expect(decoded.version).toBe(version);
      // One ACTIVE page, FULL pages before it in sequence, erased pages after; the last page always erased.
      const states = decoded.pages.map((p) => p.state);
      const active = states.indexOf('active');
      expect(states.slice(0, active).every((s) => s === 'full')).toBe(true);
      expect(states.slice(active + 1).every((s) => s === 'uninitialized')).toBe(true);
      expect(image.subarray(image.length - NVS_PAGE_BYTES).every((b) => b === 0xff)).toBe(true);
    }
  });

  it('accepts the map form and integers as bigint or decimal/hex strings', () => {
    const image = generateNvsPartition(
      {
        app: {
          a: { type: 'u64', value: '18446744073709551615' },
          b: { type: 'i16', value: '-0x10' },
          c: { type: 'u32', value: 5n },
        },
      },
      { sizeBytes: 0x3000 },
    );
    expect(nvsRecipeOf(readNvsPartition(image).namespaces)).toEqual({
      app: {
        a: { type: 'u64', value: 18446744073709551615n },
        b: { type: 'i16', value: -16 },
        c: { type: 'u32', value: 5 },
      },
    });
  });

  it('starts a string on a new page unless it ends before the last entry, as ESP-IDF does', () => {
    // The namespace entry and 120 u8 leave 5 entries: a string of span 5 would end on the last one.
    const keys = Array.from({ length: 120 }, (_, i) => ({
      key: `k${i}`,
      value: { type: 'u8', value: i } as const,
    }));
    const fits = generateNvsPartition(
      [{ name: 'n', entries: [...keys, { key: 's', value: { type: 'string', value: 'x'.repeat(95) } }] }],
      { sizeBytes: 0x3000 },
    );
    const moved = generateNvsPartition(
      [{ name: 'n', entries: [...keys, { key: 's', value: { type: 'string', value: 'x'.repeat(96) } }] }],
      { sizeBytes: 0x3000 },
    );
    expect(readNvsPartition(fits).entries.at(-1)).toMatchObject({ key: 's', page: 0, entry: 121 });
    expect(readNvsPartition(moved).entries.at(-1)).toMatchObject({ key: 's', page: 1, entry: 0 });
    expect(le32(moved, 0)).toBe(0xfffffffc); // page 0 closed as FULL
  });

  it('splits a version-2 blob into page-sized chunks followed by its index', () => {
    const data = Uint8Array.from({ length: 9000 }, (_, i) => i & 0xff);
    const image = generateNvsPartition({ n: { b: { type: 'blob', value: data } } }, { sizeBytes: 0x5000 });
    // Page 0: namespace entry, then chunk 0 with the 124 entries left (3968 bytes).
    expect([...image.subarray(64 + 32, 64 + 36)]).toEqual([1, 0x42, 125, 0]);
    expect(image[64 + 32 + 24] | (image[64 + 32 + 25] << 8)).toBe(3968);
    expect(le32(image, 64 + 32 + 28)).toBe(nvsCrc32(data.subarray(0, 3968)));
    // Page 1: chunk 1 of 4000 bytes fills the page; page 2: chunk 2 (1032 bytes), then the index.
    const p1 = NVS_PAGE_BYTES + 64;
    expect([...image.subarray(p1, p1 + 4)]).toEqual([1, 0x42, 126, 1]);
    const p2 = 2 * NVS_PAGE_BYTES + 64;
    expect([...image.subarray(p2, p2 + 4)]).toEqual([1, 0x42, 34, 2]);
    const index = p2 + 34 * 32;
    expect([...image.subarray(index, index + 4)]).toEqual([1, 0x48, 1, 0xff]);
    expect(le32(image, index + 24)).toBe(9000);
    expect([...image.subarray(index + 28, index + 32)]).toEqual([3, 0, 0xff, 0xff]);
    expect(readNvsPartition(image).namespaces[0].entries[0].value).toEqual({ type: 'blob', value: data });
  });

  it('puts the blob index on a new page when the last chunk fills its page', () => {
    const data = new Uint8Array(124 * 32).fill(7); // exactly the room left after the namespace entry and the chunk header
    const image = generateNvsPartition({ n: { b: { type: 'blob', value: data } } }, { sizeBytes: 0x3000 });
    expect(le32(image, 0)).toBe(0xfffffffc);
    expect([...image.subarray(NVS_PAGE_BYTES + 64, NVS_PAGE_BYTES + 68)]).toEqual([1, 0x48, 1, 0xff]);
    expect(readNvsPartition(image).namespaces[0].entries).toEqual([
      { key: 'b', value: { type: 'blob', value: data } },
    ]);
  });

  it('writes version-1 blobs as one BLOB item and marks pages with version byte 0xFF', () => {
    const image = generateNvsPartition(
      { n: { b: { type: 'blob', value: new Uint8Array([1, 2, 3]) } } },
      { sizeBytes: 0x3000, version: 1 },
    );
    expect(image[8]).toBe(0xff);
    expect([...image.subarray(96, 100)]).toEqual([1, 0x41, 2, 0xff]);
    expect(readNvsPartition(image).version).toBe(1);
  });

  it('refuses sizes that are not whole pages or below three pages', () => {
    for (const sizeBytes of [0, 0x2000, 0x3001, -0x3000, 1.5]) {
      expect(() => generateNvsPartition({}, { sizeBytes })).toThrow(
        expect.objectContaining({ problem: 'BAD_PARTITION_SIZE', code: 'BAD_IMAGE' }),
      );
    }
    expect(
      readNvsPartition(generateNvsPartition({}, { sizeBytes: 0x3000 })).pages.every(
        (p) => p.state === 'active' || p.state === 'uninitialized',
      ),
    ).toBe(true);
  });

  it('refuses a recipe that needs the reserved page, naming the size', () => {
    const big = { n: { b: { type: 'blob', value: new Uint8Array(8000) } } } as const;
    expect(() => generateNvsPartition(big, { sizeBytes: 0x3000 })).toThrow(
      expect.objectContaining({ problem: 'PARTITION_FULL', message: expect.stringContaining('0x3000') }),
    );
    expect(() => generateNvsPartition(big, { sizeBytes: 0x4000 })).not.toThrow();
  });

  it('refuses what NVS cannot store, naming the namespace and key but never the value', () => {
    const cases: Array<[unknown, string]> = [
      [{ n: { k: { type: 'u8', value: 256 } } }, 'outside the u8 range'],
      [{ n: { k: { type: 'i64', value: 2 ** 60 } } }, 'not an integer'],
      [{ n: { k: { type: 'u16', value: 'secret-ish' } } }, 'not an integer'],
      [{ n: { k: { type: 'float', value: 1 } } }, 'use u8, i8'],
      [{ n: { k: { type: 'string', value: 'x'.repeat(NVS_STRING_MAX_BYTES) } } }, 'at most 3968'],
      [{ n: { k: { type: 'string', value: 'a\0b' } } }, 'NUL'],
      [{ n: { sixteen_chars_xx: { type: 'u8', value: 1 } } }, 'at most 15'],
      [{ 'a-namespace-too-long': {} }, 'at most 15'],
      [{ '': {} }, 'empty'],
      [
        [
          { name: 'n', entries: [] },
          { name: 'n', entries: [] },
        ],
        'appears twice',
      ],
      [
        [
          {
            name: 'n',
            entries: [
              { key: 'k', value: { type: 'u8', value: 1 } },
              { key: 'k', value: { type: 'u8', value: 2 } },
            ],
          },
        ],
        'appears twice',
      ],
      [Object.fromEntries(Array.from({ length: 255 }, (_, i) => [`n${i}`, {}])), 'at most 254'],
    ];
    for (const [recipe, words] of cases) {
      let caught: unknown;
      try {
        generateNvsPartition(recipe as never, { sizeBytes: 0x40000 });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(NvsError);
      expect((caught as NvsError).problem).toBe('INVALID_RECIPE');
      expect((caught as NvsError).message).toContain(words);
      expect((caught as NvsError).message).not.toContain('secret-ish');
    }
  });
});

import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { decodeUnitRegion } from './unit-regions.js';

const bytes = new Uint8Array(0x3000).fill(0xff);
bytes.set([1, 2, 3], 32);
const region = {
  offset: 0x9000,
  size: bytes.length,
  sha256: createHash('sha256').update(bytes).digest('hex'),
  md5: createHash('md5').update(bytes).digest('hex'),
  role: 'nvs',
  dataBase64: Buffer.from(bytes).toString('base64'),
};

describe('per-unit regions', () => {
  it('gives the bytes whose SHA-256 and size are the ones sent', () => {
    expect(decodeUnitRegion(region)).toEqual({ data: bytes });
  });

  it('refuses bytes changed on the way, or cut short', () => {
    const changed = Buffer.from(bytes);
    changed[40] ^= 1;
    expect(decodeUnitRegion({ ...region, dataBase64: changed.toString('base64') })).toEqual({
      problem: expect.stringMatching(
        /^the per-unit nvs region at 0x9000 arrived damaged \(12288 of 12288 bytes/,
      ),
    });
    expect(
      decodeUnitRegion({ ...region, dataBase64: Buffer.from(bytes.subarray(1)).toString('base64') }),
    ).toEqual({
      problem: expect.stringMatching(/12287 of 12288 bytes/),
    });
  });
});

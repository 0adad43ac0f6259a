import { describe, expect, it } from '@jest/globals';
import { CHECKSUM_SEED, checksum } from './protocol.js';

describe('data checksum', () => {
  it('equals the byte-by-byte XOR from 0xEF for every length and alignment', () => {
    const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 167 + 13) & 0xff);
    for (let start = 0; start < 8; start++) {
      for (const length of [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 64, 255, 291]) {
        const data = bytes.subarray(start, start + length);
        let expected = CHECKSUM_SEED;
        for (let i = 0; i < data.length; i++) expected ^= data[i];
        expect({ start, length, sum: checksum(data) }).toEqual({ start, length, sum: expected });
      }
    }
  });
});

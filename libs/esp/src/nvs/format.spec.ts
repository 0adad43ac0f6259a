import { describe, expect, it } from '@jest/globals';
import { nvsCrc32 } from './format.js';

describe('nvsCrc32', () => {
  it("is esp_rom_crc32_le(0xFFFFFFFF, …): zlib's crc32(data, 0xFFFFFFFF), not the usual CRC-32", () => {
    const check = new TextEncoder().encode('123456789');
    // Python: zlib.crc32(b'123456789', 0xFFFFFFFF) == 0xD202D277; the usual CRC-32 of it is 0xCBF43926.
    expect(nvsCrc32(check)).toBe(0xd202d277);
    expect(nvsCrc32(check, 0)).toBe(0xcbf43926);
    expect(nvsCrc32(new Uint8Array(0))).toBe(0xffffffff);
    // Chaining equals one pass, as ESP-IDF chains the entry's header parts.
    expect(nvsCrc32(check.subarray(4), nvsCrc32(check.subarray(0, 4)))).toBe(0xd202d277);
  });
});

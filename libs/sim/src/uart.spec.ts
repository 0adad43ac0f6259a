import { describe, expect, it } from '@jest/globals';
import { Prng, SimClock } from './clock.js';
import { SlipDecoder, slipEncode } from './slip.js';
import { pollUntil } from './testing/stimulus.js';
import { UartDirection, baudMismatch, dropBytes, flipBits, garble } from './uart.js';

describe('UartDirection', () => {
  it('delivers a large write after its line time, and keeps writes in order', async () => {
    const chunks: Uint8Array[] = [];
    const clock = new SimClock(0.1);
    const line = new UartDirection(clock, (bytes) => chunks.push(bytes));
    const t0 = performance.now();
    line.send(new Uint8Array(16384).fill(1), 921600, 0);
    line.send(Uint8Array.of(2, 3), 921600, 0);
    await pollUntil(() => chunks.reduce((n, c) => n + c.length, 0) === 16386);
    // 16 386 bytes × 10 bits at 921 600 baud ≈ 178 ms, ×0.1.
    expect(performance.now() - t0).toBeGreaterThan(15);
    const all = Buffer.concat(chunks);
    expect(all.subarray(0, 16384).every((b) => b === 1)).toBe(true);
    expect(Array.from(all.subarray(16384))).toEqual([2, 3]);
  });

  it('hands over everything due at once in one piece, as a bridge empties its FIFO', async () => {
    const chunks: Uint8Array[] = [];
    const line = new UartDirection(new SimClock(0), (bytes) => chunks.push(bytes));
    for (let i = 0; i < 8; i++) line.send(Uint8Array.of(i), 115200, 0);
    await pollUntil(() => chunks.length > 0);
    expect(chunks.map((c) => Array.from(c))).toEqual([[0, 1, 2, 3, 4, 5, 6, 7]]);
  });

  it('adds latency without reordering', async () => {
    const received: number[] = [];
    const line = new UartDirection(new SimClock(0), (bytes) => received.push(...bytes));
    const t0 = performance.now();
    line.send(Uint8Array.of(1), 115200, 40);
    line.send(Uint8Array.of(2), 115200, 0);
    await pollUntil(() => received.length === 2);
    expect(received).toEqual([1, 2]);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(38);
  });
});

describe('line effects', () => {
  it('a receiver tolerates 3 % of baud error, not more', () => {
    expect(baudMismatch(115200, 115200)).toBe(false);
    expect(baudMismatch(115200, 117000)).toBe(false);
    expect(baudMismatch(115200, 74880)).toBe(true);
    expect(baudMismatch(921600, 115200)).toBe(true);
  });

  it('garbage scales with the rate ratio; bit errors and drops follow their rates', () => {
    const rng = new Prng(1);
    expect(garble(new Uint8Array(800), 921600, 115200, rng).length).toBe(100);
    expect(garble(new Uint8Array(100), 74880, 115200, rng).length).toBe(154);
    const clean = new Uint8Array(10000);
    const flipped = flipBits(clean, 0.01, rng);
    const changed = flipped.filter((b) => b !== 0).length;
    expect(changed).toBeGreaterThan(500);
    expect(changed).toBeLessThan(1100);
    expect(flipBits(clean, 0, rng)).toBe(clean);
    const kept = dropBytes(clean, 0.25, rng).length;
    expect(kept).toBeGreaterThan(7000);
    expect(kept).toBeLessThan(8000);
  });
});

describe('SlipDecoder (device side)', () => {
  it('round-trips escapes and ignores noise outside frames', () => {
    const decoder = new SlipDecoder(100);
    const payload = Uint8Array.of(0x00, 0xc0, 0xdb, 0x01);
    const events = decoder.push(Uint8Array.of(0x41, 0x42, ...slipEncode(payload)));
    expect(events).toEqual([{ kind: 'frame', data: payload }]);
  });

  it('drops a frame with a bad escape or over the size limit, then recovers at the next delimiter', () => {
    const decoder = new SlipDecoder(8);
    expect(decoder.push(Uint8Array.of(0xc0, 1, 0xdb, 0x05, 2, 0xc0))).toEqual([
      { kind: 'dropped', reason: 'escape' },
    ]);
    expect(decoder.push(Uint8Array.of(0xc0, ...new Array<number>(9).fill(7), 0xc0))).toEqual([
      { kind: 'dropped', reason: 'oversize' },
    ]);
    expect(decoder.push(slipEncode(Uint8Array.of(9)))).toEqual([{ kind: 'frame', data: Uint8Array.of(9) }]);
  });

  it('decodes large frames full of escapes however the bytes are split into chunks', () => {
    const rng = new Prng(7);
    const frames = [16_400, 3, 0, 1_000].map((n) => {
      const frame = new Uint8Array(n);
      // Mostly delimiters and escapes, so every split lands next to one somewhere.
      for (let i = 0; i < n; i++) frame[i] = rng.next() < 0.2 ? [0xc0, 0xdb][rng.int(2)] : rng.int(256);
      return frame;
    });
    const wire = Buffer.concat(frames.filter((f) => f.length > 0).map((f) => slipEncode(f)));
    for (const chunkBytes of [1, 2, 7, 4096, wire.length]) {
      const decoder = new SlipDecoder(16_500);
      const got: Uint8Array[] = [];
      for (let at = 0; at < wire.length; at += chunkBytes) {
        for (const event of decoder.push(wire.subarray(at, at + chunkBytes))) {
          if (event.kind !== 'frame') throw new Error(`unexpected ${event.reason} drop`);
          got.push(event.data);
        }
      }
      expect(got.map((f) => Buffer.from(f).toString('hex'))).toEqual(
        frames.filter((f) => f.length > 0).map((f) => Buffer.from(f).toString('hex')),
      );
    }
  });

  it('drops an oversize frame that arrives in one chunk and keeps the next one', () => {
    const decoder = new SlipDecoder(16);
    const wire = Buffer.concat([slipEncode(new Uint8Array(17).fill(1)), slipEncode(Uint8Array.of(2, 0xc0))]);
    expect(decoder.push(wire)).toEqual([
      { kind: 'dropped', reason: 'oversize' },
      { kind: 'frame', data: Uint8Array.of(2, 0xc0) },
    ]);
  });
});

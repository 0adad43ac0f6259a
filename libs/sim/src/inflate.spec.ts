import { describe, expect, it } from '@jest/globals';
import { deflateSync } from 'node:zlib';
import { BlockInflater } from './inflate.js';

/** An xorshift stream: incompressible bytes. */
function noise(length: number): Uint8Array {
  const data = new Uint8Array(length);
  let x = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff;
  }
  return data;
}

describe('BlockInflater', () => {
  it('gives each block its output as soon as it is pushed, across a stream that expands a thousandfold', async () => {
    // 2 MiB of zeros (deflates to a few KiB, so one block inflates to MiBs) between stretches of noise.
    const data = Buffer.concat([noise(40_000), new Uint8Array(2 << 20), noise(70_000)]);
    const stream = deflateSync(data, { level: 9 });
    const inflater = new BlockInflater();
    const outputs: Uint8Array[] = [];
    for (let at = 0; at < stream.length; at += 4096) {
      const step = await inflater.push(stream.subarray(at, at + 4096));
      expect(step.error).toBeNull();
      outputs.push(step.output);
    }
    inflater.close();
    const joined = Buffer.concat(outputs);
    expect(joined.length).toBe(data.length);
    expect(joined.equals(data)).toBe(true);
    // Output follows input block by block: the first block already yields bytes, none is held back to the end.
    expect(outputs[0].length).toBeGreaterThan(0);
    expect(Math.max(...outputs.map((o) => o.length))).toBeGreaterThan(1 << 20);
  });

  it('reports a corrupt stream as an error and yields nothing more', async () => {
    const stream = Buffer.from(deflateSync(noise(10_000)));
    stream[200] ^= 0xff;
    stream[201] ^= 0x55;
    const inflater = new BlockInflater();
    let error: Error | null = null;
    for (let at = 0; at < stream.length && !error; at += 1024) {
      ({ error } = await inflater.push(stream.subarray(at, at + 1024)));
    }
    expect(error?.message).toMatch(/invalid|incorrect|check/i);
    const after = await inflater.push(Uint8Array.of(1, 2, 3));
    expect(after.error).toBe(error);
    expect(after.output.length).toBe(0);
    inflater.close();
  });
});

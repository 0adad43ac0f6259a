import { describe, expect, it } from '@jest/globals';
import { SlipDecoder, slipEncode } from './slip.js';

describe('slipEncode', () => {
  it('escapes 0xC0 and 0xDB and adds both delimiters', () => {
    expect(Array.from(slipEncode(Uint8Array.from([0x01, 0xc0, 0xdb, 0x02])))).toEqual([
      0xc0, 0x01, 0xdb, 0xdc, 0xdb, 0xdd, 0x02, 0xc0,
    ]);
  });
});

describe('SlipDecoder', () => {
  it('round-trips frames and reports leading text separately', () => {
    const d = new SlipDecoder();
    const bytes = Uint8Array.from([
      ...Buffer.from('rst:0x1 boot:0x13'),
      ...slipEncode(Uint8Array.from([1, 0xc0, 2])),
      ...slipEncode(Uint8Array.from([3, 0xdb])),
    ]);
    const events = d.push(bytes);
    expect(events[0]).toEqual({ kind: 'text', data: Uint8Array.from(Buffer.from('rst:0x1 boot:0x13')) });
    const frames = events
      .filter((e) => e.kind === 'frame')
      .map((e) => Array.from((e as { data: Uint8Array }).data));
    expect(frames).toEqual([
      [1, 0xc0, 2],
      [3, 0xdb],
    ]);
  });

  it('assembles frames split across reads and drops empty frames', () => {
    const d = new SlipDecoder();
    const wire = Uint8Array.from([0xc0, 0xc0, 0xc0, 0x01, 0xdb, 0xdc, 0xc0]);
    const out = [...d.push(wire.subarray(0, 5)), ...d.push(wire.subarray(5))];
    expect(
      out.filter((e) => e.kind === 'frame').map((e) => Array.from((e as { data: Uint8Array }).data)),
    ).toEqual([[0x01, 0xc0]]);
    expect(out.some((e) => e.kind === 'corrupt')).toBe(false);
  });

  it('drops a frame with a bad escape and resynchronises on the next 0xC0', () => {
    const d = new SlipDecoder();
    const events = d.push(Uint8Array.from([0xc0, 0x01, 0xdb, 0x99, 0x02, 0xc0, 0x05, 0x06, 0xc0]));
    expect(events.map((e) => e.kind)).toEqual(['corrupt', 'frame']);
    expect(Array.from((events[1] as { data: Uint8Array }).data)).toEqual([0x05, 0x06]);
  });

  it('a stray 0xC0 in garbage costs one bogus candidate, not the following frames', () => {
    const d = new SlipDecoder();
    const events = d.push(
      Uint8Array.from([
        0xc0,
        0x11,
        0xc0,
        0x77,
        0x78,
        ...slipEncode(Uint8Array.from([1, 8, 0, 0])),
        ...slipEncode(Uint8Array.from([9])),
      ]),
    );
    const frames = events
      .filter((e) => e.kind === 'frame')
      .map((e) => Array.from((e as { data: Uint8Array }).data));
    expect(frames).toContainEqual([1, 8, 0, 0]);
    expect(frames).toContainEqual([9]);
  });
});

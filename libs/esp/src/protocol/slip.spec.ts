import { describe, expect, it } from '@jest/globals';
import { SLIP_MAX_FRAME_BYTES, SlipDecoder, slipEncode } from './slip.js';

describe('slipEncode', () => {
  it('escapes 0xC0 and 0xDB and adds both delimiters', () => {
    expect(Array.from(slipEncode(Uint8Array.from([0x01, 0xc0, 0xdb, 0x02])))).toEqual([
      0xc0, 0x01, 0xdb, 0xdc, 0xdb, 0xdd, 0x02, 0xc0,
    ]);
  });

  it('matches a byte-by-byte encoder on packets full of, without, and ending in special bytes', () => {
    const reference = (p: Uint8Array): number[] => [
      0xc0,
      ...Array.from(p).flatMap((b) => (b === 0xc0 ? [0xdb, 0xdc] : b === 0xdb ? [0xdb, 0xdd] : [b])),
      0xc0,
    ];
    const packets = [
      new Uint8Array(0),
      Uint8Array.from([0xc0]),
      Uint8Array.from([0xdb, 0xdb, 0xc0, 0xc0]),
      Uint8Array.from([1, 2, 3]),
      new Uint8Array(5000).map((_, i) => (i * 37 + (i >> 3)) & 0xff),
      new Uint8Array(40).map((_, i) => (i % 3 === 0 ? 0xc0 : i % 3 === 1 ? 0xdb : 9)).subarray(3, 38),
    ];
    for (const p of packets) expect(Array.from(slipEncode(p))).toEqual(reference(p));
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

  it('decodes what slipEncode wrote however the reads split it, frames being copies', () => {
    const payloads = [
      new Uint8Array(3000).map((_, i) => (i * 131 + (i >> 2)) & 0xff),
      Uint8Array.from([0xdb, 0xc0, 0xdb]),
      Uint8Array.from([7]),
    ];
    const wire = Uint8Array.from(payloads.flatMap((p) => Array.from(slipEncode(p))));
    for (const size of [1, 2, 3, 7, 100, 4096]) {
      const d = new SlipDecoder();
      const frames: number[][] = [];
      for (let o = 0; o < wire.length; o += size) {
        const read = wire.slice(o, o + size);
        for (const e of d.push(read)) if (e.kind === 'frame') frames.push(Array.from(e.data));
        read.fill(0); // the transport may reuse its buffer: decoded frames must not change
      }
      expect(frames).toEqual(payloads.map((p) => Array.from(p)));
      expect(d.pendingFrameBytes).toBe(0);
    }
  });

  it('drops a frame one byte longer than any reply, keeps one exactly that long', () => {
    const d = new SlipDecoder();
    const exact = new Uint8Array(SLIP_MAX_FRAME_BYTES).fill(1);
    const over = new Uint8Array(SLIP_MAX_FRAME_BYTES + 1).fill(2);
    const overByEscape = Uint8Array.from([...exact, 0xc0]);
    const events = d.push(
      Uint8Array.from([...slipEncode(exact), ...slipEncode(over), ...slipEncode(overByEscape)]),
    );
    expect(events.map((e) => e.kind)).toEqual(['frame', 'corrupt', 'corrupt']);
    expect((events[0] as { data: Uint8Array }).data.length).toBe(SLIP_MAX_FRAME_BYTES);
  });

  it('reports text before the first frame across reads, then frames', () => {
    const d = new SlipDecoder();
    const first = d.push(Buffer.from('ets Jun  8 2016'));
    const second = d.push(Uint8Array.from([...Buffer.from(' boot'), ...slipEncode(Uint8Array.from([5]))]));
    expect(first).toEqual([{ kind: 'text', data: Uint8Array.from(Buffer.from('ets Jun  8 2016')) }]);
    expect(second[0]).toEqual({ kind: 'text', data: Uint8Array.from(Buffer.from(' boot')) });
    expect(second[1]).toEqual({ kind: 'frame', data: Uint8Array.from([5]) });
  });
});

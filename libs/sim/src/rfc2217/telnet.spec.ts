import { describe, expect, it } from '@jest/globals';
import { DO, doubleIac, encodeComPort, OPT_COM_PORT, TelnetStream } from './telnet.js';

describe('server Telnet layer', () => {
  it('splits data, negotiations and subnegotiations across chunks, un-doubling 0xFF', () => {
    const events: unknown[] = [];
    const stream = new TelnetStream({
      data: (bytes) => events.push(['data', [...bytes]]),
      negotiation: (verb, option) => events.push(['neg', verb, option]),
      subnegotiation: (option, payload) => events.push(['sb', option, [...payload]]),
    });
    stream.push(Uint8Array.of(0x10, 0xff, 0xff, 0xff));
    stream.push(Uint8Array.of(0xfd, 0x2c, 0xff, 0xfa, 0x2c, 0x05, 0xff, 0xff));
    stream.push(Uint8Array.of(0xff, 0xf0, 0x20));
    expect(events).toEqual([
      ['data', [0x10, 0xff]],
      ['neg', DO, OPT_COM_PORT],
      ['sb', OPT_COM_PORT, [0x05, 0xff]],
      ['data', [0x20]],
    ]);
  });

  it('passes data with doubled 0xFF through intact however it is chunked, commands interleaved', () => {
    const data = new Uint8Array(5000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251 === 0 ? 0xff : (i * 31) & 0xff;
    const half = data.length / 2;
    const wire = Buffer.concat([
      doubleIac(data.subarray(0, half)),
      Uint8Array.of(0xff, DO, OPT_COM_PORT),
      doubleIac(data.subarray(half)),
    ]);
    for (const chunkBytes of [1, 3, 1000, wire.length]) {
      const received: number[] = [];
      const negotiations: number[] = [];
      const stream = new TelnetStream({
        data: (bytes) => void received.push(...bytes),
        negotiation: (_verb, option) => {
          // Reported in wire order: after the first half of the data, before the second.
          expect(received.length).toBe(half);
          negotiations.push(option);
        },
        subnegotiation: () => undefined,
      });
      for (let at = 0; at < wire.length; at += chunkBytes) stream.push(wire.subarray(at, at + chunkBytes));
      expect(negotiations).toEqual([OPT_COM_PORT]);
      expect(Buffer.from(received).equals(Buffer.from(data))).toBe(true);
    }
  });

  it('doubles 0xFF in data and in COM-PORT values', () => {
    expect([...doubleIac(Uint8Array.of(0xff, 1))]).toEqual([0xff, 0xff, 1]);
    expect([...doubleIac(Uint8Array.of(1, 0xff, 0xff, 2, 0xff))]).toEqual([
      1, 0xff, 0xff, 0xff, 0xff, 2, 0xff, 0xff,
    ]);
    const plain = Uint8Array.of(1, 2, 3);
    expect(doubleIac(plain)).toBe(plain);
    expect([...encodeComPort(101, Uint8Array.of(0, 0, 0xff, 0xff))]).toEqual([
      0xff, 0xfa, 0x2c, 101, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0,
    ]);
  });
});

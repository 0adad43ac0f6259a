import { describe, expect, it } from '@jest/globals';
import {
  escapeIac,
  negotiationBytes,
  subnegotiationBytes,
  Telnet,
  TelnetOption,
  TelnetParser,
} from './telnet.js';

type Event = ['data', number[]] | ['neg', number, number] | ['sb', number, number[]];

function parse(chunks: number[][]): Event[] {
  const events: Event[] = [];
  const parser = new TelnetParser({
    data: (bytes) => events.push(['data', [...bytes]]),
    negotiation: (verb, option) => events.push(['neg', verb, option]),
    subnegotiation: (option, payload) => events.push(['sb', option, [...payload]]),
  });
  for (const chunk of chunks) parser.feed(Uint8Array.from(chunk));
  return events;
}

describe('TelnetParser', () => {
  it('un-doubles 0xFF in data and keeps wire order between data and commands', () => {
    expect(parse([[0x01, 0xff, 0xff, 0x02, 0xff, 0xfd, 0x2c, 0x03]])).toEqual([
      ['data', [0x01, 0xff, 0x02]],
      ['neg', Telnet.DO, TelnetOption.COM_PORT],
      ['data', [0x03]],
    ]);
  });

  it('reassembles commands and subnegotiations split across chunks, with 0xFF inside values', () => {
    expect(parse([[0xff], [0xfa, 0x2c, 0x65, 0x00, 0xff], [0xff, 0x10], [0xff, 0xf0, 0x41]])).toEqual([
      ['sb', TelnetOption.COM_PORT, [0x65, 0x00, 0xff, 0x10]],
      ['data', [0x41]],
    ]);
  });

  it('ignores other IAC commands (NOP)', () => {
    expect(parse([[0x41, 0xff, 0xf1, 0x42]])).toEqual([['data', [0x41, 0x42]]]);
  });
});

describe('Telnet encoders', () => {
  it('doubles 0xFF and leaves other data untouched (same object when nothing to escape)', () => {
    const plain = Uint8Array.of(1, 2, 3);
    expect(escapeIac(plain)).toBe(plain);
    expect([...escapeIac(Uint8Array.of(0xff, 0, 0xff))]).toEqual([0xff, 0xff, 0, 0xff, 0xff]);
  });

  it('frames negotiations and COM-PORT subnegotiations', () => {
    expect([...negotiationBytes(Telnet.WILL, TelnetOption.COM_PORT)]).toEqual([0xff, 0xfb, 0x2c]);
    expect([...subnegotiationBytes(TelnetOption.COM_PORT, Uint8Array.of(1, 0x00, 0x0e, 0xff, 0x00))]).toEqual(
      [0xff, 0xfa, 0x2c, 1, 0x00, 0x0e, 0xff, 0xff, 0x00, 0xff, 0xf0],
    );
  });
});

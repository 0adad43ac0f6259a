/**
 * Telnet framing as RFC 2217 uses it: IAC commands, option negotiation,
 * subnegotiation blocks, and 0xFF doubling of data bytes.
 */

/** Telnet command bytes. */
export const Telnet = {
  SE: 0xf0,
  NOP: 0xf1,
  SB: 0xfa,
  WILL: 0xfb,
  WONT: 0xfc,
  DO: 0xfd,
  DONT: 0xfe,
  IAC: 0xff,
} as const;

/** Telnet options RFC 2217 sessions use. */
export const TelnetOption = {
  BINARY: 0x00,
  ECHO: 0x01,
  SGA: 0x03,
  COM_PORT: 0x2c,
} as const;

/** One of WILL, WONT, DO, DONT. */
export type NegotiationVerb = typeof Telnet.WILL | typeof Telnet.WONT | typeof Telnet.DO | typeof Telnet.DONT;

/** What a TelnetParser reports, in wire order. */
export interface TelnetParserEvents {
  data(bytes: Uint8Array): void;
  negotiation(verb: NegotiationVerb, option: number): void;
  subnegotiation(option: number, payload: Uint8Array): void;
}

const enum State {
  Data,
  Iac,
  Negotiation,
  SubOption,
  SubData,
  SubIac,
}

/** Longest subnegotiation we keep; longer ones are cut (no COM-PORT value is near this). */
const MAX_SUBNEGOTIATION_BYTES = 1024;

/** Splits a Telnet byte stream into data runs, negotiations and subnegotiations; keeps state across chunks. */
export class TelnetParser {
  private state = State.Data;
  private verb: NegotiationVerb = Telnet.WILL;
  private subOption = 0;
  private sub: number[] = [];

  constructor(private readonly events: TelnetParserEvents) {}

  feed(chunk: Uint8Array): void {
    let out = new Uint8Array(chunk.length);
    let outLength = 0;
    const flushData = (): void => {
      if (outLength === 0) return;
      this.events.data(out.subarray(0, outLength));
      out = new Uint8Array(chunk.length);
      outLength = 0;
    };
    for (const byte of chunk) {
      switch (this.state) {
        case State.Data:
          if (byte === Telnet.IAC) this.state = State.Iac;
          else out[outLength++] = byte;
          break;
        case State.Iac:
          if (byte === Telnet.IAC) {
            out[outLength++] = byte;
            this.state = State.Data;
          } else if (
            byte === Telnet.WILL ||
            byte === Telnet.WONT ||
            byte === Telnet.DO ||
            byte === Telnet.DONT
          ) {
            this.verb = byte;
            this.state = State.Negotiation;
          } else if (byte === Telnet.SB) {
            this.state = State.SubOption;
          } else {
            // NOP, GA, AYT...: nothing an RFC 2217 link needs.
            this.state = State.Data;
          }
          break;
        case State.Negotiation:
          flushData();
          this.events.negotiation(this.verb, byte);
          this.state = State.Data;
          break;
        case State.SubOption:
          this.subOption = byte;
          this.sub = [];
          this.state = State.SubData;
          break;
        case State.SubData:
          if (byte === Telnet.IAC) this.state = State.SubIac;
          else if (this.sub.length < MAX_SUBNEGOTIATION_BYTES) this.sub.push(byte);
          break;
        case State.SubIac:
          if (byte === Telnet.IAC) {
            if (this.sub.length < MAX_SUBNEGOTIATION_BYTES) this.sub.push(byte);
            this.state = State.SubData;
          } else if (byte === Telnet.SE) {
            flushData();
            this.events.subnegotiation(this.subOption, Uint8Array.from(this.sub));
            this.sub = [];
            this.state = State.Data;
          } else {
            // IAC <other> inside SB is a protocol error; treat it as the end of the block.
            flushData();
            this.events.subnegotiation(this.subOption, Uint8Array.from(this.sub));
            this.sub = [];
            this.state = State.Data;
          }
          break;
      }
    }
    flushData();
  }
}

/** Doubles every 0xFF so data survives the Telnet layer. */
export function escapeIac(data: Uint8Array): Uint8Array {
  let count = 0;
  for (const byte of data) if (byte === Telnet.IAC) count++;
  if (count === 0) return data;
  const out = new Uint8Array(data.length + count);
  let at = 0;
  for (const byte of data) {
    out[at++] = byte;
    if (byte === Telnet.IAC) out[at++] = Telnet.IAC;
  }
  return out;
}

/** IAC <verb> <option>. */
export function negotiationBytes(verb: NegotiationVerb, option: number): Uint8Array {
  return Uint8Array.of(Telnet.IAC, verb, option);
}

/** IAC SB <option> <payload, 0xFF doubled> IAC SE. */
export function subnegotiationBytes(option: number, payload: Uint8Array): Uint8Array {
  const body = escapeIac(payload);
  const out = new Uint8Array(body.length + 5);
  out.set([Telnet.IAC, Telnet.SB, option], 0);
  out.set(body, 3);
  out.set([Telnet.IAC, Telnet.SE], 3 + body.length);
  return out;
}

/**
 * The server side's Telnet layer for RFC 2217: constants, a streaming parser
 * and encoders. (libs/sim depends on nothing but Node, so it carries its own
 * copy rather than sharing the client's.)
 */

/** Telnet command bytes. */
export const IAC = 0xff;
export const DONT = 0xfe;
export const DO = 0xfd;
export const WONT = 0xfc;
export const WILL = 0xfb;
export const SB = 0xfa;
export const SE = 0xf0;

/** Telnet options an RFC 2217 session uses. */
export const OPT_BINARY = 0x00;
export const OPT_ECHO = 0x01;
export const OPT_SGA = 0x03;
export const OPT_COM_PORT = 0x2c;

/** One of WILL, WONT, DO, DONT. */
export type Verb = typeof WILL | typeof WONT | typeof DO | typeof DONT;

/** Callbacks of TelnetStream, called in wire order. */
export interface TelnetStreamEvents {
  data(bytes: Uint8Array): void;
  negotiation(verb: Verb, option: number): void;
  subnegotiation(option: number, payload: Uint8Array): void;
}

/** Longest subnegotiation kept; a longer one is cut (COM-PORT values are at most 4 bytes). */
const MAX_SB_BYTES = 1024;

type State = 'data' | 'iac' | 'verb' | 'sb-option' | 'sb-data' | 'sb-iac';

/** Splits client bytes into data runs, negotiations and subnegotiations, keeping state across TCP chunks. */
export class TelnetStream {
  private state: State = 'data';
  private verb: Verb = WILL;
  private sbOption = 0;
  private sb: number[] = [];

  constructor(private readonly events: TelnetStreamEvents) {}

  /**
   * Feeds one TCP chunk. Plain data (the bulk of a flash) is found with
   * indexOf and handed on without a per-byte loop: a chunk without 0xFF goes
   * out as it came; otherwise its data runs are copied into one buffer per
   * chunk, emitted before each negotiation and at the end.
   */
  push(chunk: Uint8Array): void {
    if (this.state === 'data' && chunk.indexOf(IAC) < 0) {
      if (chunk.length > 0) this.events.data(chunk);
      return;
    }
    const out = new Uint8Array(chunk.length);
    let len = 0;
    let emitted = 0;
    const flush = (): void => {
      if (len === emitted) return;
      this.events.data(out.subarray(emitted, len));
      emitted = len;
    };
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'data') {
        const iac = chunk.indexOf(IAC, i);
        const end = iac < 0 ? chunk.length : iac;
        out.set(chunk.subarray(i, end), len);
        len += end - i;
        if (iac < 0) break;
        this.state = 'iac';
        i = iac + 1;
        continue;
      }
      const byte = chunk[i++];
      switch (this.state) {
        case 'iac':
          if (byte === IAC) {
            out[len++] = IAC;
            this.state = 'data';
          } else if (byte === WILL || byte === WONT || byte === DO || byte === DONT) {
            this.verb = byte;
            this.state = 'verb';
          } else if (byte === SB) this.state = 'sb-option';
          else this.state = 'data'; // NOP, AYT, GA...: meaningless for a serial port
          break;
        case 'verb':
          flush();
          this.events.negotiation(this.verb, byte);
          this.state = 'data';
          break;
        case 'sb-option':
          this.sbOption = byte;
          this.sb = [];
          this.state = 'sb-data';
          break;
        case 'sb-data':
          if (byte === IAC) this.state = 'sb-iac';
          else if (this.sb.length < MAX_SB_BYTES) this.sb.push(byte);
          break;
        case 'sb-iac':
          if (byte === IAC) {
            if (this.sb.length < MAX_SB_BYTES) this.sb.push(IAC);
            this.state = 'sb-data';
          } else {
            // IAC SE ends the block; any other command there is malformed and ends it too.
            flush();
            this.events.subnegotiation(this.sbOption, Uint8Array.from(this.sb));
            this.sb = [];
            this.state = 'data';
          }
          break;
      }
    }
    flush();
  }
}

/** Doubles every 0xFF of serial data. */
export function doubleIac(data: Uint8Array): Uint8Array {
  let next = data.indexOf(IAC);
  if (next < 0) return data;
  let extra = 0;
  for (let i = next; i >= 0; i = data.indexOf(IAC, i + 1)) extra++;
  const out = new Uint8Array(data.length + extra);
  let from = 0;
  let at = 0;
  // Copy up to and including each 0xFF, then add its double.
  for (; next >= 0; next = data.indexOf(IAC, from)) {
    out.set(data.subarray(from, next + 1), at);
    at += next + 1 - from;
    out[at++] = IAC;
    from = next + 1;
  }
  out.set(data.subarray(from), at);
  return out;
}

/** IAC <verb> <option>. */
export function encodeNegotiation(verb: Verb, option: number): Uint8Array {
  return Uint8Array.of(IAC, verb, option);
}

/** IAC SB COM-PORT <code> <value, 0xFF doubled> IAC SE. */
export function encodeComPort(code: number, value: Uint8Array): Uint8Array {
  const body = doubleIac(Uint8Array.from([code, ...value]));
  return Uint8Array.from([IAC, SB, OPT_COM_PORT, ...body, IAC, SE]);
}

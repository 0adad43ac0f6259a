/** SLIP framing as the ESP ROM and stubs use it (0xC0 delimiters, 0xDB escapes). */

export const SLIP_END = 0xc0;
export const SLIP_ESC = 0xdb;
export const SLIP_ESC_END = 0xdc;
export const SLIP_ESC_ESC = 0xdd;

/** Wraps one packet in 0xC0 delimiters, escaping 0xC0 and 0xDB. */
export function slipEncode(packet: Uint8Array): Uint8Array {
  let extra = 0;
  for (const b of packet) if (b === SLIP_END || b === SLIP_ESC) extra++;
  const out = new Uint8Array(packet.length + extra + 2);
  let o = 0;
  out[o++] = SLIP_END;
  for (const b of packet) {
    if (b === SLIP_END) {
      out[o++] = SLIP_ESC;
      out[o++] = SLIP_ESC_END;
    } else if (b === SLIP_ESC) {
      out[o++] = SLIP_ESC;
      out[o++] = SLIP_ESC_ESC;
    } else {
      out[o++] = b;
    }
  }
  out[o] = SLIP_END;
  return out;
}

/** What the device-side decoder hands up: a whole frame, or a frame it had to throw away. */
export type SlipEvent =
  { kind: 'frame'; data: Uint8Array } | { kind: 'dropped'; reason: 'escape' | 'oversize' };

/**
 * Device-side SLIP decoder. Bytes outside a frame are line noise and are
 * ignored (the ROM does the same); a bad escape or an over-long frame drops
 * the frame being assembled, and decoding resumes at the next 0xC0.
 */
export class SlipDecoder {
  private buf: Uint8Array;
  private len = 0;
  private inFrame = false;
  private escaped = false;
  private discarding = false;

  constructor(private readonly maxFrameBytes: number) {
    this.buf = new Uint8Array(Math.min(maxFrameBytes, 1024));
  }

  /** Feeds received bytes; returns the frames (and drops) completed by them. */
  push(bytes: Uint8Array): SlipEvent[] {
    const events: SlipEvent[] = [];
    for (const b of bytes) {
      if (b === SLIP_END) {
        if (this.inFrame && !this.discarding && this.len > 0) {
          events.push({ kind: 'frame', data: this.buf.slice(0, this.len) });
        }
        // A 0xC0 both ends a frame and may start the next one.
        this.inFrame = true;
        this.len = 0;
        this.escaped = false;
        this.discarding = false;
        continue;
      }
      if (!this.inFrame || this.discarding) continue;
      let value = b;
      if (this.escaped) {
        this.escaped = false;
        if (b === SLIP_ESC_END) value = SLIP_END;
        else if (b === SLIP_ESC_ESC) value = SLIP_ESC;
        else {
          this.discarding = true;
          events.push({ kind: 'dropped', reason: 'escape' });
          continue;
        }
      } else if (b === SLIP_ESC) {
        this.escaped = true;
        continue;
      }
      if (this.len >= this.maxFrameBytes) {
        this.discarding = true;
        events.push({ kind: 'dropped', reason: 'oversize' });
        continue;
      }
      if (this.len === this.buf.length) {
        const bigger = new Uint8Array(Math.min(this.maxFrameBytes, this.buf.length * 2));
        bigger.set(this.buf);
        this.buf = bigger;
      }
      this.buf[this.len++] = value;
    }
    return events;
  }

  /** Forgets any partial frame (a chip reset clears the UART FIFO). */
  reset(): void {
    this.len = 0;
    this.inFrame = false;
    this.escaped = false;
    this.discarding = false;
  }
}

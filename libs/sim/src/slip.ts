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

const ESCAPED_END = Uint8Array.of(SLIP_END);
const ESCAPED_ESC = Uint8Array.of(SLIP_ESC);

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

  /**
   * Feeds received bytes; returns the frames (and drops) completed by them.
   * Runs of plain bytes between delimiters and escapes are found with indexOf
   * and copied in bulk: a 16 KiB data frame costs a few copies, not a loop
   * over every byte.
   */
  push(bytes: Uint8Array): SlipEvent[] {
    const events: SlipEvent[] = [];
    const n = bytes.length;
    // Next 0xC0 / 0xDB at or after i; -1 once there is none left in this chunk.
    let nextEnd = -2;
    let nextEsc = -2;
    let i = 0;
    while (i < n) {
      if (nextEnd !== -1 && nextEnd < i) nextEnd = bytes.indexOf(SLIP_END, i);
      if (!this.inFrame || this.discarding) {
        // Outside a frame, or throwing one away: nothing matters until the next 0xC0.
        if (nextEnd < 0) break;
        i = nextEnd;
      } else if (!this.escaped) {
        if (nextEsc !== -1 && nextEsc < i) nextEsc = bytes.indexOf(SLIP_ESC, i);
        let stop = nextEnd < 0 ? n : nextEnd;
        if (nextEsc >= 0 && nextEsc < stop) stop = nextEsc;
        if (stop > i) {
          this.append(bytes.subarray(i, stop), events);
          i = stop;
          continue;
        }
      }
      const b = bytes[i++];
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
      if (this.escaped) {
        this.escaped = false;
        if (b === SLIP_ESC_END) this.append(ESCAPED_END, events);
        else if (b === SLIP_ESC_ESC) this.append(ESCAPED_ESC, events);
        else {
          this.discarding = true;
          events.push({ kind: 'dropped', reason: 'escape' });
        }
      } else if (b === SLIP_ESC) this.escaped = true;
    }
    return events;
  }

  /** Adds decoded bytes to the frame being assembled, or drops the frame once it grows too long. */
  private append(run: Uint8Array, events: SlipEvent[]): void {
    if (this.len + run.length > this.maxFrameBytes) {
      this.discarding = true;
      events.push({ kind: 'dropped', reason: 'oversize' });
      return;
    }
    if (this.len + run.length > this.buf.length) {
      let size = this.buf.length;
      while (size < this.len + run.length) size *= 2;
      const bigger = new Uint8Array(Math.min(this.maxFrameBytes, size));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    this.buf.set(run, this.len);
    this.len += run.length;
  }

  /** Forgets any partial frame (a chip reset clears the UART FIFO). */
  reset(): void {
    this.len = 0;
    this.inFrame = false;
    this.escaped = false;
    this.discarding = false;
  }
}

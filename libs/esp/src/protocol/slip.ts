/**
 * SLIP framing as the ESP ROM and stubs use it (reference §1.1): frames are
 * delimited by 0xC0; 0xC0 and 0xDB inside a frame are escaped.
 */

/** Frame delimiter. */
export const SLIP_END = 0xc0;
/** Escape introducer. */
export const SLIP_ESC = 0xdb;
/** Escaped 0xC0. */
export const SLIP_ESC_END = 0xdc;
/** Escaped 0xDB. */
export const SLIP_ESC_ESC = 0xdd;

/** Wraps one packet in a SLIP frame (leading and trailing 0xC0). */
export function slipEncode(packet: Uint8Array): Uint8Array {
  let escapes = 0;
  for (const b of packet) if (b === SLIP_END || b === SLIP_ESC) escapes++;
  const out = new Uint8Array(packet.length + escapes + 2);
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

/** What the decoder found in the byte stream. */
export type SlipEvent =
  | { kind: 'frame'; data: Uint8Array }
  /** Bytes outside any frame: boot banners, app output, line noise. */
  | { kind: 'text'; data: Uint8Array }
  /** A frame that had to be dropped (bad escape); the decoder resynchronised on the next 0xC0. */
  | { kind: 'corrupt'; reason: string };

/** Longest candidate frame kept; anything longer is line noise, not a reply (stub frames are ≤ 16 KiB + header). */
export const SLIP_MAX_FRAME_BYTES = 0x4000 + 0x200;

/**
 * Incremental SLIP decoder. Unlike esptool's reader it never gives up on a
 * stray byte. Bytes before the first 0xC0 are reported as text (boot
 * banners). After that every 0xC0 is a boundary and whatever lies between two
 * of them is a candidate frame: a stray 0xC0 in baud-switch garbage costs one
 * bogus candidate (which the reply parser rejects), never the alignment of
 * the following real frames. Empty frames (C0 C0) are dropped.
 */
export class SlipDecoder {
  private synced = false;
  private escaped = false;
  private corrupt: string | undefined;
  private frame: number[] = [];
  private text: number[] = [];

  /** Bytes of the frame in progress (lets a reader tell "mid-frame" from "idle" on timeout). */
  get pendingFrameBytes(): number {
    return this.frame.length;
  }

  /** Feeds received bytes; returns the complete frames, text runs and errors found so far. */
  push(bytes: Uint8Array): SlipEvent[] {
    const events: SlipEvent[] = [];
    for (const b of bytes) {
      if (!this.synced) {
        if (b === SLIP_END) {
          this.flushText(events);
          this.synced = true;
          this.startFrame();
        } else {
          this.text.push(b);
        }
        continue;
      }
      if (b === SLIP_END) {
        if (this.corrupt !== undefined) events.push({ kind: 'corrupt', reason: this.corrupt });
        else if (this.frame.length > 0) events.push({ kind: 'frame', data: Uint8Array.from(this.frame) });
        this.startFrame();
        continue;
      }
      if (this.corrupt !== undefined) continue;
      if (this.frame.length >= SLIP_MAX_FRAME_BYTES) {
        this.corrupt = 'frame longer than any reply';
        continue;
      }
      if (this.escaped) {
        this.escaped = false;
        if (b === SLIP_ESC_END) this.frame.push(SLIP_END);
        else if (b === SLIP_ESC_ESC) this.frame.push(SLIP_ESC);
        else this.corrupt = `invalid SLIP escape 0xdb 0x${b.toString(16).padStart(2, '0')}`;
      } else if (b === SLIP_ESC) {
        this.escaped = true;
      } else {
        this.frame.push(b);
      }
    }
    this.flushText(events);
    return events;
  }

  /** Forgets any partial frame and goes back to expecting text (after a reset or input flush). */
  reset(): void {
    this.synced = false;
    this.startFrame();
    this.text = [];
  }

  private startFrame(): void {
    this.escaped = false;
    this.corrupt = undefined;
    this.frame = [];
  }

  private flushText(events: SlipEvent[]): void {
    if (this.text.length > 0) {
      events.push({ kind: 'text', data: Uint8Array.from(this.text) });
      this.text = [];
    }
  }
}

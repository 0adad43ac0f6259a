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

/**
 * Wraps one packet in a SLIP frame (leading and trailing 0xC0). Every data
 * block the flasher sends passes through here, so the bytes to escape are
 * found with indexOf (native scans) and the runs between them are copied
 * whole, instead of testing and storing each byte in JavaScript.
 */
export function slipEncode(packet: Uint8Array): Uint8Array {
  const src = asBuffer(packet);
  let escapes = 0;
  for (let i = src.indexOf(SLIP_END); i !== -1; i = src.indexOf(SLIP_END, i + 1)) escapes++;
  for (let i = src.indexOf(SLIP_ESC); i !== -1; i = src.indexOf(SLIP_ESC, i + 1)) escapes++;
  const out = new Uint8Array(packet.length + escapes + 2);
  out[0] = SLIP_END;
  let o = 1;
  let from = 0;
  let nextEnd = escapes === 0 ? -1 : src.indexOf(SLIP_END);
  let nextEsc = escapes === 0 ? -1 : src.indexOf(SLIP_ESC);
  while (nextEnd !== -1 || nextEsc !== -1) {
    const isEnd = nextEsc === -1 || (nextEnd !== -1 && nextEnd < nextEsc);
    const at = isEnd ? nextEnd : nextEsc;
    o += src.copy(out, o, from, at);
    out[o++] = SLIP_ESC;
    if (isEnd) {
      out[o++] = SLIP_ESC_END;
      nextEnd = src.indexOf(SLIP_END, at + 1);
    } else {
      out[o++] = SLIP_ESC_ESC;
      nextEsc = src.indexOf(SLIP_ESC, at + 1);
    }
    from = at + 1;
  }
  src.copy(out, o, from);
  out[out.length - 1] = SLIP_END;
  return out;
}

/** A Buffer view of the same bytes (no copy): its indexOf and copy are native scans and memcpy. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
  /** The frame in progress, in one buffer reused for every frame (no frame is longer). */
  private readonly frame = new Uint8Array(SLIP_MAX_FRAME_BYTES);
  private frameLength = 0;
  private text: Uint8Array[] = [];

  /** Bytes of the frame in progress (lets a reader tell "mid-frame" from "idle" on timeout). */
  get pendingFrameBytes(): number {
    return this.frameLength;
  }

  /**
   * Feeds received bytes; returns the complete frames, text runs and errors
   * found so far. Frame boundaries and escapes are found with indexOf and the
   * runs between them copied whole (READ_FLASH data and every reply pass here).
   */
  push(input: Uint8Array): SlipEvent[] {
    const events: SlipEvent[] = [];
    const bytes = asBuffer(input);
    let i = 0;
    while (i < bytes.length) {
      const end = bytes.indexOf(SLIP_END, i);
      const stop = end === -1 ? bytes.length : end;
      if (!this.synced) {
        if (stop > i) this.text.push(new Uint8Array(bytes.subarray(i, stop)));
        if (end === -1) break;
        this.flushText(events);
        this.synced = true;
        this.startFrame();
      } else {
        this.take(bytes.subarray(i, stop));
        if (end === -1) break;
        if (this.corrupt !== undefined) events.push({ kind: 'corrupt', reason: this.corrupt });
        else if (this.frameLength > 0)
          events.push({ kind: 'frame', data: this.frame.slice(0, this.frameLength) });
        this.startFrame();
      }
      i = end + 1;
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

  /** Appends bytes inside a frame (no 0xC0 among them), undoing escapes. */
  private take(run: Buffer): void {
    let p = 0;
    while (p < run.length && this.corrupt === undefined) {
      if (this.escaped) {
        if (this.frameLength >= SLIP_MAX_FRAME_BYTES) {
          this.corrupt = 'frame longer than any reply';
          return;
        }
        this.escaped = false;
        const b = run[p++];
        if (b === SLIP_ESC_END) this.frame[this.frameLength++] = SLIP_END;
        else if (b === SLIP_ESC_ESC) this.frame[this.frameLength++] = SLIP_ESC;
        else this.corrupt = `invalid SLIP escape 0xdb 0x${b.toString(16).padStart(2, '0')}`;
        continue;
      }
      const esc = run.indexOf(SLIP_ESC, p);
      const stop = esc === -1 ? run.length : esc;
      const room = SLIP_MAX_FRAME_BYTES - this.frameLength;
      if (stop - p > room || (esc !== -1 && room === stop - p)) {
        // One byte more than the longest reply (the escape introducer counts too).
        this.corrupt = 'frame longer than any reply';
        return;
      }
      this.frameLength += run.copy(this.frame, this.frameLength, p, stop);
      if (esc === -1) return;
      this.escaped = true;
      p = esc + 1;
    }
  }

  private startFrame(): void {
    this.escaped = false;
    this.corrupt = undefined;
    this.frameLength = 0;
  }

  private flushText(events: SlipEvent[]): void {
    if (this.text.length === 0) return;
    const data = this.text.length === 1 ? this.text[0] : concat(this.text);
    events.push({ kind: 'text', data });
    this.text = [];
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

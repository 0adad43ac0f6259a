/**
 * Recorded client sessions (test fixtures of esptool's traffic): the step
 * format, and the SLIP framing helpers the recorder and the replay share.
 */

/** One step of a recorded session: a line or baud command of the client, a request it sent, a reply it got. */
export type RecordedStep =
  | { atMs: number; control: number }
  | { atMs: number; baud: number }
  /** A request frame (SLIP-decoded, base64); `redacted` when its payload was replaced (stub upload). */
  | { atMs: number; send: string; redacted?: boolean }
  /** A reply frame (SLIP-decoded, base64). */
  | { atMs: number; recv: string };

/** What a recording fixture holds. */
export interface RecordedSession {
  recordedWith: string;
  command: string;
  board: { chip: string; name: string; mac: string; resetMode: 'local' | 'pass-through' };
  /** The stub the client uploaded: its catalogue entry, and the digest of the filler that replaced it. */
  stub: {
    recognisedAs: string;
    textSha256: string | null;
    textStart: number | null;
    entry: number;
    fillerTextSha256: string | null;
  } | null;
  warnings: string[];
  steps: RecordedStep[];
}

/** Splits a byte stream into SLIP frame payloads (what lies between two C0 delimiters, unescaped). */
export class FrameSplitter {
  private frame: number[] | null = null;
  private escaped = false;

  /** Feeds bytes; calls out with each complete frame. Bytes before the first C0 are dropped. */
  push(bytes: Uint8Array, out: (frame: Uint8Array) => void): void {
    for (const byte of bytes) {
      if (byte === 0xc0) {
        if (this.frame && this.frame.length > 0) out(Uint8Array.from(this.frame));
        this.frame = [];
        this.escaped = false;
        continue;
      }
      if (!this.frame) continue;
      if (this.escaped) {
        this.frame.push(byte === 0xdc ? 0xc0 : byte === 0xdd ? 0xdb : byte);
        this.escaped = false;
      } else if (byte === 0xdb) this.escaped = true;
      else this.frame.push(byte);
    }
  }
}

/**
 * True for a protocol reply (01 op size value … status) or the stub's OHAI. Boot text
 * between two frames also arrives as "a frame" and is neither.
 */
export function isReplyFrame(frame: Uint8Array): boolean {
  if (frame.length === 4 && Buffer.from(frame).toString('latin1') === 'OHAI') return true;
  if (frame.length < 10 || frame[0] !== 0x01) return false;
  return frame.length === 8 + (frame[2] | (frame[3] << 8));
}

/** True for a request frame (00 op size checksum body). */
export function isRequestFrame(frame: Uint8Array): boolean {
  return frame.length >= 8 && frame[0] === 0x00 && frame.length === 8 + (frame[2] | (frame[3] << 8));
}

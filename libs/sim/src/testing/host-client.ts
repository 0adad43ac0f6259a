/**
 * A minimal host side of the bootloader protocol over a SimPortHandle, for
 * the simulator's own tests: send requests, collect SLIP frames, wait with
 * deadlines. It is deliberately independent of libs/esp (the flasher), so the
 * simulator is checked against the reference, not against our own flasher.
 */
import { type SimPortHandle } from '../port.js';
import { SLIP_END, SLIP_ESC, SLIP_ESC_END, SLIP_ESC_ESC, slipEncode } from '../slip.js';

/** A decoded reply frame. */
export interface ReplyFrame {
  raw: Uint8Array;
  direction: number;
  op: number;
  size: number;
  value: number;
  data: Uint8Array;
}

/** Builds an unframed request: 00, op, size, checksum, body. */
export function request(op: number, body: Uint8Array = new Uint8Array(0), checksum = 0): Uint8Array {
  const pkt = new Uint8Array(8 + body.length);
  const view = new DataView(pkt.buffer);
  pkt[1] = op;
  view.setUint16(2, body.length, true);
  view.setUint32(4, checksum, true);
  pkt.set(body, 8);
  return pkt;
}

/** Little-endian u32 words as bytes. */
export function le32(...values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setUint32(i * 4, v >>> 0, true));
  return out;
}

/** XOR checksum seeded with 0xEF. */
export function xorChecksum(data: Uint8Array): number {
  let s = 0xef;
  for (const b of data) s ^= b;
  return s;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** The SYNC request body. */
export const SYNC_REQUEST_BODY = Uint8Array.from([
  0x07,
  0x07,
  0x12,
  0x20,
  ...new Array<number>(32).fill(0x55),
]);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Host-side helper around one open port. */
export class HostClient {
  /** Length of the status field in replies: 4 for ESP32-family ROMs, 2 for the ESP8266 ROM and any stub. */
  statusBytes = 4;
  /** Every byte received, in order. */
  readonly received: number[] = [];
  private frames: Uint8Array[] = [];
  private partial: number[] | null = null;
  private escaped = false;

  constructor(readonly port: SimPortHandle) {
    port.onData((bytes) => this.onBytes(bytes));
  }

  private onBytes(bytes: Uint8Array): void {
    for (const b of bytes) {
      this.received.push(b);
      if (b === SLIP_END) {
        if (this.partial && this.partial.length > 0) this.frames.push(Uint8Array.from(this.partial));
        this.partial = [];
        this.escaped = false;
        continue;
      }
      if (!this.partial) continue;
      if (this.escaped) {
        this.escaped = false;
        this.partial.push(b === SLIP_ESC_END ? SLIP_END : b === SLIP_ESC_ESC ? SLIP_ESC : b);
      } else if (b === SLIP_ESC) this.escaped = true;
      else this.partial.push(b);
    }
  }

  /** Drops everything received so far. */
  flush(): void {
    this.received.length = 0;
    this.frames = [];
    this.partial = null;
    this.escaped = false;
  }

  /** Received bytes as latin1 text (banners, boot logs). */
  get text(): string {
    return Buffer.from(this.received).toString('latin1');
  }

  /** Sends raw bytes. */
  writeRaw(bytes: Uint8Array): void {
    this.port.write(bytes);
  }

  /** Sends one request, SLIP-framed. */
  send(op: number, body: Uint8Array = new Uint8Array(0), checksum = 0): void {
    this.port.write(slipEncode(request(op, body, checksum)));
  }

  /** Waits for the next frame (any content) until the deadline. */
  async nextFrame(timeoutMs = 2000): Promise<Uint8Array> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const frame = this.frames.shift();
      if (frame) return frame;
      if (Date.now() > deadline) throw new Error(`no frame within ${timeoutMs} ms`);
      await sleep(1);
    }
  }

  /** Waits for the next reply frame (direction 1), skipping others. */
  async nextReply(timeoutMs = 2000): Promise<ReplyFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const raw = await this.nextFrame(Math.max(1, deadline - Date.now()));
      if (raw.length < 8 || raw[0] !== 1) continue;
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return {
        raw,
        direction: raw[0],
        op: raw[1],
        size: view.getUint16(2, true),
        value: view.getUint32(4, true),
        data: raw.subarray(8),
      };
    }
  }

  /** Sends a request and waits for its reply (matching opcode), as esptool does. */
  async command(
    op: number,
    body: Uint8Array = new Uint8Array(0),
    checksum = 0,
    timeoutMs = 2000,
  ): Promise<ReplyFrame> {
    this.send(op, body, checksum);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const reply = await this.nextReply(Math.max(1, deadline - Date.now()));
      if (reply.op === op) return reply;
    }
  }

  /** Collects frames until none arrives for quietMs. */
  async drain(quietMs = 30): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (;;) {
      try {
        out.push(await this.nextFrame(quietMs));
      } catch {
        return out;
      }
    }
  }

  /** Waits until the received text matches. */
  async waitForText(pattern: RegExp, timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.text)) {
      if (Date.now() > deadline)
        throw new Error(`text ${JSON.stringify(this.text.slice(-200))} never matched ${pattern}`);
      await sleep(1);
    }
  }

  /** esptool's Classic reset with atomic line updates: EN low, then IO0 low while EN rises, then release. */
  async classicReset(delayMs = 50): Promise<void> {
    this.port.setSignals({ dtr: false, rts: true });
    await sleep(100);
    this.port.setSignals({ dtr: true, rts: false });
    await sleep(delayMs);
    this.port.setSignals({ dtr: false, rts: false });
  }

  /** Resets into the ROM loader and syncs as a host does: flush, SYNC, retry on silence. */
  async enterBootloader(attempts = 10): Promise<void> {
    await this.classicReset();
    for (let i = 0; i < attempts; i++) {
      await sleep(5);
      this.flush();
      try {
        await this.sync(100);
        await sleep(5);
        this.flush();
        return;
      } catch {
        // No answer yet: the banner may still be on the line.
      }
    }
    throw new Error('no SYNC reply after reset');
  }

  /** Sends SYNC and collects the 8 replies. */
  async sync(timeoutMs = 500): Promise<ReplyFrame[]> {
    const first = await this.command(0x08, SYNC_REQUEST_BODY, 0, timeoutMs);
    const replies = [first];
    while (replies.length < 8) replies.push(await this.nextReply(timeoutMs));
    return replies;
  }

  /** Throws unless the reply's status says success. */
  expectOk(reply: ReplyFrame): ReplyFrame {
    const [failed, code] = statusOf(reply, this.statusBytes);
    if (failed !== 0) throw new Error(`command 0x${reply.op.toString(16)} failed with ${failed}/${code}`);
    return reply;
  }

  /**
   * Uploads RAM segments with MEM_BEGIN/MEM_DATA (6144-byte blocks) and sends
   * MEM_END(0, entry), as esptool does to start its stub. Resolves with the
   * frame that follows the MEM_END reply (OHAI for a stub).
   */
  async runRamCode(
    segments: ReadonlyArray<{ address: number; data: Uint8Array }>,
    entry: number,
  ): Promise<Uint8Array> {
    const block = 0x1800;
    for (const { address, data } of segments) {
      const blocks = Math.ceil(data.length / block);
      this.expectOk(await this.command(0x05, le32(data.length, blocks, block, address)));
      for (let seq = 0; seq < blocks; seq++) {
        const chunk = data.subarray(seq * block, (seq + 1) * block);
        this.expectOk(
          await this.command(0x07, concat(le32(chunk.length, seq, 0, 0), chunk), xorChecksum(chunk)),
        );
      }
    }
    this.expectOk(await this.command(0x06, le32(0, entry)));
    return this.nextFrame(1000);
  }
}

/** The two meaningful status bytes of a reply whose status field is `statusBytes` long (2 or 4). */
export function statusOf(reply: ReplyFrame, statusBytes: number): [number, number] {
  const at = reply.data.length - statusBytes;
  return [reply.data[at] ?? -1, reply.data[at + 1] ?? -1];
}

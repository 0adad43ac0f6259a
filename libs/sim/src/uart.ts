import { type Cancel, type Prng, type SimClock } from './clock.js';

/** Bits on the wire per byte: start, 8 data, stop. */
export const UART_BITS_PER_BYTE = 10;
/** A receiver tolerates a few percent of baud error; beyond this it samples garbage. */
export const UART_BAUD_TOLERANCE = 0.03;

/**
 * One direction of a serial line. Each byte occupies 10 bit-times of the
 * sender's baud; bytes are queued behind each other and delivered in order
 * in chunks (one timer per write, not per byte), after an optional latency.
 */
export class UartDirection {
  private lineFreeAt = 0;
  private lastDeliveryAt = 0;
  private readonly queue: Array<{ at: number; bytes: Uint8Array }> = [];
  private timer: Cancel | null = null;

  constructor(
    private readonly clock: SimClock,
    private readonly deliver: (bytes: Uint8Array) => void,
  ) {}

  /** Queues bytes sent at `baud` (0 = no line time, e.g. USB), arriving `latencyMs` (real) after their last bit. */
  send(bytes: Uint8Array, baud: number, latencyMs: number): void {
    if (bytes.length === 0) return;
    const now = this.clock.now();
    const start = Math.max(now, this.lineFreeAt);
    const lineMs = baud > 0 ? this.clock.scaled((bytes.length * UART_BITS_PER_BYTE * 1000) / baud) : 0;
    this.lineFreeAt = start + lineMs;
    const at = Math.max(this.lineFreeAt + latencyMs, this.lastDeliveryAt);
    this.lastDeliveryAt = at;
    this.queue.push({ at, bytes });
    this.arm();
  }

  /** Real time at which everything queued so far has been delivered. */
  get drainedAt(): number {
    return Math.max(this.lastDeliveryAt, this.clock.now());
  }

  /** True while bytes are queued or on their way. */
  get inFlight(): boolean {
    return this.queue.length > 0;
  }

  /** Drops everything in flight (unplug, power loss). */
  clear(): void {
    this.queue.length = 0;
    this.timer?.();
    this.timer = null;
    this.lineFreeAt = 0;
    this.lastDeliveryAt = 0;
  }

  private arm(): void {
    if (this.timer || this.queue.length === 0) return;
    const wait = Math.max(0, this.queue[0].at - this.clock.now());
    this.timer = this.clock.afterReal(wait, () => {
      this.timer = null;
      const now = this.clock.now() + 0.5;
      let due = 0;
      while (due < this.queue.length && this.queue[due].at <= now) due++;
      // Everything that has arrived by now goes up in one piece, as a bridge hands the host
      // whatever its FIFO holds (a timer that fired late finds several writes due).
      const chunks = this.queue.splice(0, due).map((entry) => entry.bytes);
      if (chunks.length === 1) this.deliver(chunks[0]);
      else if (chunks.length > 1) this.deliver(Buffer.concat(chunks));
      this.arm();
    });
  }
}

/** True when a receiver at rxBaud cannot decode bytes sent at txBaud. */
export function baudMismatch(txBaud: number, rxBaud: number): boolean {
  return Math.abs(txBaud / rxBaud - 1) > UART_BAUD_TOLERANCE;
}

/**
 * What a receiver at the wrong baud makes of the bytes: about
 * n × rxBaud / txBaud bytes of noise (a faster sender's bytes merge, a slower
 * one's split).
 */
export function garble(bytes: Uint8Array, txBaud: number, rxBaud: number, rng: Prng): Uint8Array {
  const count = Math.max(1, Math.round((bytes.length * rxBaud) / txBaud));
  const out = new Uint8Array(count);
  // Four noise bytes per draw: a slow sender read at 921 600 baud makes ~8 bytes of noise per byte.
  for (let i = 0; i < count; i += 4) {
    const word = (rng.next() * 4294967296) >>> 0;
    for (let k = 0; k < 4 && i + k < count; k++) out[i + k] = (word >>> (8 * k)) & 0xff;
  }
  return out;
}

/** Flips each bit with probability `bitErrorRate`. */
export function flipBits(bytes: Uint8Array, bitErrorRate: number, rng: Prng): Uint8Array {
  if (bitErrorRate <= 0) return bytes;
  const out = bytes.slice();
  // Drawing per byte keeps the cost per byte constant for small rates.
  const byteRate = 1 - Math.pow(1 - bitErrorRate, 8);
  for (let i = 0; i < out.length; i++) {
    if (rng.next() < byteRate) out[i] ^= 1 << rng.int(8);
  }
  return out;
}

/** Removes each byte with probability `dropRate`. */
export function dropBytes(bytes: Uint8Array, dropRate: number, rng: Prng): Uint8Array {
  if (dropRate <= 0) return bytes;
  const kept = new Uint8Array(bytes.length);
  let n = 0;
  for (const b of bytes) if (rng.next() >= dropRate) kept[n++] = b;
  return kept.subarray(0, n);
}

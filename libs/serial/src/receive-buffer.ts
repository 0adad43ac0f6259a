import { FlashErrorCode } from '#contracts';
import { TransportError } from './transport-error.js';

interface Waiter {
  maxBytes: number;
  resolve: (bytes: Uint8Array) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/**
 * Bytes received from a port and not yet read, with the Transport.read
 * contract: resolve with what is there (at most maxBytes), or wait up to a
 * deadline for the first byte. Waiters are woken by arriving data, never by
 * polling.
 */
export class ReceiveBuffer {
  private chunks: Uint8Array[] = [];
  private size = 0;
  private readonly waiters: Waiter[] = [];
  private failure: Error | undefined;

  /** @param portName used in error messages */
  constructor(private readonly portName: string) {}

  /** Number of bytes waiting to be read. */
  get available(): number {
    return this.size;
  }

  /** Appends received bytes and wakes waiting readers. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0 || this.failure) return;
    // Copied: sources may reuse their buffers once the callback returns.
    this.chunks.push(bytes.slice());
    this.size += bytes.length;
    while (this.waiters.length > 0 && this.size > 0) {
      const waiter = this.waiters.shift()!;
      clearTimeout(waiter.timer);
      waiter.resolve(this.take(waiter.maxBytes));
    }
  }

  /** See Transport.read. */
  read(timeoutMs: number, maxBytes = Number.POSITIVE_INFINITY): Promise<Uint8Array> {
    if (!(maxBytes >= 1)) {
      return Promise.reject(
        new TransportError(FlashErrorCode.INVALID_ARGUMENT, `maxBytes must be at least 1 (got ${maxBytes})`, {
          port: this.portName,
        }),
      );
    }
    if (this.size > 0) return Promise.resolve(this.take(maxBytes));
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<Uint8Array>((resolve, reject) => {
      const waiter: Waiter = {
        maxBytes,
        resolve,
        reject,
        timer: setTimeout(
          () => {
            const index = this.waiters.indexOf(waiter);
            if (index >= 0) this.waiters.splice(index, 1);
            reject(
              new TransportError(FlashErrorCode.TIMEOUT, `${this.portName}: no data within ${timeoutMs} ms`, {
                port: this.portName,
              }),
            );
          },
          Math.max(0, timeoutMs),
        ),
      };
      this.waiters.push(waiter);
    });
  }

  /** Discards everything not yet read. */
  clear(): void {
    this.chunks = [];
    this.size = 0;
  }

  /**
   * Marks the source as gone: bytes already received can still be read, then
   * every read rejects with err. Waiting readers reject at once.
   */
  fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(err);
    }
  }

  /** Makes the buffer usable again after fail() (the port was reopened). */
  reset(): void {
    this.clear();
    this.failure = undefined;
  }

  private take(maxBytes: number): Uint8Array {
    if (this.chunks.length === 1 && this.chunks[0].length <= maxBytes) {
      const only = this.chunks[0];
      this.chunks = [];
      this.size = 0;
      return only;
    }
    const count = Math.min(maxBytes, this.size);
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const head = this.chunks[0];
      const need = count - filled;
      if (head.length <= need) {
        out.set(head, filled);
        filled += head.length;
        this.chunks.shift();
      } else {
        out.set(head.subarray(0, need), filled);
        this.chunks[0] = head.subarray(need);
        filled += need;
      }
    }
    this.size -= count;
    return out;
  }
}

import { type Inflate, constants, createInflate } from 'node:zlib';

/** What one pushed block of a zlib stream produced. */
export interface InflateStep {
  output: Uint8Array;
  /** Set once the stream is corrupt; no more output follows. */
  error: Error | null;
}

/**
 * Inflates a zlib stream block by block, as the ROM and stubs do across
 * FLASH_DEFL_DATA commands: each block's output is available as soon as the
 * block has been pushed, without waiting for the end of the stream.
 */
export class BlockInflater {
  private readonly z: Inflate;
  private pending: Buffer[] = [];
  private failure: Error | null = null;
  private onFailure: (() => void) | null = null;
  private finished = false;

  constructor() {
    // inflate() emits all the output its input allows whatever the flush mode, so one write per
    // block is enough: a separate flush would cost a second trip through the thread pool.
    this.z = createInflate({ flush: constants.Z_SYNC_FLUSH });
    this.z.on('data', (chunk: Buffer) => this.pending.push(chunk));
    this.z.on('end', () => {
      this.finished = true;
    });
    this.z.on('error', (err: Error) => {
      this.failure = err;
      this.onFailure?.();
    });
  }

  /** True once the stream's end marker (and Adler-32) has been consumed. */
  get ended(): boolean {
    return this.finished;
  }

  /** Feeds one block; resolves with the bytes it produced. */
  push(block: Uint8Array): Promise<InflateStep> {
    if (this.failure) return Promise.resolve({ output: new Uint8Array(0), error: this.failure });
    return new Promise((resolve) => {
      let settled = false;
      const settle = (): void => {
        if (settled) return;
        settled = true;
        this.onFailure = null;
        const output = new Uint8Array(Buffer.concat(this.pending));
        this.pending = [];
        resolve({ output, error: this.failure });
      };
      this.onFailure = settle;
      this.z.write(block, () => {
        // Output the stream still buffers (none in flowing mode, normally) comes out through 'data' first.
        while (this.z.readableLength > 0 && this.z.read() !== null);
        settle();
      });
    });
  }

  /** Releases the zlib handle. */
  close(): void {
    this.onFailure = null;
    this.z.removeAllListeners('data');
    this.z.on('error', () => undefined);
    this.z.destroy();
  }
}

/** Real delays shorter than this run on the next event-loop turn (setImmediate), not on a timer. */
export const IMMEDIATE_BELOW_MS = 0.5;

/** A cancellable pending action. */
export type Cancel = () => void;

/**
 * Schedules the simulator's work. Durations are simulated milliseconds,
 * multiplied by timeScale (1 = real time, 0.01 = 100× faster, 0 = as soon
 * as possible, still asynchronous and in order). Every timer is tracked so a
 * board can be disposed without leaving work behind.
 */
export class SimClock {
  private readonly pending = new Set<Cancel>();

  constructor(public timeScale: number) {
    if (!(timeScale >= 0) || !Number.isFinite(timeScale))
      throw new RangeError(`timeScale must be ≥ 0, got ${timeScale}`);
  }

  /** Host-side time in milliseconds (monotonic). */
  now(): number {
    return performance.now();
  }

  /** Converts a simulated duration to the real one. */
  scaled(simMs: number): number {
    return simMs * this.timeScale;
  }

  /** Runs fn after a simulated duration. */
  after(simMs: number, fn: () => void): Cancel {
    return this.afterReal(this.scaled(simMs), fn);
  }

  /**
   * Runs fn after a real duration (electrical effects that race the host's
   * own real-time sleeps). With `unref`, the timer does not keep Node alive.
   */
  afterReal(realMs: number, optionsOrFn: { unref: boolean } | (() => void), maybeFn?: () => void): Cancel {
    const fn = typeof optionsOrFn === 'function' ? optionsOrFn : maybeFn!;
    const unref = typeof optionsOrFn === 'function' ? false : optionsOrFn.unref;
    let cancel: Cancel;
    const run = (): void => {
      this.pending.delete(cancel);
      fn();
    };
    if (realMs < IMMEDIATE_BELOW_MS && !unref) {
      const handle = setImmediate(run);
      cancel = () => {
        clearImmediate(handle);
        this.pending.delete(cancel);
      };
    } else {
      const handle = setTimeout(run, realMs);
      if (unref) handle.unref();
      cancel = () => {
        clearTimeout(handle);
        this.pending.delete(cancel);
      };
    }
    this.pending.add(cancel);
    return cancel;
  }

  /** Cancels everything still pending. */
  cancelAll(): void {
    for (const cancel of [...this.pending]) cancel();
  }
}

/** Small seeded PRNG (mulberry32): faults and garbage are reproducible from a board's seed. */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

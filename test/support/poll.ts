/** Options for pollUntil. */
export interface PollOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Says what was awaited, for the timeout message. */
  what?: string;
}

/**
 * Calls `probe` until it returns a value other than undefined/false, or the
 * deadline passes; then fails naming what was awaited and the last value or
 * error seen. Tests wait on state this way, never on fixed sleeps.
 */
export async function pollUntil<T>(
  probe: () => T | Promise<T>,
  options: PollOptions = {},
): Promise<Exclude<T, false | undefined>> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const interval = options.intervalMs ?? 25;
  let last: unknown;
  for (;;) {
    try {
      // A probe that never settles must not hang the test: it counts as a failed try.
      const value = await within(
        Promise.resolve(probe()),
        Math.max(1, deadline - Date.now()),
        `a probe of ${options.what ?? 'a condition'}`,
      );
      if (value !== undefined && value !== false) return value as Exclude<T, false | undefined>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(
        `Timed out after ${options.timeoutMs ?? 10_000} ms waiting for ${options.what ?? 'a condition'} (last: ${detail})`,
      );
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/**
 * Awaits `promise`, or fails after `ms` naming `what` — so a step that never
 * settles reports itself instead of running into the test's overall timeout.
 */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

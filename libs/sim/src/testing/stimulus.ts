/**
 * Real time as a stimulus: how long a test holds a simulated input in one state
 * (a reset or button pulse) or paces a producer (a gap between batches). Never
 * a way to wait for a result: tests wait on facts with pollUntil, events
 * (waitForConsole, onModeChange) or replies, and the lint forbids sleeps in
 * tests outside test support. libs/sim keeps its own copy of test/support's
 * helpers because libs/sim depends on nothing but Node.
 */

/** Lets `ms` of real time pass while an input is held or a producer paces itself. */
export function holdFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Checks `cond` until it holds, or fails after `timeoutMs` naming `what`: how
 * the simulator's own tests wait on state they cannot subscribe to.
 */
export async function pollUntil(cond: () => boolean, timeoutMs = 2000, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

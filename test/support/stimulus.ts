/**
 * Real time as a stimulus: how long a test holds a simulated input in one state
 * (a reset or button pulse) or paces a producer (a gap between batches). Never
 * a way to wait for a result: tests wait on facts with pollUntil/within,
 * events or metrics, and the lint forbids sleeps outside test support.
 */

/** Lets `ms` of real time pass while an input is held or a producer paces itself. */
export function holdFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

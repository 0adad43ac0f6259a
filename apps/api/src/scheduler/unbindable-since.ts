/**
 * When the scheduler first saw each waiting run with no board that could take it, for the bounded
 * waits (FLASHFARM_PINNED_REQUEUE_WAIT_MS) of pinned runs and of stranded "all" slots.
 *
 * A wait counts from the first pass that saw the run unbindable, not from its queuedAt: a first
 * attempt may have queued long ago behind other work on a board that was fine then, and must still
 * get the whole wait once that board goes. The record is this replica's memory: after an api restart
 * a wait starts again, which only lengthens it; with several replicas the first to see the wait out
 * ends the run.
 */
export class UnbindableSince {
  private readonly since = new Map<string, number>();
  private seen = new Set<string>();

  /** Starts a scheduling pass. */
  beginPass(): void {
    this.seen = new Set();
  }

  /** Records that the run cannot be bound in this pass; returns how long it has been so, in ms. */
  waitedMs(runId: string, nowMs: number): number {
    const since = this.since.get(runId) ?? nowMs;
    this.since.set(runId, since);
    this.seen.add(runId);
    return nowMs - since;
  }

  /**
   * Ends the pass: a run not recorded in it (bound, ended, or its board usable again) starts from
   * zero if it is ever unbindable again, so a board that comes and goes never adds up partial waits.
   */
  endPass(): void {
    for (const runId of this.since.keys()) if (!this.seen.has(runId)) this.since.delete(runId);
  }
}

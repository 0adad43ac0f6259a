/** The onDisconnect bookkeeping every transport shares: listeners run at most once per open. */
export class DisconnectListeners {
  private readonly listeners = new Set<(reason: Error) => void>();
  private fired = false;

  /** Adds a listener; returns its removal. */
  add(listener: (reason: Error) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls every listener once; later calls do nothing until rearm(). */
  fire(reason: Error): void {
    if (this.fired) return;
    this.fired = true;
    for (const listener of [...this.listeners]) {
      try {
        listener(reason);
      } catch {
        // A listener's own failure must not stop the others from hearing about the loss.
      }
    }
  }

  /** Allows fire() again (after a reopen). */
  rearm(): void {
    this.fired = false;
  }
}

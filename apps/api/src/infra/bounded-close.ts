/**
 * Shutdown steps that talk to Redis, bounded. BullMQ's queues and workers wait for their connection
 * when they close: with Redis unreachable, an api told to stop (SIGTERM from an orchestrator during a
 * Redis outage) would wait forever. Each such step gets a few seconds, then its connections are cut.
 */

/** How long one Redis-bound close may take before its connections are cut. */
export const REDIS_CLOSE_TIMEOUT_MS = 3_000;

/** Something with a graceful close and a forced disconnect (a BullMQ Queue or Worker). */
export interface Closable {
  close(): Promise<unknown>;
  disconnect(): unknown;
}

/**
 * Closes `target`, or disconnects it when the close has not finished within `ms`. Resolves true when
 * the close finished, false when the connections were cut instead; never rejects.
 */
export async function closeWithin(target: Closable, ms = REDIS_CLOSE_TIMEOUT_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), ms);
  });
  try {
    const outcome = await Promise.race([target.close().then(() => 'closed' as const), expired]);
    if (outcome === 'closed') return true;
  } catch {
    // A close that failed leaves the same thing to do as one that hung: cut the connections.
  } finally {
    clearTimeout(timer);
  }
  // The forced disconnect may wait on the connection too: it is started, not awaited.
  void Promise.resolve()
    .then(() => target.disconnect())
    .catch(() => undefined);
  return false;
}

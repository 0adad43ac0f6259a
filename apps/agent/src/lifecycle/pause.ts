/**
 * A pause that an abort cuts short and that never rejects: retry loops (registration, a console, a lid
 * watch) wait between tries with it and then look at their own signal to know whether to go on.
 */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * Matching a job's boot-check pattern against the console text, off the
 * agent's main loop and within a time budget. The pattern comes from whoever
 * submitted the job; the api refuses unsafe ones (libs/contracts
 * boot-pattern.ts), but an agent does not count on it: the pattern is
 * compiled by RE2JS (linear-time matching, whatever the pattern) in a worker
 * thread, and a match that takes longer than its budget ends the worker and
 * fails the boot check. The agent's event loop (heartbeats, the other boards'
 * runs) never waits on a match.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How long one match may take before the check fails: linear matching of a boot log takes milliseconds. */
export const BOOT_PATTERN_MATCH_BUDGET_MS = 2_000;

// The worker's whole program, as CommonJS: it needs nothing of the agent but RE2JS.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
let pattern;
try {
  pattern = require(workerData.re2js).RE2JS.compile(workerData.pattern);
  parentPort.postMessage({ ready: true });
} catch (error) {
  parentPort.postMessage({ error: String(error && error.message ? error.message : error) });
}
parentPort.on('message', ({ id, text }) => {
  const m = pattern.matcher(text);
  const matched = m.find();
  parentPort.postMessage({ id, matched, text: matched ? String(m.group() ?? '').slice(0, 200) : undefined });
});
`;

/** A boot check failed for the pattern itself: it does not compile, or a match ran past its budget. */
export class BootPatternError extends Error {
  override readonly name = 'BootPatternError';
  readonly code = 'BOOT_CHECK_FAILED';
}

type Reply = { ready: true } | { error: string } | { id: number; matched: boolean; text?: string };

/** Longest matched text kept for the unit record. */
export const MATCHED_TEXT_MAX_CHARS = 200;

/** One compiled pattern in its own worker thread; close() it when the check is over. */
export class BootPatternMatcher {
  private nextId = 0;
  private closed = false;
  /** The text the pattern matched in the last test() that matched (at most MATCHED_TEXT_MAX_CHARS). */
  lastMatch: string | undefined;

  private constructor(
    private readonly worker: Worker,
    private readonly pattern: string,
    private readonly budgetMs: number,
  ) {}

  /** Starts a worker with `pattern` compiled; throws BootPatternError when RE2 cannot compile it. */
  static async start(pattern: string, budgetMs = BOOT_PATTERN_MATCH_BUDGET_MS): Promise<BootPatternMatcher> {
    const re2js = createRequire(import.meta.url).resolve('re2js');
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { re2js, pattern } });
    const matcher = new BootPatternMatcher(worker, pattern, budgetMs);
    const first = await matcher.reply((r) => 'ready' in r || 'error' in r, budgetMs + 10_000);
    if ('error' in first) {
      await matcher.close();
      throw new BootPatternError(`the boot-check pattern /${pattern}/ does not compile: ${first.error}`);
    }
    return matcher;
  }

  /** True when the pattern matches somewhere in `text`; throws BootPatternError past the budget. */
  async test(text: string): Promise<boolean> {
    if (this.closed) throw new BootPatternError('the boot-check matcher is closed');
    const id = ++this.nextId;
    this.worker.postMessage({ id, text });
    const reply = await this.reply((r) => 'id' in r && r.id === id, this.budgetMs);
    const matched = 'matched' in reply && reply.matched;
    if (matched) this.lastMatch = reply.text;
    return matched;
  }

  /** Ends the worker. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.worker.terminate();
  }

  /** The next reply `wanted` accepts, or BootPatternError (and the worker ended) after `ms`. */
  private reply(wanted: (r: Reply) => boolean, ms: number): Promise<Reply> {
    return new Promise<Reply>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.worker.off('message', onMessage);
        this.worker.off('error', onError);
        this.worker.off('exit', onExit);
      };
      const onMessage = (r: Reply): void => {
        if (!wanted(r)) return;
        done();
        resolve(r);
      };
      const onError = (error: Error): void => {
        done();
        reject(new BootPatternError(`the boot-check matcher failed: ${error.message}`));
      };
      const onExit = (): void => {
        done();
        reject(new BootPatternError('the boot-check matcher stopped'));
      };
      const timer = setTimeout(() => {
        done();
        // The worker may be stuck in the match: ending it is the only way to stop it.
        void this.close();
        reject(
          new BootPatternError(
            `matching the console text against /${this.pattern}/ took longer than ${ms} ms; the match was stopped`,
          ),
        );
      }, ms);
      this.worker.on('message', onMessage);
      this.worker.on('error', onError);
      this.worker.on('exit', onExit);
    });
  }
}

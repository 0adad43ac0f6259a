/**
 * Streams one run's events as they happen: started, progress (throttled),
 * every log line (batched over a few milliseconds, with a per-run increasing
 * seq), finished. Events of a run are appended in order.
 *
 * The reporter owns its run's seqs: it counts them itself from a starting
 * point (begin: after what the api stored and what this agent wrote in an
 * earlier execution), so neither an api restart nor Redis restarting empty
 * makes numbers start over (the api stores a line once per (run, seq): a
 * number used twice loses the second line).
 */
import type { RunLogLinePayload, RunProgressFields, RunResultPayload } from '#contracts';
import type { AgentEventsPublisher } from '../events/agent-events.publisher.js';

/** At most this many progress events per second per run. */
export const PROGRESS_EVENTS_PER_S = 4;
/** Log lines arriving within this window go out in one event. */
const LOG_BATCH_MS = 50;
/** A batch is sent early when it gets this long. */
const LOG_BATCH_MAX_LINES = 200;

/** Where a reporter writes (the Redis events publisher in the agent). */
export type RunEventSink = Pick<AgentEventsPublisher, 'publish' | 'publishFinished' | 'lastSeq'>;

/** The first line of a run's log section written by a second (or later) execution of the run. */
export const REFLASH_MARK =
  '──── flashed again: the lines above are from an earlier execution of this run ────';

/** Progress as the run reports it. */
export type RunProgress = RunProgressFields;

/** The event side of one run. */
export class RunReporter {
  private chain: Promise<void> = Promise.resolve();
  private pending: Array<Omit<RunLogLinePayload, 'seq'>> = [];
  private timer: NodeJS.Timeout | undefined;
  private lastProgressAt = 0;
  private lastProgressStage = '';
  private failures = 0;
  /** Highest seq written so far; undefined once a batch of lines was lost (the api then cannot wait for it). */
  private lastSeq: number | undefined = 0;
  /** The seq the next line gets; undefined until begin() or the first batch looked up where to start. */
  private nextSeq: number | undefined;
  /** Mirrors every line, e.g. into the agent's own log. */
  onLine?: (line: Omit<RunLogLinePayload, 'seq'>) => void;

  constructor(
    private readonly publisher: RunEventSink,
    readonly runId: string,
    private readonly agentId: string,
  ) {}

  /**
   * Sets where this execution's seqs start: after `storedSeq` (the highest the api stored for the
   * run, from the claim) and after the last seq this agent wrote for it before (Redis). When the run
   * logged lines before, this execution's section opens with REFLASH_MARK.
   */
  async begin(storedSeq = 0): Promise<void> {
    this.enqueue(async () => {
      let written = 0;
      try {
        written = await this.publisher.lastSeq(this.runId);
      } catch {
        // Redis away: what the api stored is the best floor known.
      }
      this.nextSeq = Math.max(written, storedSeq, (this.nextSeq ?? 1) - 1) + 1;
    });
    await this.chain;
    if (this.nextSeq !== undefined && this.nextSeq > 1) this.log('warn', 'reflash', REFLASH_MARK);
  }

  started(portPath: string): void {
    this.enqueue(() =>
      this.publisher.publish({
        type: 'run.started',
        runId: this.runId,
        agentId: this.agentId,
        at: new Date().toISOString(),
        portPath,
      }),
    );
  }

  log(level: RunLogLinePayload['level'], stage: string | undefined, text: string): void {
    const line = { ts: new Date().toISOString(), level, stage, text };
    this.onLine?.(line);
    this.pending.push(line);
    if (this.pending.length >= LOG_BATCH_MAX_LINES) this.flushLogs();
    else this.timer ??= setTimeout(() => this.flushLogs(), LOG_BATCH_MS);
  }

  /** Sends progress at most PROGRESS_EVENTS_PER_S times a second; a stage change or 100 % always goes out. */
  progress(p: RunProgress): void {
    const now = Date.now();
    const due =
      p.stage !== this.lastProgressStage ||
      p.percent >= 100 ||
      now - this.lastProgressAt >= 1000 / PROGRESS_EVENTS_PER_S;
    if (!due) return;
    this.lastProgressAt = now;
    this.lastProgressStage = p.stage;
    this.flushLogs();
    this.enqueue(() =>
      this.publisher.publish({
        type: 'run.progress',
        runId: this.runId,
        agentId: this.agentId,
        at: new Date().toISOString(),
        ...p,
      }),
    );
  }

  /** Sends the result, with the last seq, after every line logged so far; resolves once it is in Redis. */
  async finished(result: RunResultPayload): Promise<void> {
    this.flushLogs();
    this.enqueue(() =>
      this.publisher.publishFinished({
        type: 'run.finished',
        runId: this.runId,
        agentId: this.agentId,
        at: new Date().toISOString(),
        result,
        ...(this.lastSeq === undefined ? {} : { lastSeq: this.lastSeq }),
      }),
    );
    await this.drain();
  }

  /** Resolves once everything logged or queued so far is written. */
  async drain(): Promise<void> {
    this.flushLogs();
    await this.chain;
    if (this.failures > 0) {
      const n = this.failures;
      this.failures = 0;
      throw new Error(`${n} event(s) of run ${this.runId} could not be written to Redis`);
    }
  }

  private flushLogs(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.enqueue(async () => {
      let first: number | undefined;
      try {
        this.nextSeq ??= (await this.publisher.lastSeq(this.runId)) + 1;
        first = this.nextSeq;
        // Counted here, not in Redis: the numbers stay taken even when the write below fails.
        this.nextSeq += batch.length;
        await this.publisher.publish({
          type: 'run.log',
          runId: this.runId,
          agentId: this.agentId,
          lines: batch.map((line, i) => ({ ...line, seq: first! + i })),
        });
      } catch (err) {
        // Seqs reserved and never written leave a gap no stream could wait out.
        this.lastSeq = undefined;
        throw err;
      }
      if (this.lastSeq !== undefined) this.lastSeq = first + batch.length - 1;
    });
  }

  private enqueue(write: () => Promise<unknown>): void {
    this.chain = this.chain.then(
      () =>
        write().then(
          () => undefined,
          () => void this.failures++,
        ),
      () => undefined,
    );
  }
}

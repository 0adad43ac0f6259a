/**
 * Streams one run's events as they happen: started, progress (throttled),
 * every log line (batched over a few milliseconds, with a per-run increasing
 * seq), finished. Events of a run are appended in order.
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
export type RunEventSink = Pick<AgentEventsPublisher, 'publish' | 'publishFinished' | 'reserveSeq'>;

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
  /** Mirrors every line, e.g. into the agent's own log. */
  onLine?: (line: Omit<RunLogLinePayload, 'seq'>) => void;

  constructor(
    private readonly publisher: RunEventSink,
    readonly runId: string,
    private readonly agentId: string,
  ) {}

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

  /** Resolves once everything queued so far is written. */
  async drain(): Promise<void> {
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
        first = await this.publisher.reserveSeq(this.runId, batch.length);
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

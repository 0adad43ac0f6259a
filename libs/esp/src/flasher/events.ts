/** The one event stream of a flash run: progress and structured log lines. */
import type { EspStage } from '../errors.js';

/** Severity of a log line. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Progress of the current stage. */
export interface ProgressEvent {
  type: 'progress';
  stage: EspStage;
  /** Region index when writing/verifying/reading one region. */
  region?: number;
  bytesDone: number;
  bytesTotal: number;
  percent: number;
  baud: number;
  /** Estimated ms left in this stage; undefined until there is a rate. */
  etaMs?: number;
}

/** One log line. */
export interface LogEvent {
  type: 'log';
  level: LogLevel;
  stage: EspStage;
  text: string;
  /** ms since the run started. */
  atMs: number;
}

/** Everything the flasher reports while it works. */
export type FlasherEvent = ProgressEvent | LogEvent;

/** Callback receiving FlasherEvents. */
export type FlasherEventListener = (event: FlasherEvent) => void;

/** Emits events with timing and ETA bookkeeping; never lets a throwing listener break the flash. */
export class EventSink {
  private readonly started = Date.now();
  private stageStart = { stage: '' as string, at: 0, done: 0 };

  constructor(private readonly listener?: FlasherEventListener) {}

  /** Emits a log line. */
  log(level: LogLevel, stage: EspStage, text: string): void {
    this.emit({ type: 'log', level, stage, text, atMs: Date.now() - this.started });
  }

  /** Emits a progress update. */
  progress(stage: EspStage, bytesDone: number, bytesTotal: number, baud: number, region?: number): void {
    const key = `${stage}:${region ?? ''}`;
    const now = Date.now();
    if (this.stageStart.stage !== key || bytesDone < this.stageStart.done)
      this.stageStart = { stage: key, at: now, done: bytesDone };
    const elapsed = now - this.stageStart.at;
    const moved = bytesDone - this.stageStart.done;
    const etaMs =
      moved > 0 && elapsed > 0 ? Math.round(((bytesTotal - bytesDone) * elapsed) / moved) : undefined;
    this.emit({
      type: 'progress',
      stage,
      region,
      bytesDone,
      bytesTotal,
      percent: bytesTotal === 0 ? 100 : Math.min(100, Math.floor((bytesDone * 100) / bytesTotal)),
      baud,
      etaMs,
    });
  }

  private emit(event: FlasherEvent): void {
    if (!this.listener) return;
    try {
      this.listener(event);
    } catch {
      // A listener's bug must not abort a flash half-way; the listener owns its errors.
    }
  }
}

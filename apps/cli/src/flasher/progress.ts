/** Progress and log rendering for the CLI: a redrawn bar on a TTY, plain lines otherwise. */
import type { FlasherEvent } from '#esp';

/** Where the CLI writes. */
export interface CliOutput {
  write(text: string): void;
  readonly isTTY?: boolean;
}

const BAR_WIDTH = 30;

function formatEta(ms: number | undefined): string {
  if (ms === undefined) return '';
  const s = Math.ceil(ms / 1000);
  return s >= 60 ? ` ETA ${Math.floor(s / 60)}m${s % 60}s` : ` ETA ${s}s`;
}

/** Turns flasher events into terminal output on stderr. */
export class ProgressRenderer {
  private lastPlainBucket = new Map<string, number>();
  private barShown = false;

  constructor(
    private readonly err: CliOutput,
    private readonly verbose = false,
    private readonly showProgress = true,
  ) {}

  /** Handles one event. */
  handle(event: FlasherEvent): void {
    if (event.type === 'log') {
      if (event.level === 'debug' && !this.verbose) return;
      // The command prints the error that ends it, once; the session's copy of it would repeat it.
      if (event.level === 'error') return;
      this.clearBar();
      const prefix = event.level === 'info' ? '' : `${event.level}: `;
      this.err.write(`${prefix}${event.text}\n`);
      return;
    }
    if (!this.showProgress) return;
    const label = `${event.stage}${event.region === undefined ? '' : ` #${event.region + 1}`}`;
    if (this.err.isTTY) {
      const filled = Math.round((event.percent / 100) * BAR_WIDTH);
      const bar = '#'.repeat(filled) + '.'.repeat(BAR_WIDTH - filled);
      this.err.write(
        `\r[${bar}] ${String(event.percent).padStart(3)}% ${label} ${event.bytesDone}/${event.bytesTotal} @${event.baud}${formatEta(event.etaMs)}\x1b[K`,
      );
      this.barShown = true;
      if (event.percent >= 100) this.clearBar(true);
      return;
    }
    // Plain output: one line per 25 % so logs stay readable.
    const bucket = Math.floor(event.percent / 25);
    if (this.lastPlainBucket.get(label) === bucket) return;
    this.lastPlainBucket.set(label, bucket);
    this.err.write(`${label}: ${event.percent}% (${event.bytesDone}/${event.bytesTotal} bytes)\n`);
  }

  /** Ends a bar line so the next text starts clean. */
  clearBar(keep = false): void {
    if (!this.barShown) return;
    this.err.write(keep ? '\n' : '\r\x1b[K');
    this.barShown = false;
  }
}

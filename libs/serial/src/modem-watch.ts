/**
 * Watches one modem input of a port (a fixture's "lid closed" switch on CTS, DSR or CD) and turns
 * the port's reports into debounced level events.
 */
import type { ModemInput, ModemLines, ModemLineSource } from './modem-lines.js';

/** Options of a ModemWatch. */
export interface ModemWatchOptions {
  line: ModemInput;
  /** True when the switch de-asserts the line when active (a normally-closed contact). */
  inverted?: boolean;
  /**
   * How long a new level must hold before it counts. A mechanical switch bounces for a few
   * milliseconds when it closes; a level that did not hold this long is dropped.
   */
  debounceMs: number;
}

/**
 * The debounced level of one modem input: `active` is the switch's "on" (the line asserted, or
 * de-asserted when inverted). Call `stop()` to detach.
 */
export class ModemWatch {
  private stable: boolean | undefined;
  private pending: { level: boolean; timer: NodeJS.Timeout } | undefined;
  private readonly listeners = new Set<(active: boolean) => void>();
  private readonly detach: () => void;

  constructor(
    source: Pick<ModemLineSource, 'modemLines' | 'onModemLines'>,
    private readonly options: ModemWatchOptions,
  ) {
    this.detach = source.onModemLines((lines) => this.observe(lines));
    // The state the port reported when it opened counts at once: it is not an edge that can bounce.
    if (source.modemLines) this.stable = this.levelOf(source.modemLines);
  }

  /** The debounced level; undefined until the port reported its inputs. */
  get active(): boolean | undefined {
    return this.stable;
  }

  /** True while a new level waits out the debounce (it fires unless the line goes back first). */
  get settling(): boolean {
    return this.pending !== undefined;
  }

  /** Called with each debounced change of level (and with the first level, when it arrives later). */
  onChange(listener: (active: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Detaches from the port and drops a level still settling. */
  stop(): void {
    this.detach();
    if (this.pending) clearTimeout(this.pending.timer);
    this.pending = undefined;
    this.listeners.clear();
  }

  private levelOf(lines: ModemLines): boolean {
    return lines[this.options.line] !== (this.options.inverted ?? false);
  }

  private observe(lines: ModemLines): void {
    const level = this.levelOf(lines);
    if (this.stable === undefined && !this.pending) {
      this.settle(level);
      return;
    }
    if (this.pending) {
      if (this.pending.level === level) return;
      // It bounced back before holding: the change never happened.
      clearTimeout(this.pending.timer);
      this.pending = undefined;
    }
    if (level === this.stable) return;
    const timer = setTimeout(() => {
      this.pending = undefined;
      this.settle(level);
    }, this.options.debounceMs);
    this.pending = { level, timer };
  }

  private settle(level: boolean): void {
    if (level === this.stable) return;
    this.stable = level;
    for (const listener of [...this.listeners]) listener(level);
  }
}

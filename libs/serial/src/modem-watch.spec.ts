import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import type { ModemLines } from './modem-lines.js';
import { ModemWatch } from './modem-watch.js';

/** A port that reports what the test says, when it says. */
class Lines {
  modemLines: ModemLines | undefined;
  private readonly listeners = new Set<(lines: ModemLines, raw: number) => void>();
  onModemLines(listener: (lines: ModemLines, raw: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  report(changes: Partial<ModemLines>): void {
    this.modemLines = { cts: false, dsr: false, ri: false, cd: false, ...this.modemLines, ...changes };
    for (const listener of this.listeners) listener(this.modemLines, 0);
  }
}

beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

describe('ModemWatch', () => {
  it('takes the first report at once, then a change only once it held for the debounce time', () => {
    const port = new Lines();
    const watch = new ModemWatch(port, { line: 'cd', debounceMs: 50 });
    const levels: boolean[] = [];
    watch.onChange((active) => levels.push(active));
    expect(watch.active).toBeUndefined();
    port.report({ cd: false });
    expect(levels).toEqual([false]);
    port.report({ cd: true });
    jest.advanceTimersByTime(49);
    expect(levels).toEqual([false]);
    expect(watch.settling).toBe(true);
    jest.advanceTimersByTime(1);
    expect(levels).toEqual([false, true]);
    // Bounce on opening: off, on, off, each within the debounce: one change, 50 ms after the last edge.
    port.report({ cd: false });
    jest.advanceTimersByTime(10);
    port.report({ cd: true });
    jest.advanceTimersByTime(10);
    port.report({ cd: false });
    jest.advanceTimersByTime(49);
    expect(levels).toEqual([false, true]);
    jest.advanceTimersByTime(1);
    expect(levels).toEqual([false, true, false]);
    // Other lines do not matter.
    port.report({ cts: true, dsr: true });
    jest.advanceTimersByTime(100);
    expect(levels).toEqual([false, true, false]);
    watch.stop();
    port.report({ cd: true });
    jest.advanceTimersByTime(100);
    expect(levels).toEqual([false, true, false]);
  });

  it('reads an inverted switch the other way round, starting from the state the port already reported', () => {
    const port = new Lines();
    port.report({ dsr: true });
    const watch = new ModemWatch(port, { line: 'dsr', inverted: true, debounceMs: 50 });
    expect(watch.active).toBe(false);
    const levels: boolean[] = [];
    watch.onChange((active) => levels.push(active));
    port.report({ dsr: false });
    jest.advanceTimersByTime(50);
    expect(levels).toEqual([true]);
  });
});

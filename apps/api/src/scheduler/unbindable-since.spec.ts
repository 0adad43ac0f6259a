import { describe, expect, it } from '@jest/globals';
import { UnbindableSince } from './unbindable-since.js';

describe('UnbindableSince', () => {
  it('counts from the first pass that saw the run unbindable', () => {
    const waits = new UnbindableSince();
    waits.beginPass();
    expect(waits.waitedMs('r1', 1_000)).toBe(0);
    waits.endPass();
    waits.beginPass();
    expect(waits.waitedMs('r1', 2_500)).toBe(1_500);
    waits.endPass();
  });

  it('starts from zero once a pass did not see the run unbindable', () => {
    const waits = new UnbindableSince();
    waits.beginPass();
    waits.waitedMs('r1', 1_000);
    waits.waitedMs('r2', 1_000);
    waits.endPass();
    // r1's board is back for one pass; r2 is still stuck.
    waits.beginPass();
    waits.waitedMs('r2', 2_000);
    waits.endPass();
    waits.beginPass();
    expect(waits.waitedMs('r1', 3_000)).toBe(0);
    expect(waits.waitedMs('r2', 3_000)).toBe(2_000);
    waits.endPass();
  });

  it('continues a wait after a pass that failed half-way', () => {
    const waits = new UnbindableSince();
    waits.beginPass();
    waits.waitedMs('r1', 1_000);
    // No endPass: the pass threw after r1 was recorded.
    waits.beginPass();
    expect(waits.waitedMs('r1', 2_000)).toBe(1_000);
    waits.endPass();
  });
});

import { describe, expect, it } from '@jest/globals';
import { SeqWatermark } from './live-streams.service.js';

describe('SeqWatermark', () => {
  it('advances over lines in order and holds nothing above the watermark', () => {
    const sent = new SeqWatermark(0);
    let accepted = 0;
    for (let seq = 1; seq <= 100_000; seq++) if (sent.add(seq)) accepted++;
    expect(accepted).toBe(100_000);
    expect(sent.watermark).toBe(100_000);
    expect(sent.fragments).toBe(0);
    expect(sent.add(100_000)).toBe(false);
    expect(sent.add(1)).toBe(false);
  });

  it('starts from a resume point and refuses what is at or below it', () => {
    const sent = new SeqWatermark(27);
    expect(sent.add(27)).toBe(false);
    expect(sent.add(28)).toBe(true);
    expect(sent.watermark).toBe(28);
  });

  it('keeps one range per gap however many lines follow a gap that never closes', () => {
    const sent = new SeqWatermark(0);
    expect(sent.add(1)).toBe(true);
    let accepted = 0;
    for (let seq = 3; seq <= 50_000; seq++) if (sent.add(seq)) accepted++;
    expect(accepted).toBe(49_998);
    expect(sent.watermark).toBe(1);
    expect(sent.fragments).toBe(1);
    expect(sent.add(40_000)).toBe(false);
    // The missing line may still come (a late redelivery): it is sent once, and the ranges collapse.
    expect(sent.add(2)).toBe(true);
    expect(sent.add(2)).toBe(false);
    expect(sent.watermark).toBe(50_000);
    expect(sent.fragments).toBe(0);
  });

  it('joins ranges from either side and in the middle', () => {
    const sent = new SeqWatermark(0);
    for (const seq of [5, 9, 7, 6, 8]) expect(sent.add(seq)).toBe(true);
    expect(sent.fragments).toBe(1);
    for (const seq of [12, 3, 11]) expect(sent.add(seq)).toBe(true);
    expect(sent.fragments).toBe(3); // 3, 5–9, 11–12
    expect(sent.add(10)).toBe(true);
    expect(sent.fragments).toBe(2); // 3, 5–12
    expect(sent.add(4)).toBe(true);
    expect(sent.add(1)).toBe(true);
    expect(sent.add(2)).toBe(true);
    expect(sent.watermark).toBe(12);
    expect(sent.fragments).toBe(0);
  });

  it('answers like a set of every seq sent, in any order, with repeats', () => {
    // A fixed pseudo-random sequence (MINSTD, exact in doubles): the same shuffles on every run.
    let state = 12_345;
    const next = (n: number): number => {
      state = (state * 48_271) % 2_147_483_647;
      return state % n;
    };
    for (let round = 0; round < 50; round++) {
      const start = next(5);
      const sent = new SeqWatermark(start);
      const reference = new Set<number>();
      const answers: boolean[] = [];
      const expected: boolean[] = [];
      for (let i = 0; i < 400; i++) {
        const seq = 1 + next(300);
        expected.push(seq > start && !reference.has(seq));
        reference.add(seq);
        answers.push(sent.add(seq));
      }
      expect(answers).toEqual(expected);
      let contiguous = start;
      while (reference.has(contiguous + 1)) contiguous++;
      expect(sent.watermark).toBe(contiguous);
    }
  });
});

import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from '@jest/globals';
import { BootPatternError, BootPatternMatcher } from './boot-pattern-matcher.js';

/** A boot log of about `bytes` characters with no "!" in it. */
function consoleText(bytes: number): string {
  const line = 'I (123) cpu_start: Pro cpu up, waiting for the other core  \r\n';
  return line.repeat(Math.ceil(bytes / line.length));
}

const open: BootPatternMatcher[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((m) => m.close()));
});

async function start(pattern: string, budgetMs?: number): Promise<BootPatternMatcher> {
  const matcher = await BootPatternMatcher.start(pattern, budgetMs);
  open.push(matcher);
  return matcher;
}

describe('BootPatternMatcher', () => {
  it('answers a pattern that would backtrack for minutes in JavaScript, without blocking the event loop', async () => {
    // /(.*\s?)*!/ on 26 characters without "!" took 30 s with RegExp on this machine; here the text
    // is 256 KiB and the engine is RE2 in a worker.
    const matcher = await start('(.*\\s?)*!');
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const started = performance.now();
    const matched = await matcher.test(consoleText(256 * 1024));
    const elapsed = performance.now() - started;
    delay.disable();
    expect(matched).toBe(false);
    expect(elapsed).toBeLessThan(2_000);
    expect(delay.max / 1e6).toBeLessThan(100);
    expect(await matcher.test(`${consoleText(1024)}ready!`)).toBe(true);
  });

  it('stops a match past its budget and fails the check with BOOT_CHECK_FAILED', async () => {
    const matcher = await start('(.*\\s?)*!', 1);
    const failure = await matcher.test(consoleText(8 * 1024 * 1024)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(BootPatternError);
    expect(failure).toMatchObject({
      code: 'BOOT_CHECK_FAILED',
      message: expect.stringMatching(/longer than 1 ms/),
    });
    // The worker was ended; the matcher takes no more text.
    await expect(matcher.test('ready!')).rejects.toThrow(/closed/);
  });

  it('refuses a pattern RE2 cannot compile', async () => {
    await expect(BootPatternMatcher.start('(a)\\1')).rejects.toThrow(/does not compile: .*\\1/);
  });
});

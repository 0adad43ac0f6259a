import { describe, expect, it } from '@jest/globals';
import { UnitDataError } from './errors.js';
import { formatSerial, isoWeek, parseSerialPattern, serialScope } from './serial-pattern.js';

const at = (iso: string) => ({ date: new Date(iso) });

function refusal(run: () => unknown): UnitDataError {
  try {
    run();
  } catch (err) {
    if (err instanceof UnitDataError) return err;
    throw err;
  }
  throw new Error('expected a UnitDataError');
}

describe('serial-number patterns', () => {
  it('formats FF-{yyww}-{seq:06} with the ISO week', () => {
    expect(formatSerial('FF-{yyww}-{seq:06}', 42, at('2026-05-06T10:00:00Z'))).toBe('FF-2619-000042');
    expect(formatSerial('FF-{yyww}-{seq:06}', 999_999, at('2026-05-06T10:00:00Z'))).toBe('FF-2619-999999');
  });

  it('uses the ISO week-year with ww, the calendar year without', () => {
    // 31 Dec 2024 is a Tuesday in ISO week 1 of 2025; 1 Jan 2021 is a Friday in week 53 of 2020.
    expect(formatSerial('{yyyy}W{ww}-{seq}', 1, at('2024-12-31T12:00:00Z'))).toBe('2025W01-1');
    expect(formatSerial('{yyww}-{seq}', 1, at('2021-01-01T12:00:00Z'))).toBe('2053-1');
    expect(formatSerial('{yyyymmdd}-{seq:03}', 7, at('2024-12-31T12:00:00Z'))).toBe('20241231-007');
    expect(formatSerial('{yy}{mm}{dd}{seq:02}', 5, at('2021-01-01T12:00:00Z'))).toBe('21010105');
  });

  it('agrees with the ISO week rules at every year boundary of 2000-2040', () => {
    for (let year = 2000; year <= 2040; year++) {
      // 4 January is always in week 1; 28 December always in the last week of its own year.
      expect(isoWeek(year, 1, 4)).toEqual({ weekYear: year, week: 1 });
      const last = isoWeek(year, 12, 28);
      expect(last.weekYear).toBe(year);
      expect([52, 53]).toContain(last.week);
      // The day after 28 December's week ends starts week 1 of the next year.
      const monday = new Date(
        Date.UTC(year, 11, 28) + (7 - ((new Date(Date.UTC(year, 11, 28)).getUTCDay() + 6) % 7)) * 86_400_000,
      );
      expect(isoWeek(monday.getUTCFullYear(), monday.getUTCMonth() + 1, monday.getUTCDate())).toEqual({
        weekYear: year + 1,
        week: 1,
      });
    }
  });

  it('reads the date in the given time zone', () => {
    const lateSunday = new Date('2026-05-10T22:30:00Z'); // Monday 00:30 in Berlin (UTC+2)
    expect(formatSerial('{yyww}-{seq}', 1, { date: lateSunday })).toBe('2619-1');
    expect(formatSerial('{yyww}-{seq}', 1, { date: lateSunday, timeZone: 'Europe/Berlin' })).toBe('2620-1');
    expect(
      refusal(() => formatSerial('{yy}{seq}', 1, { date: lateSunday, timeZone: 'Mars/Olympus' })).code,
    ).toBe('BAD_DATE');
  });

  it('treats {{ and }} as literal braces and keeps other text as is', () => {
    expect(formatSerial('{{A}}-{seq:02}.x', 3)).toBe('{A}-03.x');
    expect(parseSerialPattern('SN{seq}').dated).toBe(false);
  });

  it('gives the scope a counter can be kept for', () => {
    expect(serialScope('FF-{yyww}-{seq:06}', at('2026-05-06T10:00:00Z'))).toBe('FF-2619-{seq}');
    expect(serialScope('SN{seq}')).toBe('SN{seq}');
  });

  it('refuses sequence numbers the field cannot show', () => {
    expect(parseSerialPattern('X{seq:03}').maxSeq).toBe(999);
    expect(refusal(() => formatSerial('X{seq:03}', 1000)).message).toContain('at most 999');
    for (const seq of [-1, 1.5, Number.NaN])
      expect(refusal(() => formatSerial('X{seq}', seq)).code).toBe('BAD_SEQUENCE');
  });

  it('refuses bad patterns, saying what and where', () => {
    const cases: Array<[string, string]> = [
      ['', 'empty'],
      ['FF-{yyww}', 'no {seq} field'],
      ['{seq}-{seq:02}', '2 {seq} fields'],
      ['FF-{yyxx}-{seq}', 'column 4: {yyxx} is not a field'],
      ['FF-{}-{seq}', 'column 4: {} is empty'],
      ['FF-{seq:6}', '{seq:6} is not a seq width'],
      ['FF-{seq:016}', 'N from 1 to 15'],
      ['FF-{seq', 'column 4: a "{" that is never closed'],
      ['FF}-{seq}', 'column 3: a "}" without its "{"'],
      ['{yyww}{mm}-{seq}', 'mixes the ISO week'],
      ['Grüße-{seq}', 'column 3: character U+00FC is not printable ASCII'],
      ['a\tb{seq}', 'U+0009'],
    ];
    for (const [pattern, words] of cases) {
      const err = refusal(() => parseSerialPattern(pattern));
      expect({ pattern, code: err.code, message: err.message }).toEqual({
        pattern,
        code: 'BAD_PATTERN',
        message: expect.stringContaining(words),
      });
    }
  });
});

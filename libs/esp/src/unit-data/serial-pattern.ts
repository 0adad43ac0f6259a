/**
 * Per-unit serial numbers from a pattern such as `FF-{yyww}-{seq:06}`.
 *
 * Fields in braces: `{seq}` (the unit's sequence number), `{seq:0N}` (padded
 * with zeros to N digits, N = 1..15), and date fields made of `yyyy`, `yy`,
 * `ww` (ISO 8601 week), `mm`, `dd`, alone or run together (`{yyww}`,
 * `{yyyymmdd}`). `{{` and `}}` are literal braces; everything else is literal
 * text (printable ASCII). A pattern needs exactly one seq field, or two units
 * would get the same serial. With `ww` the year fields give the ISO week-year
 * (31 Dec 2024 is in week 1 of 2025, so it reads 2501, not 2401); mixing `ww`
 * with `mm` or `dd` is refused because the year would be ambiguous.
 *
 * Pure: the caller supplies the date and the sequence number (the allocator
 * that hands out numbers atomically lives in the api).
 */
import { UnitDataError } from './errors.js';

/** A date field. */
export type SerialDateField = 'yyyy' | 'yy' | 'ww' | 'mm' | 'dd';

/** One piece of a parsed pattern. */
export type SerialSegment =
  | { kind: 'text'; text: string }
  | { kind: 'date'; field: SerialDateField }
  | { kind: 'seq'; /** Zero-padded width; undefined = as many digits as needed. */ width?: number };

/** A checked pattern. */
export interface SerialPattern {
  source: string;
  segments: SerialSegment[];
  /** Largest sequence number the seq field can show. */
  maxSeq: number;
  /** Year fields give the ISO week-year (the pattern has `ww`). */
  weekBased: boolean;
  /** The pattern has any date field (serials then depend on the date). */
  dated: boolean;
}

/** Options of formatSerial() and serialScope(). */
export interface SerialDateOptions {
  /** The moment the serial is allocated (default: now). */
  date?: Date;
  /** IANA time zone whose calendar the date fields use (default UTC). */
  timeZone?: string;
}

const DATE_TOKENS: readonly SerialDateField[] = ['yyyy', 'yy', 'ww', 'mm', 'dd'];
const MAX_SEQ_WIDTH = 15;
const FIELD_HELP = 'fields are {seq}, {seq:0N}, and date fields made of yyyy, yy, ww, mm, dd';

function patternError(source: string, position: number, what: string): UnitDataError {
  return new UnitDataError('BAD_PATTERN', `Serial pattern "${source}", column ${position}: ${what}.`, {
    position,
  });
}

function parseField(source: string, body: string, position: number): SerialSegment[] {
  if (body === 'seq') return [{ kind: 'seq' }];
  const seq = /^seq:(\d+)$/.exec(body);
  if (seq) {
    const digits = seq[1];
    const width = Number(digits);
    if (!digits.startsWith('0') || width < 1 || width > MAX_SEQ_WIDTH) {
      throw patternError(
        source,
        position,
        `{${body}} is not a seq width; write {seq:0N} with N from 1 to ${MAX_SEQ_WIDTH} (e.g. {seq:06})`,
      );
    }
    return [{ kind: 'seq', width }];
  }
  const out: SerialSegment[] = [];
  let rest = body;
  while (rest.length > 0) {
    const token = DATE_TOKENS.find((t) => rest.startsWith(t));
    if (!token) {
      throw patternError(source, position, `{${body}} is not a field (${FIELD_HELP})`);
    }
    out.push({ kind: 'date', field: token });
    rest = rest.slice(token.length);
  }
  if (out.length === 0) throw patternError(source, position, `{} is empty (${FIELD_HELP})`);
  return out;
}

/** Parses and checks a serial-number pattern. */
export function parseSerialPattern(source: string): SerialPattern {
  if (typeof source !== 'string' || source.length === 0) {
    throw new UnitDataError('BAD_PATTERN', 'The serial pattern is empty; e.g. FF-{yyww}-{seq:06}.');
  }
  const segments: SerialSegment[] = [];
  let text = '';
  const flushText = () => {
    if (text) segments.push({ kind: 'text', text });
    text = '';
  };
  for (let i = 0; i < source.length;) {
    const c = source[i];
    if (c === '{' && source[i + 1] === '{') {
      text += '{';
      i += 2;
    } else if (c === '}' && source[i + 1] === '}') {
      text += '}';
      i += 2;
    } else if (c === '}') {
      throw patternError(source, i + 1, 'a "}" without its "{" (write }} for a literal brace)');
    } else if (c === '{') {
      const end = source.indexOf('}', i + 1);
      if (end < 0)
        throw patternError(source, i + 1, 'a "{" that is never closed (write {{ for a literal brace)');
      flushText();
      segments.push(...parseField(source, source.slice(i + 1, end), i + 1));
      i = end + 1;
    } else {
      const code = c.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) {
        throw patternError(
          source,
          i + 1,
          `character U+${code.toString(16).toUpperCase().padStart(4, '0')} is not printable ASCII (serials go on labels and barcodes)`,
        );
      }
      text += c;
      i++;
    }
  }
  flushText();
  const seqs = segments.filter((s): s is Extract<SerialSegment, { kind: 'seq' }> => s.kind === 'seq');
  if (seqs.length !== 1) {
    throw new UnitDataError(
      'BAD_PATTERN',
      seqs.length === 0
        ? `Serial pattern "${source}" has no {seq} field, so every unit would get the same serial; add one, e.g. {seq:06}.`
        : `Serial pattern "${source}" has ${seqs.length} {seq} fields; use one.`,
    );
  }
  const fields = new Set(segments.flatMap((s) => (s.kind === 'date' ? [s.field] : [])));
  const weekBased = fields.has('ww');
  if (weekBased && (fields.has('mm') || fields.has('dd'))) {
    throw new UnitDataError(
      'BAD_PATTERN',
      `Serial pattern "${source}" mixes the ISO week (ww) with month or day (mm, dd): around New Year the year would be ambiguous. Use {yyww} or {yyyymmdd}.`,
    );
  }
  const width = seqs[0].width;
  return {
    source,
    segments,
    maxSeq: width === undefined ? Number.MAX_SAFE_INTEGER : 10 ** width - 1,
    weekBased,
    dated: fields.size > 0,
  };
}

interface CalendarDate {
  year: number;
  month: number;
  day: number;
}

function calendarDate(options: SerialDateOptions): CalendarDate {
  const date = options.date ?? new Date();
  if (!(date instanceof Date) || Number.isNaN(date.getTime())) {
    throw new UnitDataError('BAD_DATE', 'The date for the serial number is not a valid date.');
  }
  let parts: Intl.DateTimeFormatPart[];
  try {
    parts = new Intl.DateTimeFormat('en-US', {
      timeZone: options.timeZone ?? 'UTC',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
    }).formatToParts(date);
  } catch {
    throw new UnitDataError(
      'BAD_DATE',
      `Time zone "${options.timeZone}" is not an IANA time zone (e.g. Europe/Berlin).`,
    );
  }
  const part = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return { year: part('year'), month: part('month'), day: part('day') };
}

/** ISO 8601 week and week-year of a calendar date: weeks start on Monday; week 1 holds the year's first Thursday. */
export function isoWeek(year: number, month: number, day: number): { weekYear: number; week: number } {
  const dayMs = 86_400_000;
  const t = Date.UTC(year, month - 1, day);
  const weekday = (new Date(t).getUTCDay() + 6) % 7; // Monday = 0
  const thursday = new Date(t + (3 - weekday) * dayMs);
  const weekYear = thursday.getUTCFullYear();
  const week = 1 + Math.floor((thursday.getTime() - Date.UTC(weekYear, 0, 1)) / dayMs / 7);
  return { weekYear, week };
}

function toPattern(pattern: SerialPattern | string): SerialPattern {
  return typeof pattern === 'string' ? parseSerialPattern(pattern) : pattern;
}

function render(pattern: SerialPattern, seqText: string, options: SerialDateOptions): string {
  const date = pattern.dated ? calendarDate(options) : undefined;
  const week = date && pattern.weekBased ? isoWeek(date.year, date.month, date.day) : undefined;
  const year = week ? week.weekYear : (date?.year ?? 0);
  const two = (n: number) => String(n).padStart(2, '0');
  return pattern.segments
    .map((s) => {
      switch (s.kind) {
        case 'text':
          return s.text;
        case 'seq':
          return seqText;
        case 'date':
          switch (s.field) {
            case 'yyyy':
              return String(year).padStart(4, '0');
            case 'yy':
              return two(year % 100);
            case 'ww':
              return two(week!.week);
            case 'mm':
              return two(date!.month);
            case 'dd':
              return two(date!.day);
          }
      }
      return '';
    })
    .join('');
}

/** The serial number of sequence number `seq` at `options.date`. */
export function formatSerial(
  pattern: SerialPattern | string,
  seq: number,
  options: SerialDateOptions = {},
): string {
  const p = toPattern(pattern);
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new UnitDataError(
      'BAD_SEQUENCE',
      `Sequence number ${String(seq)} is not a whole number from 0 up.`,
    );
  }
  if (seq > p.maxSeq) {
    throw new UnitDataError(
      'BAD_SEQUENCE',
      `Sequence number ${seq} does not fit the pattern "${p.source}" (at most ${p.maxSeq}); widen its {seq:0N} field or start a new pattern.`,
    );
  }
  const width = p.segments.find((s) => s.kind === 'seq')?.width;
  return render(p, width === undefined ? String(seq) : String(seq).padStart(width, '0'), options);
}

/**
 * What a serial looks like at `options.date` with its sequence number left
 * out (`FF-2619-{seq}`). Serials of different scopes never collide, so an
 * allocator may restart its counter per scope, or keep one counter for all.
 */
export function serialScope(pattern: SerialPattern | string, options: SerialDateOptions = {}): string {
  return render(toPattern(pattern), '{seq}', options);
}

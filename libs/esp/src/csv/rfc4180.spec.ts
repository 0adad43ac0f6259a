import { describe, expect, it } from '@jest/globals';
import { CsvSyntaxError, parseCsv } from './rfc4180.js';

describe('parseCsv', () => {
  it('splits fields and records, with CRLF, LF or CR line ends and a missing last one', () => {
    expect(parseCsv('a,b,c\r\n1,2,3\n4,,6\r7,8,9')).toEqual([
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 2, fields: ['1', '2', '3'] },
      { line: 3, fields: ['4', '', '6'] },
      { line: 4, fields: ['7', '8', '9'] },
    ]);
  });

  it('reads quoted fields with commas, doubled quotes and line breaks, and keeps their line numbers', () => {
    const records = parseCsv('k,v\r\n"a,b","say ""hi"""\r\n"multi\r\nline",x\r\nlast,""\r\n');
    expect(records).toEqual([
      { line: 1, fields: ['k', 'v'] },
      { line: 2, fields: ['a,b', 'say "hi"'] },
      { line: 3, fields: ['multi\r\nline', 'x'] },
      { line: 5, fields: ['last', ''] },
    ]);
  });

  it('skips blank lines, comments when asked, and a byte-order mark', () => {
    expect(parseCsv('\ufeffa\n\n# note, "quoted\nb\n', { commentPrefix: '#' })).toEqual([
      { line: 1, fields: ['a'] },
      { line: 4, fields: ['b'] },
    ]);
    expect(parseCsv('a\n\nb', { skipBlankLines: false }).map((r) => r.fields)).toEqual([['a'], [''], ['b']]);
  });

  it('reports malformed quoting by line and column, without the text', () => {
    const cases: Array<[string, number, number]> = [
      ['a,b\n"open,secret-value\n', 2, 1],
      ['a,"x"secret\n', 1, 6],
      ['a,b\nse"cret,c\n', 2, 3],
    ];
    for (const [text, line, column] of cases) {
      let caught: unknown;
      try {
        parseCsv(text);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(CsvSyntaxError);
      expect(caught).toMatchObject({ code: 'CSV_SYNTAX', line, column });
      expect((caught as Error).message).not.toContain('secret');
    }
  });
});

import { inspect } from 'node:util';
import { describe, expect, it } from '@jest/globals';
import { UnitDataError } from './errors.js';
import { parseUnitCsv, REDACTED_SECRET, SecretValue } from './unit-csv.js';

const SECRET = 'hunter2-very-secret';

function refusal(run: () => unknown): UnitDataError {
  try {
    run();
  } catch (err) {
    if (err instanceof UnitDataError) return err;
    throw err;
  }
  throw new Error('expected a UnitDataError');
}

describe('per-unit CSV', () => {
  const csv = [
    'mac,serial,secret_wifi_psk,cloud_token',
    `AA:BB:CC:00:00:01,FF-0001,${SECRET},tok1`,
    `aabbcc000002,"FF-0002, rev ""B""","${SECRET},2",tok2`,
    '',
  ].join('\r\n');

  it('returns rows keyed by MAC, secret cells wrapped', () => {
    const units = parseUnitCsv(csv, { secretColumns: ['cloud_token'] });
    expect(units.columns).toEqual([
      { name: 'mac', secret: false },
      { name: 'serial', secret: false },
      { name: 'secret_wifi_psk', secret: true },
      { name: 'cloud_token', secret: true },
    ]);
    expect(units.rows.map((r) => [r.index, r.line, r.mac, r.values.serial])).toEqual([
      [0, 2, 'aa:bb:cc:00:00:01', 'FF-0001'],
      [1, 3, 'aa:bb:cc:00:00:02', 'FF-0002, rev "B"'],
    ]);
    const row = units.byMac('AA-BB-CC-00-00-02')!;
    expect(row.secrets.secret_wifi_psk.reveal()).toBe(`${SECRET},2`);
    expect(row.secrets.cloud_token.reveal()).toBe('tok2');
    expect(row.values).not.toHaveProperty('cloud_token');
    expect(units.byMac('aa:bb:cc:00:00:09')).toBeUndefined();
    expect(units.byMac('not a mac')).toBeUndefined();
  });

  it('never shows a secret when a row is printed, logged or serialised', () => {
    const units = parseUnitCsv(csv);
    const row = units.rows[0];
    for (const text of [
      JSON.stringify(row),
      JSON.stringify(units.rows),
      String(row.secrets.secret_wifi_psk),
      inspect(row, { depth: 5 }),
      'psk: ' + (row.secrets.secret_wifi_psk as unknown as string),
    ]) {
      expect(text).not.toContain('hunter2');
    }
    expect(JSON.stringify(row.secrets)).toBe(`{"secret_wifi_psk":"${REDACTED_SECRET}"}`);
    expect(new SecretValue('abc').length).toBe(3);
  });

  it('consumes rows in order when there is no key column', () => {
    const units = parseUnitCsv('serial,secret_key\nA,x\nB,y\n', { keyColumn: null });
    expect(units.keyColumn).toBeUndefined();
    expect(units.rows.map((r) => [r.index, r.values.serial, r.mac])).toEqual([
      [0, 'A', undefined],
      [1, 'B', undefined],
    ]);
    expect(units.byMac('aa:bb:cc:00:00:01')).toBeUndefined();
  });

  it('refuses bad headers, rows, MACs and duplicates without showing a secret', () => {
    const cases: Array<[string, Parameters<typeof parseUnitCsv>[1], string, number, string]> = [
      ['', {}, 'CSV_HEADER', 1, 'empty'],
      ['serial,secret_x\n1,2\n', {}, 'CSV_HEADER', 1, 'column "mac" is missing'],
      ['mac,,x\n', {}, 'CSV_HEADER', 1, 'column 2 has no name'],
      ['mac,a,a\n', {}, 'CSV_HEADER', 1, '"a" appears twice'],
      ['mac,a\n', { secretColumns: ['psk'] }, 'CSV_HEADER', 1, 'secret column "psk" is not in the CSV'],
      ['mac,a\n', { requiredColumns: ['serial'] }, 'CSV_HEADER', 1, 'column "serial" is missing'],
      ['mac,a\n', { secretColumns: ['mac'] }, 'CSV_HEADER', 1, 'cannot be secret'],
      [
        `mac,secret_p\naa:bb:cc:00:00:01,${SECRET},extra\n`,
        {},
        'CSV_ROW',
        2,
        'the row has 3 fields; the header has 2',
      ],
      [`mac,secret_p\naa:bb:cc:00:00:01\n`, {}, 'CSV_ROW', 2, 'the row has 1 fields'],
      [`mac,secret_p\nzz:bb:cc:00:00:01,${SECRET}\n`, {}, 'BAD_MAC', 2, '"zz:bb:cc:00:00:01", not a MAC'],
      [`mac,secret_p\n,${SECRET}\n`, {}, 'BAD_MAC', 2, 'holds nothing'],
      [
        `mac,secret_p\naa:bb:cc:00:00:01,${SECRET}\nAABBCC000001,${SECRET}\n`,
        {},
        'DUPLICATE_MAC',
        3,
        'lines 2 and 3',
      ],
      [`mac,secret_p\naa:bb:cc:00:00:01,"${SECRET}\n`, {}, 'CSV_SYNTAX', 2, 'never closed'],
      [
        `mac,secret_p\naa:bb:cc:00:00:01,${SECRET}"x\n`,
        {},
        'CSV_SYNTAX',
        2,
        'double quote inside an unquoted field',
      ],
    ];
    for (const [text, options, code, line, words] of cases) {
      const err = refusal(() => parseUnitCsv(text, options));
      expect({ text, code: err.code, line: err.detail.line, message: err.message }).toEqual({
        text,
        code,
        line,
        message: expect.stringContaining(words),
      });
      expect(err.message).not.toContain('hunter2');
    }
  });
});

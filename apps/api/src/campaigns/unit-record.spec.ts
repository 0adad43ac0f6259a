import { describe, expect, it } from '@jest/globals';
import {
  csvCell,
  regionRecords,
  revisionName,
  UNIT_CSV_COLUMNS,
  unitCsvHeader,
  unitCsvRow,
} from './unit-record.js';
import type { UnitRecord } from '#contracts';

const record: UnitRecord = {
  campaignId: 'c',
  campaignName: 'batch, "42"',
  unitId: 'u',
  mac: '24:0a:c4:00:00:01',
  chip: 'esp32',
  chipRevision: 'v3.0',
  chipDescription: 'ESP32-D0WD-V3',
  flashId: '0xc84016',
  flashSizeBytes: 4194304,
  firmwareId: 'f',
  firmwareName: '=cmd()',
  firmwareVersion: '1.0.0',
  firmwareSha256: 'ab',
  regions: [
    { offset: 0x1000, size: 10, sha256: 's1', md5: 'm1', verifiedMd5: 'm1' },
    { offset: 0x10000, size: 20, sha256: 's2', md5: 'm2', verifiedMd5: 'm2' },
  ],
  baud: 921600,
  attempts: 1,
  retries: 0,
  agent: 'a',
  port: 'rfc2217://h:1',
  operator: 'op',
  jobId: 'j',
  runId: 'r',
  result: 'succeeded',
  errorCode: null,
  errorMessage: null,
  queuedAt: 't0',
  startedAt: 't1',
  finishedAt: 't2',
};

describe('unit CSV', () => {
  it('has one cell per column, quotes separators and defuses formulas', () => {
    const row = unitCsvRow(record);
    expect(unitCsvHeader().split(',')).toHaveLength(UNIT_CSV_COLUMNS.length);
    expect(row).toContain('"batch, ""42"""');
    expect(row).toContain(",'=cmd(),");
    expect(row).toContain(',0x1000;0x10000,s1;s2,m1;m2,m1;m2,');
    expect(csvCell(-5)).toBe('-5');
    expect(csvCell(null)).toBe('');
  });

  it('normalises stored regions and names revisions', () => {
    expect(regionRecords([{ offset: 4096, size: 1, md5: 'x' }, 'junk'])).toEqual([
      { offset: 4096, size: 1, sha256: null, md5: 'x', verifiedMd5: null },
    ]);
    expect(regionRecords(null)).toEqual([]);
    expect(revisionName(301)).toBe('v3.1');
    expect(revisionName(null)).toBeNull();
  });
});

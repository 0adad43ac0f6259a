import { describe, expect, it } from '@jest/globals';
import {
  buildUnitRecord,
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
  retest: false,
  serial: 'FF-2619-000001',
  slot: 'rfc2217://h:1',
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
  dataSha256: 'd5',
  csvRow: 7,
  operatorName: 'Ana',
  bootCheck: { result: 'passed', matched: 'Calling app_main()' },
  timings: { flashMs: 1200, totalMs: 1500 },
};

describe('unit CSV', () => {
  it('has one cell per column, quotes separators and defuses formulas', () => {
    const row = unitCsvRow(record);
    expect(unitCsvHeader().split(',')).toHaveLength(UNIT_CSV_COLUMNS.length);
    expect(row).toContain('"batch, ""42"""');
    expect(row).toContain(",'=cmd(),");
    expect(row).toContain(',0x1000;0x10000,s1;s2,m1;m2,m1;m2,');
    expect(row.endsWith(',d5,7,Ana,passed,Calling app_main(),flashMs=1200;totalMs=1500')).toBe(true);
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

describe('buildUnitRecord', () => {
  const at = new Date('2030-01-02T03:04:05.000Z');
  const facts = {
    campaign: { id: 'c', name: 'line 1', createdBy: 'operator-ann' },
    unit: {
      id: 'u',
      mac: '24:0a:c4:00:00:01',
      retest: true,
      portPath: 'rfc2217://h:1',
      serial: null,
      attempts: 1,
      jobId: 'j',
      runId: null,
      status: 'flashing' as const,
      errorCode: null,
      errorMessage: null,
      createdAt: at,
      startedAt: at,
      finishedAt: null,
    },
    firmware: { id: 'f', name: 'blink', version: '1.0.0', sha256: 'ab', chip: 'esp32' },
    device: {
      chip: 'esp32',
      chipRevision: 300,
      chipDescription: 'ESP32-D0WD-V3',
      flashJedecId: 0xc84016,
      flashSizeBytes: 4194304,
    },
  };

  it('shows an open unit with what is known so far', () => {
    expect(buildUnitRecord(facts)).toMatchObject({
      result: 'flashing',
      chipRevision: 'v3.0',
      flashId: '0xc84016',
      regions: [],
      agent: null,
      finishedAt: null,
      operator: 'operator-ann',
    });
  });

  it('records an ended unit from its last run, and a failed job without a run by the job status', () => {
    const run = {
      id: 'r',
      agentName: 'bench-3',
      portPath: '/dev/ttyUSB0',
      baud: 460800,
      retries: 2,
      regions: [{ offset: 0x1000, size: 4, sha256: 's', md5: 'm', verifiedMd5: 'm' }],
      errorCode: null,
      errorMessage: null,
      startedAt: at,
      finishedAt: at,
    };
    expect(buildUnitRecord({ ...facts, ended: { jobStatus: 'succeeded', run, at } })).toMatchObject({
      result: 'succeeded',
      runId: 'r',
      agent: 'bench-3',
      baud: 460800,
      retries: 2,
      errorCode: null,
      regions: [{ offset: 0x1000, verifiedMd5: 'm' }],
      finishedAt: at.toISOString(),
    });
    expect(
      buildUnitRecord({ ...facts, ended: { jobStatus: 'cancelled', run: undefined, at } }),
    ).toMatchObject({
      result: 'failed',
      runId: null,
      errorCode: 'CANCELLED',
      finishedAt: at.toISOString(),
    });
  });
});

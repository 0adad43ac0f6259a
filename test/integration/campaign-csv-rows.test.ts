/**
 * Per-unit CSV rows of a campaign, with two api replicas on one PostgreSQL
 * database: rows taken in order by both replicas at once never go to two
 * units, and running out is reported; the recipe and the CSV are checked up
 * front (422 UNIT_DATA_INVALID naming the field or row); a secret column's
 * values appear in no answer and no api log line.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { LoggerService } from '@nestjs/common';
import { buildFirmwareSet } from '#esp';
import type { CampaignView } from '#contracts';
import { firmwareForm } from '../../apps/cli/src/commands/firmware-input.js';
import { CsvRows } from '../../apps/api/src/campaigns/csv-rows.js';
import { FarmExitCode } from '../../apps/cli/src/commands/exit-codes.js';
import { runCampaign, runStation } from '../../apps/cli/src/commands/farm-commands.js';
import { scratchDir } from '../support/scratch.js';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestRedisUrl } from '../support/redis.js';

const ADMIN = 'campaign-csv-rows-admin-token-0123456789';
const SECRET = 'Xk29-secret-psk-Wq7Lr';
let database: TestDatabase;
const apis: TestApi[] = [];
/** Every line either replica logged. */
const logged: string[] = [];
let firmwareId: string;
let mergedFirmwareId: string;

const capture: LoggerService = {
  log: (m: unknown, ...rest: unknown[]) => void logged.push([m, ...rest].map(String).join(' ')),
  error: (m: unknown, ...rest: unknown[]) => void logged.push([m, ...rest].map(String).join(' ')),
  warn: (m: unknown, ...rest: unknown[]) => void logged.push([m, ...rest].map(String).join(' ')),
  debug: (m: unknown, ...rest: unknown[]) => void logged.push([m, ...rest].map(String).join(' ')),
  verbose: (m: unknown, ...rest: unknown[]) => void logged.push([m, ...rest].map(String).join(' ')),
};

async function call(
  method: string,
  path: string,
  body?: unknown,
  type: string | undefined = 'application/json',
): Promise<{ status: number; text: string; json: Answer }> {
  const answer = await fetch(`${apis[0].baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN}`,
      ...(body !== undefined && type ? { 'content-type': type } : {}),
    },
    body:
      body === undefined
        ? undefined
        : typeof body === 'string' || body instanceof FormData
          ? body
          : JSON.stringify(body),
  });
  const text = await answer.text();
  let json: Answer = {};
  try {
    json = JSON.parse(text) as Answer;
  } catch {
    // not JSON: json stays empty
  }
  return { status: answer.status, text, json };
}

/** The fields of answers this suite reads (a problem body, a created record, a page). */
interface Answer {
  id?: string;
  code?: string;
  message?: string;
  details?: Array<{ field: string }>;
  total?: number;
  [field: string]: unknown;
}

const RECIPE = {
  serialPattern: 'CSV-{seq:05}',
  nvs: {
    namespaces: [
      {
        name: 'factory',
        entries: [
          { key: 'serial', type: 'string', value: '{serial}' },
          { key: 'cal', type: 'i8', value: '{csv:cal}' },
          { key: 'psk', type: 'string', value: '{csv:psk}' },
        ],
      },
    ],
  },
};

async function station(unitData: unknown = RECIPE, fw = firmwareId) {
  return call('POST', '/campaigns', {
    name: `csv-${randomUUID().slice(0, 8)}`,
    firmwareId: fw,
    mode: 'station',
    // No board matches: the campaign runs, and units are taken by hand below.
    selector: { pool: 'no-such-pool' },
    unitData,
  });
}

beforeAll(async () => {
  database = await createTestDatabase();
  const redisUrl = await createTestRedisUrl();
  for (let i = 0; i < 2; i++) {
    const api = await startTestApi({ database, redisUrl, env: { FLASHFARM_ADMIN_TOKEN: ADMIN } });
    api.api.app.useLogger(capture);
    apis.push(api);
  }
  const parts = buildFirmwareSet({ chip: 'esp32', projectName: 'csv-rows', version: '1.0.0' });
  const form = firmwareForm(
    {
      parts: parts.map((p) => ({ offset: p.offset, fileName: p.name ?? `p${p.offset}.bin`, data: p.data })),
      describe: '',
    },
    { name: 'csv-rows', version: '1.0.0', chip: 'esp32' },
  );
  const uploaded = await call('POST', '/firmware', form, '');

  expect(uploaded.status).toBe(201);
  firmwareId = uploaded.json.id!;
  // A build that ships an nvs image of its own at the nvs partition: per-unit NVS data would overlap it.
  const withNvs = [...parts, { offset: 0x9000, name: 'nvs.bin', data: new Uint8Array(0x6000).fill(0xff) }];
  const mergedForm = firmwareForm(
    {
      parts: withNvs.map((p) => ({ offset: p.offset, fileName: p.name ?? `p${p.offset}.bin`, data: p.data })),
      describe: '',
    },
    { name: 'csv-rows-with-nvs', version: '1.0.0', chip: 'esp32' },
  );
  const m = await call('POST', '/firmware', mergedForm, '');
  expect(m.status).toBe(201);
  mergedFirmwareId = m.json.id!;
}, 90_000);

afterAll(async () => {
  for (const api of apis) await api.close();
  await database?.drop();
});

describe('campaign CSV rows', () => {
  it('refuses a bad recipe at POST /campaigns with 422 UNIT_DATA_INVALID naming the field', async () => {
    const badTemplate = await station({
      nvs: { namespaces: [{ name: 'f', entries: [{ key: 'k', type: 'string', value: '{nope}' }] }] },
    });
    expect(badTemplate.status).toBe(422);
    expect(badTemplate.json.code).toBe('UNIT_DATA_INVALID');
    expect(badTemplate.json.details?.[0].field).toBe('unitData.nvs.namespaces[0].entries[0].value');
    expect(badTemplate.json.message).toMatch(/\{serial\}, \{mac\}/);

    const noSerial = await station({
      nvs: { namespaces: [{ name: 'f', entries: [{ key: 'k', type: 'string', value: 'SN {serial}' }] }] },
    });
    expect(noSerial.status).toBe(422);
    expect(noSerial.json.message).toMatch(/serialPattern/);

    const tooBig = await station({
      nvs: {
        namespaces: [
          {
            name: 'f',
            entries: Array.from({ length: 40 }, (_, i) => ({
              key: `b${i}`,
              type: 'blob',
              value: 'x'.repeat(4000),
            })),
          },
        ],
      },
    });
    expect(tooBig.status).toBe(422);
    expect(tooBig.json.message).toMatch(/does not fit/);

    const covered = await station(RECIPE, mergedFirmwareId);
    expect(covered.status).toBe(422);
    expect(covered.json.message).toMatch(/covers the nvs partition/);
    expect((await call('GET', '/campaigns')).json.total).toBe(0);
  });

  it('checks every CSV row against the recipe before storing any, without showing values', async () => {
    const created = await station();
    expect(created.status).toBe(201);
    const id = (created.json as CampaignView).id;
    const bad = await call(
      'POST',
      `/campaigns/${id}/csv`,
      `cal,psk:secret\r\n5,${SECRET}\r\n300,${SECRET}\r\n`,
      'text/csv',
    );
    expect(bad.status).toBe(422);
    expect(bad.json.code).toBe('UNIT_DATA_INVALID');
    expect(bad.json.message).toMatch(/CSV row 2 .*key "cal".*i8 range/);
    expect(bad.text).not.toContain(SECRET);
    const missing = await call('POST', `/campaigns/${id}/csv`, `cal\r\n5\r\n`, 'text/csv');
    expect(missing.status).toBe(422);
    expect(missing.json.message).toMatch(/"psk"/);
    const json = await call('POST', `/campaigns/${id}/csv`, { cal: 1 });
    expect(json.status).toBe(400);
    // Until a CSV is stored, units of a recipe that needs one wait for it rather than fail.
    expect(await apis[0].api.app.get(CsvRows).wanted(id, RECIPE as never)).toBe('wait');
    const next = await call('POST', `/stations/${id}/next`, { operator: 'Bo\u0000' });
    expect(next.status).toBe(400);
    expect((await call('POST', `/stations/${id}/next`, { operator: 'Bo Chen' })).status).toBe(202);
  });

  it('two replicas taking rows at once never hand one row to two units, and report running out', async () => {
    const created = await station();
    const id = (created.json as CampaignView).id;
    const rows = 60;
    const csv = [
      'cal,psk:secret',
      ...Array.from({ length: rows }, (_, i) => `${i % 100},${SECRET}-${i}`),
    ].join('\n');
    const upload = await call('POST', `/campaigns/${id}/csv`, csv, 'text/csv');
    expect(upload.status).toBe(201);
    expect(upload.json).toMatchObject({
      rowsAdded: rows,
      rowsFree: rows,
      keyedByMac: false,
      secretColumns: ['psk'],
    });
    expect(upload.text).not.toContain(SECRET);

    const [a, b] = apis.map((api) => api.api.app.get(CsvRows));
    const units = Array.from({ length: rows + 6 }, (_, i) => ({
      id: randomUUID(),
      mac: `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
    }));
    const taken = await Promise.all(units.map((u, i) => (i % 2 ? a : b).take(id, u)));
    const got = taken.filter((t) => t !== undefined);
    expect(got).toHaveLength(rows);
    expect(new Set(got.map((t) => t.id)).size).toBe(rows);
    expect(got.map((t) => t.rowNumber).sort((x, y) => x - y)).toEqual(
      Array.from({ length: rows }, (_, i) => i + 1),
    );
    // A board that comes again (a re-test) keeps its row; a new board finds none left.
    const first = units.findIndex((_, i) => taken[i] !== undefined);
    const again = await a.take(id, { id: randomUUID(), mac: units[first].mac });
    expect(again?.id).toBe(taken[first]!.id);
    expect(await b.take(id, { id: randomUUID(), mac: '02:ff:00:00:00:01' })).toBeUndefined();
    expect(await a.exhaustedReason(id, '02:ff:00:00:00:01')).toMatch(
      /all 60 rows .* are used; upload more rows/,
    );
  });

  it('keyed rows belong to their MAC; the operator name is checked and kept', async () => {
    const created = await station();
    const id = (created.json as CampaignView).id;
    const upload = await call(
      'POST',
      `/campaigns/${id}/csv`,
      `mac,cal,psk:secret\n24:0A:C4:00:00:01,1,${SECRET}\n`,
      'text/csv',
    );
    expect(upload.status).toBe(201);
    const dup = await call(
      'POST',
      `/campaigns/${id}/csv`,
      `mac,cal,psk:secret\n24:0a:c4:00:00:01,2,${SECRET}\n`,
      'text/csv',
    );
    expect(dup.status).toBe(422);
    expect(dup.json.message).toMatch(/24:0a:c4:00:00:01 already has CSV row 1/);
    const rows = apis[1].api.app.get(CsvRows);
    expect((await rows.take(id, { id: randomUUID(), mac: '24:0a:c4:00:00:01' }))?.rowNumber).toBe(1);
    expect(await rows.take(id, { id: randomUUID(), mac: '24:0a:c4:00:00:02' })).toBeUndefined();
    expect(await rows.exhaustedReason(id, '24:0a:c4:00:00:02')).toMatch(/no row for MAC 24:0a:c4:00:00:02/);

    const bad = await call('POST', `/stations/${id}/operator`, { operator: 'Ana\u0007' });
    expect(bad.status).toBe(400);
    const tooLong = await call('POST', `/stations/${id}/operator`, { operator: 'x'.repeat(65) });
    expect(tooLong.status).toBe(400);
    const set = await call('POST', `/stations/${id}/operator`, { operator: 'Ana Lima' });
    expect(set.status).toBe(200);
    expect(set.json).toEqual({ campaignId: id, operator: 'Ana Lima' });
  });

  it('the CLI uploads a CSV file and names the operator, and says what was wrong with a bad file', async () => {
    const created = await station();
    const id = (created.json as CampaignView).id;
    const out: string[] = [];
    const err: string[] = [];
    const io = {
      env: { FLASHFARM_URL: apis[1].baseUrl, FLASHFARM_TOKEN: ADMIN },
      stdout: (t: string) => void out.push(t),
      stderr: (t: string) => void err.push(t),
    };
    const file = path.join(scratchDir('campaign-csv-cli'), 'units.csv');
    fs.writeFileSync(file, `cal,psk:secret\n7,${SECRET}\n8,${SECRET}\n`);
    expect(await runCampaign(['csv', id, file], io)).toBe(FarmExitCode.OK);
    expect(out.join('')).toMatch(
      /2 row\(s\) added to campaign .*: 2 of 2 free, taken in order; columns cal, psk \(secret: psk\)/,
    );
    fs.writeFileSync(file, `cal,psk:secret\n900,${SECRET}\n`);
    expect(await runCampaign(['csv', id, file], io)).not.toBe(FarmExitCode.OK);
    expect(err.join('')).toMatch(/UNIT_DATA_INVALID.*CSV row 1 .*"cal"/);
    expect(await runCampaign(['csv', id, path.join(file, 'missing.csv')], io)).toBe(FarmExitCode.USAGE);
    expect(err.join('')).toMatch(/cannot read .*missing\.csv/);
    expect([...out, ...err].join('')).not.toContain(SECRET);

    out.length = 0;
    expect(await runStation(['operator', id, 'Chen Wu'], io)).toBe(FarmExitCode.OK);
    expect(out.join('')).toContain(`Operator of station ${id}: Chen Wu`);
    expect(await runStation(['next', id, '--operator', 'Chen Wu', '--json'], io)).toBe(FarmExitCode.OK);
    expect(JSON.parse(out.at(-1)!)).toMatchObject({ campaignId: id });
    expect(await runStation(['operator', id], io)).toBe(FarmExitCode.USAGE);
  });

  it('no api log line holds a secret value', () => {
    expect(logged.some((l) => /CSV row\(s\) added/.test(l))).toBe(true);
    expect(logged.filter((l) => l.includes(SECRET))).toEqual([]);
  });
});

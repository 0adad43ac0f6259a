/**
 * Production campaigns on a running farm (api on PostgreSQL + Redis, agent,
 * simulated boards over RFC 2217). Pool mode flashes every board of a pool
 * once; station mode flashes each board on the agent's ports (those already
 * there when it starts and each one plugged in while it runs) once per stay,
 * as soon as it appears; the CSV export has one row per unit with every field.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import type { CampaignView } from '#contracts';
import type { DemoFarm } from '../../scripts/demo.js';
import { UNIT_CSV_COLUMNS } from '../../apps/api/src/campaigns/unit-record.js';
import { startTestDemoFarm, type TestDemoFarm } from '../support/demo-farm.js';
import { pollUntil } from '../support/poll.js';

let farm: DemoFarm;
let testFarm: TestDemoFarm | undefined;
let firmwareId: string;

/** Columns that stay empty for a campaign without per-unit data, an operator name or a boot check. */
const EMPTY_WITHOUT_UNIT_DATA = new Set<string>([
  'error_code',
  'error_message',
  'serial',
  'data_sha256',
  'csv_row',
  'operator_name',
  'boot_check_matched',
]);

const md5 = (data: Uint8Array) => createHash('md5').update(data).digest('hex');

/** Splits one CSV line (RFC 4180 quoting). */
function csvCells(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  cells.push(cell);
  return cells;
}

async function campaign(id: string): Promise<CampaignView> {
  return farm.client.request<CampaignView>('GET', `/campaigns/${id}`);
}

/** Campaign passes the farm's api completed (flashfarm_campaign_passes_total). */
async function campaignPasses(): Promise<number> {
  const text = await farm.client.request<string>('GET', '/metrics', { text: true });
  const m = /^flashfarm_campaign_passes_total (\d+)$/m.exec(text);
  if (!m) throw new Error('/metrics has no flashfarm_campaign_passes_total');
  return Number(m[1]);
}

beforeAll(async () => {
  testFarm = await startTestDemoFarm('station-agent', {
    boards: [
      { chip: 'esp32', name: 'pool-a', pool: 'batch-1' },
      { chip: 'esp32', name: 'pool-b', pool: 'batch-1' },
      { chip: 'esp32', name: 'other-pool', pool: 'rework' },
    ],
    emptyPorts: 3,
    timeScale: 0.05,
    // Boards are put on ports empty since the start: seen within 3 s, not after the default 30 s pause.
    agentEnv: () => ({ FLASHFARM_AGENT_PROBE_BACKOFF_MAX_MS: '3000' }),
  });
  farm = testFarm.farm;
  firmwareId = (await farm.uploadFirmware('esp32', '7.0.0')).id;
}, 60_000);

afterAll(async () => {
  await testFarm?.close();
});

describe('production campaigns', () => {
  it('pool mode flashes every board of the pool once and completes', async () => {
    const created = await farm.client.request<CampaignView>('POST', '/campaigns', {
      body: { json: { name: 'batch-1', firmwareId, mode: 'pool', selector: { pool: 'batch-1' } } },
    });
    expect(created.counters.total).toBe(2);
    const done = await pollUntil(
      async () => {
        const c = await campaign(created.id);
        return c.status === 'completed' ? c : undefined;
      },
      { timeoutMs: 30_000, what: 'the pool campaign to complete' },
    );
    expect(done.counters).toMatchObject({ total: 2, succeeded: 2, failed: 0, pending: 0, inProgress: 0 });
    expect(done.counters.unitsPerHour).toBeGreaterThan(0);
  }, 40_000);

  it('records a failed unit with its error code, and retries it in the same unit row', async () => {
    const created = await farm.client.request<CampaignView>('POST', '/campaigns', {
      body: {
        json: {
          name: 'rework',
          firmwareId,
          mode: 'pool',
          selector: { pool: 'rework' },
          options: { bootCheck: { pattern: 'never printed', timeoutMs: 300 } },
        },
      },
    });
    expect(created.counters.total).toBe(1);
    const failedOnce = await pollUntil(
      async () => {
        const c = await campaign(created.id);
        // The campaign turns completed on its next pass after the unit's result is counted.
        return c.counters.failed === 1 && c.status === 'completed' ? c : undefined;
      },
      { timeoutMs: 30_000, what: 'the unit to fail its boot check and the campaign to complete' },
    );
    expect(failedOnce.status).toBe('completed');
    const units = async () =>
      (
        await farm.client.request<{
          items: Array<{ result: string; attempts: number; errorCode: string | null }>;
        }>('GET', `/campaigns/${created.id}/units`)
      ).items;
    expect(await units()).toEqual([
      expect.objectContaining({ result: 'failed', attempts: 1, errorCode: 'BOOT_CHECK_FAILED' }),
    ]);

    const retried = await farm.client.request<{ retried: number }>(
      'POST',
      `/campaigns/${created.id}/retry-failed`,
    );
    expect(retried.retried).toBe(1);
    await pollUntil(
      async () => {
        const [u] = await units();
        return u.attempts === 2 && u.result === 'failed';
      },
      { timeoutMs: 30_000, what: 'the retried unit to end' },
    );
    expect(await units()).toHaveLength(1);
  }, 70_000);

  it('station mode flashes each board present or attached while it runs exactly once, and exports one CSV row per unit', async () => {
    const jobsBefore = (await farm.client.request<{ total: number }>('GET', '/jobs?limit=1')).total;
    const created = await farm.client.request<CampaignView>('POST', '/campaigns', {
      body: { json: { name: 'station-1', firmwareId, mode: 'station', selector: {} } },
    });
    // Boards already on the agent when the station opened are units too (a fixture loaded before the start).
    const present = farm.boards.length;
    await pollUntil(
      async () => {
        const c = await campaign(created.id);
        return c.counters.succeeded === present && c.counters.inProgress === 0 && c.counters.pending === 0;
      },
      { timeoutMs: 40_000, what: 'the boards present at the start to be flashed' },
    );

    const attached = [];
    for (const [i, port] of farm.emptyPorts.entries()) {
      attached.push(await farm.addBoard({ chip: 'esp32', name: `station-unit-${i}` }, port));
      await pollUntil(
        async () => {
          const c = await campaign(created.id);
          return (
            c.counters.succeeded === present + i + 1 &&
            c.counters.inProgress === 0 &&
            c.counters.pending === 0
          );
        },
        { timeoutMs: 40_000, what: `station unit ${i + 1} to be flashed` },
      );
    }
    // A few more campaign passes (seen on /metrics): none starts a second job for a unit.
    const before = await campaignPasses();
    await pollUntil(async () => (await campaignPasses()) >= before + 3, {
      what: 'three more campaign passes',
    });
    const final = await campaign(created.id);
    expect(final.counters).toMatchObject({
      total: present + 3,
      succeeded: present + 3,
      failed: 0,
      retests: 0,
    });
    expect((await farm.client.request<{ total: number }>('GET', '/jobs?limit=1')).total - jobsBefore).toBe(
      present + 3,
    );

    // Each attached board now holds the campaign's firmware.
    const fw = await farm.client.request<{ parts: Array<{ offset: number; size: number; md5: string }> }>(
      'GET',
      `/firmware/${firmwareId}`,
    );
    for (const b of attached)
      for (const part of fw.parts) expect(md5(b.board.flash.read(part.offset, part.size))).toBe(part.md5);

    const csv = await farm.client.request<string>('GET', `/campaigns/${created.id}/export.csv`, {
      text: true,
    });
    const lines = csv.trimEnd().split('\r\n');
    expect(lines[0].split(',')).toEqual([...UNIT_CSV_COLUMNS]);
    expect(lines).toHaveLength(1 + present + 3);
    const rows = lines.slice(1).map(csvCells);
    const col = (name: (typeof UNIT_CSV_COLUMNS)[number]) => UNIT_CSV_COLUMNS.indexOf(name);
    expect(rows.map((r) => r[col('mac')]).sort()).toEqual(farm.boards.map((b) => b.board.mac).sort());
    for (const row of rows) {
      expect(row).toHaveLength(UNIT_CSV_COLUMNS.length);
      for (const name of UNIT_CSV_COLUMNS)
        if (!EMPTY_WITHOUT_UNIT_DATA.has(name))
          expect({ name, value: row[col(name)] }).not.toEqual({ name, value: '' });
      expect(row[col('serial')]).toBe(''); // this campaign has no serial-number recipe
      expect(row[col('data_sha256')]).toBe(''); // nor an NVS recipe or CSV
      expect(row[col('csv_row')]).toBe('');
      expect(row[col('boot_check')]).toBe('not_run');
      expect(row[col('timings')]).toMatch(/(^|;)flashMs=\d+(;|$)/);
      expect(row[col('result')]).toBe('succeeded');
      expect(row[col('chip')]).toBe('esp32');
      expect(row[col('operator')]).toBe('bootstrap-admin');
      expect(row[col('agent')]).toBe('station-agent');
      expect(row[col('port')]).toMatch(/^rfc2217:\/\/127\.0\.0\.1:\d+$/);
      expect(row[col('region_offsets')]).toBe(fw.parts.map((p) => `0x${p.offset.toString(16)}`).join(';'));
      expect(row[col('region_md5_verified')]).toBe(row[col('region_md5_expected')]);
      expect(row[col('region_md5_verified')]).toBe(fw.parts.map((p) => p.md5).join(';'));
    }
    const json = await farm.client.request<Array<{ mac: string; regions: unknown[] }>>(
      'GET',
      `/campaigns/${created.id}/export.json`,
    );
    expect(json).toHaveLength(present + 3);
    expect(json.every((r) => r.regions.length === fw.parts.length)).toBe(true);

    const stopped = await farm.client.request<CampaignView>('POST', `/campaigns/${created.id}/stop`);
    expect(stopped.status).toBe('stopped');
  }, 150_000);
});

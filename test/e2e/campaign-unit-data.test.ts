/**
 * Per-unit data on a running farm (api on PostgreSQL + Redis, agent, simulated
 * boards over RFC 2217): a pool campaign with an NVS recipe and a CSV keyed by
 * MAC flashes each board with the firmware and its own NVS partition in one
 * session, and a station takes rows in order, records its operator and fails
 * the unit left without a row. The partition read back from each board's flash decodes
 * (libs/esp nvs reader) to that unit's serial, MAC and CSV values; the unit
 * records carry the data's SHA-256, the CSV row and the boot check; and the
 * secret CSV column appears in no answer, export, run log or webhook body.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { readNvsPartition, nvsRecipeOf } from '#esp';
import type { CampaignView, UnitRecord } from '#contracts';
import type { DemoFarm } from '../../scripts/demo.js';
import { DEMO_BOOT_PATTERN } from '../../scripts/demo.js';
import { UNIT_CSV_COLUMNS } from '../../apps/api/src/campaigns/unit-record.js';
import { startTestDemoFarm, type TestDemoFarm } from '../support/demo-farm.js';
import { pollUntil } from '../support/poll.js';

let farm: DemoFarm;
let testFarm: TestDemoFarm | undefined;

const MACS = ['24:0a:c4:5e:00:01', '24:0a:c4:5e:00:02'];
/** The secret of each board: long and unique, so finding it anywhere is not a coincidence. */
const secretOf = (i: number) => `psk-${i}-Zq8vTt3LmW9xK2`;
/** The demo firmware's nvs partition (libs/esp writer.ts buildFirmwareSet). */
const NVS = { offset: 0x9000, size: 0x6000 };

/** Campaign passes the farm's api completed (flashfarm_campaign_passes_total). */
async function campaignPasses(): Promise<number> {
  const text = await farm.client.request<string>('GET', '/metrics', { text: true });
  const m = /^flashfarm_campaign_passes_total (\d+)$/m.exec(text);
  if (!m) throw new Error('/metrics has no flashfarm_campaign_passes_total');
  return Number(m[1]);
}

beforeAll(async () => {
  testFarm = await startTestDemoFarm('unit-data-agent', {
    boards: MACS.map((mac, i) => ({ chip: 'esp32' as const, name: `nvs-unit-${i}`, pool: 'nvs-line', mac })),
    timeScale: 0.05,
  });
  farm = testFarm.farm;
}, 60_000);

afterAll(async () => {
  await testFarm?.close();
});

describe('per-unit NVS data', () => {
  it('writes each unit its own NVS partition with the firmware, verified, and keeps the CSV secret out of every answer', async () => {
    const firmwareId = (await farm.uploadFirmware('esp32', '8.0.0')).id;
    const created = await farm.client.request<CampaignView>('POST', '/campaigns', {
      body: {
        json: {
          name: 'nvs-line',
          firmwareId,
          mode: 'pool',
          selector: { pool: 'nvs-line' },
          options: { bootCheck: { pattern: DEMO_BOOT_PATTERN, timeoutMs: 5000 } },
          unitData: {
            serialPattern: 'NV-{seq:05}',
            nvs: {
              namespaces: [
                {
                  name: 'factory',
                  entries: [
                    { key: 'serial', type: 'string', value: '{serial}' },
                    { key: 'mac', type: 'string', value: '{mac}' },
                    { key: 'cal', type: 'i16', value: '{csv:cal}' },
                    { key: 'hw_rev', type: 'u8', value: 3 },
                  ],
                },
                {
                  name: 'wifi',
                  entries: [
                    { key: 'psk', type: 'string', value: '{csv:psk}' },
                    { key: 'id', type: 'blob', value: '{mac_hex}', encoding: 'hex' },
                  ],
                },
              ],
            },
          },
        },
      },
    });
    // The recipe needs CSV values: the units wait for the upload (they do not fail before it).
    const before = await campaignPasses();
    await pollUntil(async () => (await campaignPasses()) >= before + 3, { what: 'three campaign passes' });
    expect(
      (await farm.client.request<CampaignView>('GET', `/campaigns/${created.id}`)).counters,
    ).toMatchObject({
      pending: 2,
      failed: 0,
    });
    // A receiver for the campaign's webhook: every unit record it gets is kept to search for secrets.
    const hookBodies: string[] = [];
    const receiver = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (c: Buffer) => chunks.push(c));
      request.on('end', () => {
        hookBodies.push(Buffer.concat(chunks).toString('utf8'));
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
    await farm.client.request('PUT', `/campaigns/${created.id}/webhook`, {
      body: { json: { url: hookUrl, secret: 'unit-data-hook-secret-0123456789' } },
    });
    const csv = [
      'mac,cal,psk:secret',
      `${MACS[1]},-12,${secretOf(1)}`,
      `${MACS[0]},250,${secretOf(0)}`,
      `aa:bb:cc:00:00:09,7,${secretOf(9)}`,
    ].join('\r\n');
    const upload = await fetch(`${farm.url}/campaigns/${created.id}/csv`, {
      method: 'POST',
      headers: { authorization: `Bearer ${farm.adminToken}`, 'content-type': 'text/csv' },
      body: csv,
    });
    const uploadText = await upload.text();
    expect(upload.status).toBe(201);
    expect(JSON.parse(uploadText)).toMatchObject({
      rowsAdded: 3,
      keyedByMac: true,
      columns: ['mac', 'cal', 'psk'],
      secretColumns: ['psk'],
    });
    expect(uploadText).not.toContain('Zq8vTt3LmW9xK2');

    const done = await pollUntil(
      async () => {
        const c = await farm.client.request<CampaignView>('GET', `/campaigns/${created.id}`);
        return c.status === 'completed' && c.counters.succeeded === 2 ? c : undefined;
      },
      { timeoutMs: 60_000, what: 'the NVS campaign to complete' },
    );
    expect(done.counters).toMatchObject({ total: 2, succeeded: 2, failed: 0 });

    const unitsText = await (
      await fetch(`${farm.url}/campaigns/${created.id}/units`, {
        headers: { authorization: `Bearer ${farm.adminToken}` },
      })
    ).text();
    const units = (JSON.parse(unitsText) as { items: UnitRecord[] }).items;
    expect(units).toHaveLength(2);
    for (const [i, mac] of MACS.entries()) {
      const unit = units.find((u) => u.mac === mac)!;
      const board = farm.boards.find((b) => b.board.mac === mac)!;
      const bytes = board.board.flash.read(NVS.offset, NVS.size);
      // What the board holds is what the record says was sent, and the agent verified it by MD5.
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(unit.dataSha256);
      const nvsRegion = unit.regions.find((r) => r.offset === NVS.offset)!;
      expect(nvsRegion.verifiedMd5).toBe(createHash('md5').update(bytes).digest('hex'));
      const decoded = nvsRecipeOf(readNvsPartition(bytes).namespaces);
      expect(decoded).toEqual({
        factory: {
          serial: { type: 'string', value: unit.serial },
          mac: { type: 'string', value: mac },
          cal: { type: 'i16', value: i === 0 ? 250 : -12 },
          hw_rev: { type: 'u8', value: 3 },
        },
        wifi: {
          psk: { type: 'string', value: secretOf(i) },
          id: { type: 'blob', value: new Uint8Array(Buffer.from(mac.replace(/:/g, ''), 'hex')) },
        },
      });
      expect(unit.serial).toMatch(/^NV-\d{5}$/);
      expect(unit.csvRow).toBe(i === 0 ? 2 : 1);
      expect(unit.bootCheck.result).toBe('passed');
      expect(unit.bootCheck.matched).toBe('Calling app_main()');
      expect(unit.timings?.flashMs).toBeGreaterThan(0);
    }
    expect(units[0].serial).not.toBe(units[1].serial);

    const exportCsv = await farm.client.request<string>('GET', `/campaigns/${created.id}/export.csv`, {
      text: true,
    });
    const header = exportCsv.split('\r\n')[0].split(',');
    expect(header).toEqual([...UNIT_CSV_COLUMNS]);
    expect(header.slice(-6)).toEqual([
      'data_sha256',
      'csv_row',
      'operator_name',
      'boot_check',
      'boot_check_matched',
      'timings',
    ]);
    const exportJson = await farm.client.request<string>('GET', `/campaigns/${created.id}/export.json`, {
      text: true,
    });
    // The runs' flash logs (as the agent reported them) name the region, never its contents.
    const logs: string[] = [];
    for (const unit of units) {
      const log = await pollUntil(
        async () => {
          const text = await farm.client.request<string>('GET', `/runs/${unit.runId}/log`, { text: true });
          return /succeeded: \d+ bytes written/.test(text) ? text : undefined;
        },
        { what: `the log of run ${unit.runId}` },
      );
      expect(log).toMatch(/nvs \(this unit's data\) at 0x9000 \(24576 bytes\), SHA-256 checked/);
      logs.push(log);
    }
    const hooked = await pollUntil(
      () => Promise.resolve(hookBodies.length >= 2 ? [...hookBodies] : undefined),
      {
        what: 'both unit records at the webhook',
      },
    );
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    // The webhook gets which row each unit used, never the row's values.
    const hookedRecords = hooked.map((b) => JSON.parse(b) as UnitRecord);
    expect(hookedRecords.map((r) => r.csvRow).sort()).toEqual([1, 2]);
    expect(hookedRecords.every((r) => /^[0-9a-f]{64}$/.test(r.dataSha256 ?? ''))).toBe(true);
    for (const text of [unitsText, exportCsv, exportJson, ...logs, ...hooked])
      for (const i of [0, 1, 9]) expect(text).not.toContain(secretOf(i));
  }, 120_000);

  it('a station takes CSV rows in order, records the operator, and fails the unit left without a row UNIT_DATA_EXHAUSTED', async () => {
    const firmwareId = (await farm.uploadFirmware('esp32', '8.0.1')).id;
    const created = await farm.client.request<CampaignView>('POST', '/campaigns', {
      body: {
        json: {
          name: 'nvs-station',
          firmwareId,
          mode: 'station',
          // No board is in this pool yet: the operator and the CSV are set before any unit comes.
          selector: { pool: 'nvs-station' },
          unitData: {
            nvs: {
              namespaces: [
                { name: 'cloud', entries: [{ key: 'token', type: 'string', value: '{csv:token}' }] },
              ],
            },
          },
        },
      },
    });
    await farm.client.request('POST', `/stations/${created.id}/operator`, {
      body: { json: { operator: 'Ana Lima' } },
    });
    const upload = await fetch(`${farm.url}/campaigns/${created.id}/csv`, {
      method: 'POST',
      headers: { authorization: `Bearer ${farm.adminToken}`, 'content-type': 'text/csv' },
      body: `token:secret\n${secretOf(42)}\n`,
    });
    expect(upload.status).toBe(201);
    for (const mac of MACS)
      await farm.client.request('PATCH', `/devices/${mac}`, { body: { json: { pool: 'nvs-station' } } });

    const done = await pollUntil(
      async () => {
        const c = await farm.client.request<CampaignView>('GET', `/campaigns/${created.id}`);
        return c.counters.succeeded + c.counters.failed === 2 && c.counters.inProgress === 0 ? c : undefined;
      },
      { timeoutMs: 60_000, what: 'both station units to end' },
    );
    expect(done.counters).toMatchObject({ succeeded: 1, failed: 1 });
    const { items } = await farm.client.request<{ items: UnitRecord[] }>(
      'GET',
      `/campaigns/${created.id}/units`,
    );
    const passed = items.find((u) => u.result === 'succeeded')!;
    const failed = items.find((u) => u.result === 'failed')!;
    expect(passed.csvRow).toBe(1);
    expect(passed.operatorName).toBe('Ana Lima');
    expect(failed.operatorName).toBe('Ana Lima');
    expect(failed.errorCode).toBe('UNIT_DATA_EXHAUSTED');
    expect(failed.errorMessage).toMatch(/all 1 rows of the campaign's CSV are used; upload more rows/);
    expect(failed.csvRow).toBeNull();
    const board = farm.boards.find((b) => b.board.mac === passed.mac)!;
    const decoded = nvsRecipeOf(readNvsPartition(board.board.flash.read(NVS.offset, NVS.size)).namespaces);
    expect(decoded).toEqual({ cloud: { token: { type: 'string', value: secretOf(42) } } });
    const exported = await farm.client.request<string>('GET', `/campaigns/${created.id}/export.csv`, {
      text: true,
    });
    expect(exported).toContain('Ana Lima');
    expect(exported).not.toContain(secretOf(42));
  }, 120_000);
});

/**
 * Station benchmark: a production line's fixture slots cycling units in real
 * time (timeScale 1). One station-mode campaign (1 MiB app; per unit a serial
 * number from a pattern and an NVS partition written in the same flash session)
 * on a farm of the api (PostgreSQL, Redis), one agent and simulated ESP32 units
 * behind RFC 2217 ports declared as probe-triggered
 * fixture slots. Each slot gets a unit; every time a unit ends, it is taken
 * out and a new unit (another MAC) is put in on the same port, as an operator
 * swaps modules under a pogo-pin bed. For N slots (1, 4, 16) it prints:
 *
 * - units/hour per slot and in aggregate (units ended over the round's wall time);
 * - time from "unit present" (its port listening) to PASS (the record's finishedAt), p50/p95;
 * - the cycle split into line time (the flash session: the record's startedAt → finishedAt,
 *   bytes on the serial line, programming, MD5 verify, reset) and overhead (unit present →
 *   flash session started: the agent's probe of the idle slot, identification, the unit record,
 *   queueing and dispatch; and the swap: PASS → next unit present).
 *
 * The api, the agent and the simulated units share this process, as on a one-box station PC.
 * Runs its own redis-server and PostgreSQL server (temporary directory).
 *
 *   npm run bench:station                       (node --import ./scripts/register-ts.mjs bench/station.ts)
 *   npm run bench:station -- --slots 1,4 --units 3 --swap-ms 500
 *
 * The last line is one JSON object with the figures.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildFirmwareSet } from '#esp';
import type { CampaignView, FirmwareView, Page, UnitRecord } from '#contracts';
import { Migrator } from '../apps/api/src/db/migrator.js';
import { firmwareForm } from '../apps/cli/src/commands/firmware-input.js';
import { startDemoFarm, type DemoBoard, type DemoFarm } from '../scripts/demo.js';
import { startServices } from '../test/support/services.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const SLOT_COUNTS = arg('slots', '1,4,16')
  .split(',')
  .map((s) => parseInt(s, 10))
  .filter((n) => n > 0);
/** Units each slot cycles per round. */
const UNITS_PER_SLOT = Math.max(1, parseInt(arg('units', '3'), 10));
/** Between taking a unit out and putting the next in (an operator's hands); the agent sees the slot empty. */
const SWAP_MS = Math.max(0, parseInt(arg('swap-ms', '200'), 10));
const APP_BYTES = 1024 * 1024;
/** How often the bench reads the unit records (it also decides when a unit is swapped). */
const POLL_MS = 200;
/** A fixture slot is probed at this rate while idle (FLASHFARM_AGENT_FIXTURE_POLL_MS). */
const FIXTURE_POLL_MS = 300;
const UNIT_TIMEOUT_MS = 300_000;

const round1 = (n: number) => Math.round(n * 10) / 10;

function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** One unit's cycle as measured. */
interface Cycle {
  slot: number;
  presentAt: number;
  startedAt: number;
  finishedAt: number;
  /** When the bench saw it end (and started the swap). */
  seenAt: number;
  result: string;
}

interface RoundFigures {
  slots: number;
  units: number;
  passed: number;
  wallS: number;
  unitsPerHour: number;
  unitsPerHourPerSlot: number;
  presentToPassP50S: number;
  presentToPassP95S: number;
  lineS: number;
  detectS: number;
  swapS: number;
  linePercent: number;
}

let unitCounter = 0;

async function takeOut(farm: DemoFarm, b: DemoBoard): Promise<void> {
  await b.server.close();
  b.board.dispose();
  farm.boards.splice(farm.boards.indexOf(b), 1);
}

/** Starts one unit on a slot's port. */
function putIn(farm: DemoFarm, port: number): Promise<DemoBoard> {
  unitCounter++;
  return farm.addBoard({ chip: 'esp32', name: `bench-unit-${unitCounter}` }, port);
}

async function round(farm: DemoFarm, firmwareId: string, ports: number[]): Promise<RoundFigures> {
  const campaign = await farm.client.request<CampaignView>('POST', '/campaigns', {
    body: {
      json: {
        name: `bench-station-${ports.length}`,
        firmwareId,
        mode: 'station',
        // Per unit: a serial number and an NVS partition (serial, MAC, a calibration constant) made at
        // dispatch and written in the same flash session, as a factory's provisioning data would be.
        unitData: {
          serialPattern: `B${ports.length}-{seq:06}`,
          nvs: {
            namespaces: [
              {
                name: 'factory',
                entries: [
                  { key: 'serial', type: 'string', value: '{serial}' },
                  { key: 'mac', type: 'blob', value: '{mac_hex}', encoding: 'hex' },
                  { key: 'cal', type: 'i16', value: '-42' },
                ],
              },
            ],
          },
        },
      },
    },
  });
  const cycles: Cycle[] = [];
  const started = Date.now();
  // Each slot: put a unit in, wait for its record to end, take it out, put the next in.
  const under = new Map<number, { board: DemoBoard; presentAt: number }>();
  const done = new Map<number, number>();
  for (const [i, port] of ports.entries()) {
    under.set(i, { board: await putIn(farm, port), presentAt: Date.now() });
    done.set(i, 0);
  }
  const deadline = Date.now() + UNIT_TIMEOUT_MS * UNITS_PER_SLOT;
  let swapError: Error | undefined;
  while ([...done.values()].some((n) => n < UNITS_PER_SLOT)) {
    if (Date.now() > deadline) throw new Error(`round of ${ports.length} slots did not finish`);
    if (swapError) throw swapError;
    await new Promise((r) => setTimeout(r, POLL_MS));
    const records = (
      await farm.client.request<Page<UnitRecord>>('GET', `/campaigns/${campaign.id}/units?limit=1000`)
    ).items;
    const seenAt = Date.now();
    for (const [i, current] of [...under.entries()]) {
      const rec = records.find(
        (u) => u.mac === current.board.board.mac && (u.result === 'succeeded' || u.result === 'failed'),
      );
      if (!rec) continue;
      cycles.push({
        slot: i,
        presentAt: current.presentAt,
        startedAt: Date.parse(rec.startedAt ?? rec.queuedAt),
        finishedAt: Date.parse(rec.finishedAt!),
        seenAt,
        result: rec.result,
      });
      under.delete(i);
      done.set(i, done.get(i)! + 1);
      await takeOut(farm, current.board);
      if (done.get(i)! < UNITS_PER_SLOT) {
        // The swap runs beside the other slots' work: this slot's next unit after the operator's gap.
        void new Promise((r) => setTimeout(r, SWAP_MS))
          .then(() => putIn(farm, ports[i]))
          .then((board) => under.set(i, { board, presentAt: Date.now() }))
          .catch((error: unknown) => {
            swapError = error instanceof Error ? error : new Error(String(error));
          });
      }
    }
  }
  const wallS = (Date.now() - started) / 1000;
  await farm.client.request('POST', `/campaigns/${campaign.id}/stop`);
  const passed = cycles.filter((c) => c.result === 'succeeded');
  const presentToPass = passed.map((c) => (c.finishedAt - c.presentAt) / 1000);
  const line = cycles.reduce((n, c) => n + (c.finishedAt - c.startedAt), 0) / 1000;
  const detect = cycles.reduce((n, c) => n + (c.startedAt - c.presentAt), 0) / 1000;
  // The swap of each unit but the slot's last: from its PASS to the next unit being present.
  const bySlot = new Map<number, Cycle[]>();
  for (const c of cycles) bySlot.set(c.slot, [...(bySlot.get(c.slot) ?? []), c]);
  let swap = 0;
  for (const list of bySlot.values())
    for (let k = 1; k < list.length; k++) swap += (list[k].presentAt - list[k - 1].finishedAt) / 1000;
  const n = cycles.length;
  const unitsPerHour = (n / wallS) * 3600;
  return {
    slots: ports.length,
    units: n,
    passed: passed.length,
    wallS: round1(wallS),
    unitsPerHour: Math.round(unitsPerHour),
    unitsPerHourPerSlot: Math.round(unitsPerHour / ports.length),
    presentToPassP50S: round1(percentile(presentToPass, 50)),
    presentToPassP95S: round1(percentile(presentToPass, 95)),
    lineS: round1(line / n),
    detectS: round1(detect / n),
    swapS: round1(n > ports.length ? swap / (n - ports.length) : 0),
    linePercent: round1((100 * line) / (line + detect + swap)),
  };
}

async function main(): Promise<void> {
  const most = Math.max(...SLOT_COUNTS);
  console.log(`machine: ${os.cpus().length} cores; load average ${os.loadavg().map(round1).join(' ')}`);
  const services = await startServices(async (url) => {
    const migrator = await Migrator.forPostgres(url);
    try {
      await migrator.deploy();
    } finally {
      await migrator.close();
    }
  });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'flashfarm-bench-station-'));
  const databaseUrl = new URL(services.postgresAdminUrl);
  databaseUrl.pathname = `/${services.templateDatabase}`;
  let farm: DemoFarm | undefined;
  try {
    farm = await startDemoFarm({
      boards: [],
      emptyPorts: most,
      timeScale: 1,
      env: {
        DATABASE_URL: databaseUrl.toString(),
        REDIS_URL: services.redisUrl,
        FLASHFARM_DATA_DIR: work,
        FLASHFARM_PORT: '0',
        FLASHFARM_HOST: '127.0.0.1',
        FLASHFARM_AGENT_NAME: 'bench-station',
        FLASHFARM_LOG_LEVEL: 'warn',
      },
      agentEnv: (urls) => ({
        FLASHFARM_AGENT_FIXTURES: urls.map((u) => `${u}=probe`).join(','),
        FLASHFARM_AGENT_FIXTURE_POLL_MS: String(FIXTURE_POLL_MS),
      }),
    });
    const parts = buildFirmwareSet({
      chip: 'esp32',
      projectName: 'bench-station',
      version: '1.0.0',
      payloadBytes: APP_BYTES,
    });
    const form = firmwareForm(
      {
        parts: parts.map((p) => ({
          offset: p.offset,
          fileName: p.name ?? `part-${p.offset}.bin`,
          data: p.data,
        })),
        describe: '',
      },
      { name: 'bench-station', version: '1.0.0', chip: 'esp32' },
    );
    const firmware = await farm.client.request<FirmwareView>('POST', '/firmware', { body: { form } });
    const bytes = parts.reduce((n, p) => n + p.data.length, 0);
    console.log(
      `firmware: ${parts.length} parts, ${bytes} B (1 MiB app); per-unit data: a serial number and an NVS partition (serial, MAC, calibration) per unit`,
    );
    console.log(
      `${UNITS_PER_SLOT} units per slot, swap ${SWAP_MS} ms, fixture probe every ${FIXTURE_POLL_MS} ms\n`,
    );
    const results: RoundFigures[] = [];
    for (const slots of SLOT_COUNTS) {
      const figures = await round(farm, firmware.id, farm.emptyPorts.slice(0, slots));
      results.push(figures);
      console.log(
        `${slots} slot(s): ${figures.units} units (${figures.passed} PASS) in ${figures.wallS} s, load ${os.loadavg()[0].toFixed(1)}`,
      );
    }
    console.log('');
    console.log(
      '| slots | units | units/h | units/h per slot | present→PASS p50 | p95 | line (flash session) | detect+dispatch | swap | line share |',
    );
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of results)
      console.log(
        `| ${r.slots} | ${r.units} | ${r.unitsPerHour} | ${r.unitsPerHourPerSlot} | ${r.presentToPassP50S} s | ${r.presentToPassP95S} s | ${r.lineS} s | ${r.detectS} s | ${r.swapS} s | ${r.linePercent} % |`,
      );
    console.log(JSON.stringify({ unitsPerSlot: UNITS_PER_SLOT, swapMs: SWAP_MS, rounds: results }));
  } finally {
    await farm?.stop();
    await services.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

await main();

/**
 * Api benchmark: throughput and latency of job creation and device listing
 * under concurrent clients, side by side with /health of the same app as the
 * baseline, and dispatch latency measured two ways in the same run:
 *
 * - queue pickup: POST /jobs → the BullMQ job received by the scripted test
 *   driver (test/support/fake-agent.ts), which also registers the 16 boards
 *   the load phase schedules onto;
 * - first byte on the serial link: POST /jobs pinned to one board → the first
 *   byte a simulated ESP32 (real time, behind an RFC 2217 server) receives
 *   from a real agent process, broken down into queue pickup, claim answered,
 *   port opened and reset began (bench/serial-dispatch.ts says where each is
 *   read). One cold job (firmware not yet in the agent's cache) comes first
 *   and is reported on its own.
 *
 * Runs its own redis-server (temporary data dir) and the embedded PGlite
 * database, or the PostgreSQL server named by DATABASE_URL.
 *
 *   npm run bench:api                          (node --import ./scripts/register-ts.mjs bench/api.ts)
 *   npm run bench:api -- --requests 2000 --concurrency 8,32   (default: 300 requests per endpoint and level)
 *   npm run bench:api -- --serial-samples 50 --serial-boards 4   (0 samples skips the serial part)
 *   npm run bench:api -- --stats-runs 1000000 --stats-samples 30   (0 runs skips the statistics part)
 *   npm run bench:api -- --stats-only                              (only the statistics part, bench/stats.ts)
 *
 * The last line is one JSON object with the figures.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureRedis } from '#runtime';
import { loadApiConfig } from '../apps/api/src/config/api-config.js';
import { createApiApp } from '../apps/api/src/app.factory.js';
import { FakeAgent } from '../test/support/fake-agent.js';
import { startSerialFarm, type SerialFarm, type SerialSample } from './serial-dispatch.js';
import { benchStats, type StatsFigures } from './stats.js';

const BOARDS = 16;
const DISPATCH_SAMPLES = 30;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const REQUESTS = Number(arg('requests', '300'));
const CONCURRENCY = arg('concurrency', '8,32').split(',').map(Number);
/** Pinned jobs timed to the first serial byte, after one cold run that fills the agent's firmware cache. */
const SERIAL_SAMPLES = Number(arg('serial-samples', '20'));
/** Simulated boards the pinned jobs go to, in turn. */
const SERIAL_BOARDS = Number(arg('serial-boards', '2'));
/** Ended runs seeded into PostgreSQL for the statistics routes (bench/stats.ts). */
const STATS_RUNS = Number(arg('stats-runs', '1000000'));
const STATS_SAMPLES = Number(arg('stats-samples', '30'));
const STATS_ONLY = process.argv.includes('--stats-only');

interface Figures {
  requests: number;
  concurrency: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const round = (n: number, digits = 2): number => Number(n.toFixed(digits));

/** p50 / p99 / max of a list of milliseconds. */
function spread(values: number[]): { p50Ms: number; p99Ms: number; maxMs: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? NaN,
  };
}

const SERIAL_STAGES = [
  'pickupMs',
  'claimAnsweredMs',
  'portOpenedMs',
  'resetBeganMs',
  'firstByteMs',
  'fetchMs',
] as const;

/** One cold pinned job, then SERIAL_SAMPLES warm ones, one at a time, round robin over the boards. */
async function measureSerial(farm: SerialFarm) {
  const cold = await farm.sample(0);
  console.log(
    `serial cold  pickup ${cold.pickupMs} ms, claim answered ${cold.claimAnsweredMs} ms, port opened ${cold.portOpenedMs} ms, ` +
      `reset began ${cold.resetBeganMs} ms, ` +
      `first byte ${cold.firstByteMs} ms (firmware downloaded in ${cold.fetchMs} ms)`,
  );
  const samples: SerialSample[] = [];
  for (let i = 0; i < SERIAL_SAMPLES; i++) samples.push(await farm.sample(i % farm.boardCount));
  console.log(`serial       first byte per job (ms): ${samples.map((s) => s.firstByteMs).join(' ')}`);
  const stages = Object.fromEntries(
    SERIAL_STAGES.map((stage) => [stage, spread(samples.map((s) => s[stage]))]),
  ) as Record<(typeof SERIAL_STAGES)[number], ReturnType<typeof spread>>;
  for (const stage of SERIAL_STAGES) {
    const f = stages[stage];
    console.log(`serial       ${stage.padEnd(16)} p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms  max ${f.maxMs} ms`);
  }
  return {
    samples: SERIAL_SAMPLES,
    boards: farm.boardCount,
    firmwareBytes: farm.firmwareBytes,
    ...stages.firstByteMs,
    stages,
    cold,
    measures:
      'POST /jobs sent (pinned to a board) -> first byte the simulated board receives from the real agent over RFC 2217; ' +
      'stages are cumulative from POST; firmware cached by the agent except in "cold"',
  };
}

/** Fires `requests` calls from `concurrency` clients; each client waits for its answer before the next call. */
async function load(
  requests: number,
  concurrency: number,
  call: (i: number) => Promise<Response>,
  expectStatus: number,
): Promise<Figures> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (;;) {
        const i = next++;
        if (i >= requests) return;
        const t0 = performance.now();
        const response = await call(i);
        await response.arrayBuffer();
        latencies.push(performance.now() - t0);
        if (response.status !== expectStatus) errors++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests,
    concurrency,
    rps: round(requests / seconds, 1),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    errors,
  };
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'flashfarm-bench-api-'));
  const redis = await ensureRedis({ dataDir, persist: false });
  const adminToken = `bench-${crypto.randomBytes(24).toString('hex')}`;
  const config = loadApiConfig({
    FLASHFARM_DATA_DIR: dataDir,
    REDIS_URL: redis.url,
    DATABASE_URL: process.env.DATABASE_URL ?? '',
    FLASHFARM_ADMIN_TOKEN: adminToken,
    FLASHFARM_PORT: '0',
    FLASHFARM_SCHEDULER_INTERVAL_MS: '1000',
  });
  const database = config.database.kind === 'postgres' ? 'PostgreSQL (DATABASE_URL)' : 'embedded PGlite';
  console.log(`database: ${database}; redis: ${redis.url} (started for this run)`);
  const api = await createApiApp(config, { logger: false });
  await api.app.listen(0, '127.0.0.1');
  const port = (api.app.getHttpServer() as import('node:http').Server).address() as { port: number };
  const baseUrl = `http://127.0.0.1:${port.port}`;
  const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  let agent: FakeAgent | undefined;
  let serial: SerialFarm | undefined;
  try {
    const firmware = await api.infra.database.prisma.firmware.create({
      data: {
        sha256: crypto.randomBytes(32).toString('hex'),
        name: 'bench',
        chip: 'esp32',
        kind: 'merged',
        totalBytes: 4096,
        parts: {
          create: [
            {
              offset: 0,
              size: 4096,
              sha256: crypto.randomBytes(32).toString('hex'),
              md5: crypto.randomBytes(16).toString('hex'),
              role: 'merged',
              fileName: 'merged.bin',
            },
          ],
        },
      },
    });
    agent = await new FakeAgent({
      baseUrl,
      token: adminToken,
      redisUrl: redis.url,
      name: 'bench-agent',
      boards: Array.from({ length: BOARDS }, (_, i) => ({
        mac: `be:00:00:00:00:${i.toString(16).padStart(2, '0')}`,
        chip: 'esp32',
        portPath: `/dev/ttyUSB${i}`,
      })),
      runDelayMs: 1,
    }).start();

    // Warm-up: connection pools, JIT, Nest's route tables.
    await load(100, 8, () => fetch(`${baseUrl}/health`), 200);
    await load(50, 8, () => fetch(`${baseUrl}/devices`, { headers }), 200);

    const results: Record<string, Figures[]> = { health: [], listDevices: [], createJob: [] };
    for (const concurrency of CONCURRENCY) {
      results.health.push(await load(REQUESTS, concurrency, () => fetch(`${baseUrl}/health`), 200));
      results.listDevices.push(
        await load(REQUESTS, concurrency, () => fetch(`${baseUrl}/devices`, { headers }), 200),
      );
      results.createJob.push(
        await load(
          REQUESTS,
          concurrency,
          () =>
            fetch(`${baseUrl}/jobs`, {
              method: 'POST',
              headers,
              body: JSON.stringify({
                firmwareId: firmware.id,
                target: { selector: { chip: 'esp32' }, count: 1 },
              }),
            }),
          201,
        ),
      );
      for (const [name, list] of Object.entries(results)) {
        const f = list[list.length - 1];
        console.log(
          `${name.padEnd(12)} c=${String(concurrency).padStart(2)}  ${String(f.rps).padStart(7)} req/s  p50 ${f.p50Ms} ms  p99 ${f.p99Ms} ms  errors ${f.errors}`,
        );
      }
    }

    // Let the backlog of created jobs drain so dispatch latency is measured on an idle farm.
    const prisma = api.infra.database.prisma;
    const drainDeadline = Date.now() + 300_000;
    while ((await prisma.run.count({ where: { status: { in: ['queued', 'dispatched', 'running'] } } })) > 0) {
      if (Date.now() > drainDeadline) throw new Error('the job backlog did not drain within 5 minutes');
      await new Promise((r) => setTimeout(r, 200));
    }
    const drainedRuns = await prisma.run.count({ where: { status: 'succeeded' } });

    const dispatch: number[] = [];
    for (let i = 0; i < DISPATCH_SAMPLES; i++) {
      const before = agent.received.length;
      const t0 = Date.now();
      const response = await fetch(`${baseUrl}/jobs`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ firmwareId: firmware.id, target: { selector: {}, count: 1 } }),
      });
      if (response.status !== 201) throw new Error(`POST /jobs answered ${response.status}`);
      while (agent.received.length === before) await new Promise((r) => setTimeout(r, 1));
      dispatch.push(agent.received[before].receivedAt - t0);
      // Wait for the run to end so every sample starts from an idle farm.
      const { id } = (await response.json()) as { id: string };
      while (
        (await prisma.job.findUnique({ where: { id }, select: { status: true } }))?.status !== 'succeeded'
      )
        await new Promise((r) => setTimeout(r, 5));
    }
    dispatch.sort((a, b) => a - b);
    const dispatchFigures = {
      samples: DISPATCH_SAMPLES,
      p50Ms: percentile(dispatch, 50),
      p99Ms: percentile(dispatch, 99),
      maxMs: dispatch[dispatch.length - 1],
      measures: 'POST /jobs sent -> BullMQ job received by the agent (queue pickup, not serial bytes)',
    };
    console.log(
      `dispatch     p50 ${dispatchFigures.p50Ms} ms  p99 ${dispatchFigures.p99Ms} ms  max ${dispatchFigures.maxMs} ms (${DISPATCH_SAMPLES} jobs, one at a time, queue pickup)`,
    );
    console.log(`(${drainedRuns} benchmark runs were scheduled and completed by the scripted agent)`);

    let serialDispatch: Awaited<ReturnType<typeof measureSerial>> | undefined;
    if (SERIAL_SAMPLES > 0) {
      const started = Date.now();
      serial = await startSerialFarm({
        baseUrl,
        adminToken,
        redisUrl: redis.url,
        httpServer: api.app.getHttpServer() as import('node:http').Server,
        boards: SERIAL_BOARDS,
        dataDir,
        jobState: async (id) => {
          const job = await prisma.job.findUnique({
            where: { id },
            select: {
              status: true,
              runs: {
                select: { id: true, agentId: true, errorMessage: true, timings: true },
                orderBy: { attempt: 'desc' },
                take: 1,
              },
            },
          });
          return { status: job?.status ?? 'missing', run: job?.runs[0] };
        },
        idleDevices: (macs) => prisma.device.count({ where: { mac: { in: macs }, state: 'idle' } }),
      });
      console.log(
        `serial       real agent with ${serial.boardCount} simulated ESP32 board(s) over RFC 2217 ready in ${((Date.now() - started) / 1000).toFixed(1)} s; firmware ${serial.firmwareBytes} bytes`,
      );
      try {
        serialDispatch = await measureSerial(serial);
      } catch (error) {
        console.error(`agent output:\n${serial.agentOutput().slice(-4000)}`);
        throw error;
      }
      console.log(
        `dispatch     queue pickup (scripted agent) p50 ${dispatchFigures.p50Ms} ms  |  first serial byte (real agent) ` +
          `p50 ${serialDispatch.p50Ms} ms  p99 ${serialDispatch.p99Ms} ms  max ${serialDispatch.maxMs} ms (${SERIAL_SAMPLES} jobs)`,
      );
    }
    const stats: StatsFigures | undefined =
      STATS_RUNS > 0 ? await benchStats(STATS_RUNS, STATS_SAMPLES) : undefined;
    console.log(
      JSON.stringify({
        ...(stats ? { stats } : {}),
        database: config.database.kind === 'postgres' ? 'postgres' : 'pglite',
        boards: BOARDS,
        ...results,
        dispatch: dispatchFigures,
        ...(serialDispatch ? { serialDispatch } : {}),
        loadAverage1m: round(os.loadavg()[0]),
      }),
    );
  } finally {
    await serial?.close();
    await agent?.close();
    await api.close();
    await redis.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function statsOnly(): Promise<void> {
  const stats = await benchStats(STATS_RUNS, STATS_SAMPLES);
  console.log(JSON.stringify({ stats, loadAverage1m: round(os.loadavg()[0]) }));
}

(STATS_ONLY ? statsOnly() : main()).catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});

/**
 * Api benchmark: throughput and latency of job creation and device listing
 * under concurrent clients, side by side with /health of the same app as the
 * baseline, and the dispatch latency from POST /jobs to the agent picking the
 * run up from its queue.
 *
 * Runs its own redis-server (temporary data dir) and the embedded PGlite
 * database, or the PostgreSQL server named by DATABASE_URL. The agent is the
 * scripted test driver (test/support/fake-agent.ts): "dispatch latency" is
 * POST /jobs → the BullMQ job received by the agent process (queue pickup),
 * not bytes on a serial line.
 *
 *   npm run bench:api                          (node --import ./scripts/register-ts.mjs bench/api.ts)
 *   npm run bench:api -- --requests 2000 --concurrency 8,32
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

const BOARDS = 16;
const DISPATCH_SAMPLES = 30;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const REQUESTS = Number(arg('requests', '1000'));
const CONCURRENCY = arg('concurrency', '8,32').split(',').map(Number);

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
    console.log(
      JSON.stringify({
        database: config.database.kind === 'postgres' ? 'postgres' : 'pglite',
        boards: BOARDS,
        ...results,
        dispatch: dispatchFigures,
      }),
    );
  } finally {
    await agent?.close();
    await api.close();
    await redis.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exit(1);
});

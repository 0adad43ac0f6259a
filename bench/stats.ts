/**
 * Statistics benchmark: GET /stats/trend, /stats/failures and /stats/breakdown
 * answered over a seeded PostgreSQL database of 1 000 boards on 10 agents and
 * 1 000 000 ended runs spread over 90 days (a tenth failed, by five error
 * codes; durations and sizes varied per board and chip), with the api as it
 * runs in production (Nest, real HTTP, a Redis of its own). Each query shape
 * a dashboard sends is timed over --stats-samples sequential requests after
 * two warm-up ones; the target is p95 < 200 ms.
 *
 * The seed bulk-loads runs with the triggers off (session_replication_role
 * replica) and then counts them with ff_rebuild_run_stats(), as the
 * run_stats_farm_changes migration describes for bulk loads; seeding time is
 * reported on its own.
 *
 * Started from bench/api.ts (`npm run bench:api`, or `-- --stats-only`).
 */
import os from 'node:os';
import pg from 'pg';
import { loadApiConfig } from '../apps/api/src/config/api-config.js';
import { createApiApp } from '../apps/api/src/app.factory.js';
import { Migrator } from '../apps/api/src/db/migrator.js';
import { TokenStore } from '../apps/api/src/auth/index.js';
import { startServices } from '../test/support/services.js';

/** What the statistics benchmark measured. */
export interface StatsFigures {
  runs: number;
  devices: number;
  statRows: number;
  seedSeconds: number;
  queries: Array<{ query: string; p50Ms: number; p95Ms: number; maxMs: number; samples: number }>;
}

const DEVICES = 1000;
const AGENTS = 10;
const FIRMWARE = 20;
const DAYS = 90;
const CHIPS = ['esp32', 'esp32s3', 'esp32c3', 'esp32c6', 'esp8266'];

async function seed(client: pg.Client, runs: number): Promise<void> {
  await client.query(`SET session_replication_role = replica`);
  await client.query(
    `INSERT INTO "Agent" (id, name, hostname, version, "updatedAt")
     SELECT gen_random_uuid(), 'rack-' || i, 'rack-' || i || '.lab', '1.0.0', now() FROM generate_series(1, $1) i`,
    [AGENTS],
  );
  await client.query(
    `INSERT INTO "Firmware" (id, sha256, name, version, chip, kind, "totalBytes")
     SELECT gen_random_uuid(), md5(i::text) || md5((i * 7)::text), 'app-' || (i % 5), '1.' || i, ($2::text[])[1 + i % 5], 'merged', 1048576
     FROM generate_series(1, $1) i`,
    [FIRMWARE, CHIPS],
  );
  await client.query(
    `INSERT INTO "Device" (id, mac, chip, pool, "updatedAt")
     SELECT gen_random_uuid(), 'aa:bb:' || lpad(to_hex(i / 65536), 2, '0') || ':' || lpad(to_hex((i / 256) % 256), 2, '0') || ':' || lpad(to_hex(i % 256), 2, '0') || ':00',
       ($2::text[])[1 + i % 5], 'line-' || (i % 8), now()
     FROM generate_series(1, $1) i`,
    [DEVICES, CHIPS],
  );
  // One job per firmware and day, so runs have a job of the right chip.
  await client.query(
    `INSERT INTO "Job" (id, "firmwareId", "targetKind", status, "requestedBy", "createdAt", "finishedAt")
     SELECT gen_random_uuid(), f.id, 'selector', 'succeeded', 'bench', now() - (d || ' days')::interval, now() - (d || ' days')::interval
     FROM "Firmware" f CROSS JOIN generate_series(0, $1) d`,
    [DAYS],
  );
  await client.query(
    `WITH d AS (SELECT id, chip, row_number() OVER (PARTITION BY chip ORDER BY mac) - 1 AS n, count(*) OVER (PARTITION BY chip) AS c FROM "Device"),
          a AS (SELECT id, row_number() OVER (ORDER BY name) - 1 AS n FROM "Agent"),
          j AS (SELECT j.id, f.chip, (extract(epoch FROM now() - j."createdAt") / 86400)::int AS day,
                  row_number() OVER (PARTITION BY f.chip, (extract(epoch FROM now() - j."createdAt") / 86400)::int ORDER BY j.id) - 1 AS n,
                  count(*) OVER (PARTITION BY f.chip, (extract(epoch FROM now() - j."createdAt") / 86400)::int) AS c
                FROM "Job" j JOIN "Firmware" f ON f.id = j."firmwareId"),
          r AS (SELECT i, ($2::text[])[1 + i % 5] AS chip, ((i::bigint * 7919) % ($3 * 86400))::int AS age_s,
                  (i % 10 = 0) AS failed FROM generate_series(1, $1) i)
     INSERT INTO "Run" (id, "jobId", slot, attempt, "deviceId", "agentId", status, "errorCode", "bytesWritten",
       "queuedAt", "startedAt", "finishedAt")
     SELECT gen_random_uuid(), j.id, r.i, 1, d.id, a.id,
       CASE WHEN r.failed THEN 'failed'::"RunStatus" ELSE 'succeeded'::"RunStatus" END,
       CASE WHEN r.failed THEN (ARRAY['NO_SYNC','TIMEOUT','DIGEST_MISMATCH','DEVICE_GONE','BOOT_CHECK_FAILED'])[1 + (r.i / 10) % 5] END,
       1048576,
       now() - make_interval(secs => r.age_s + 20),
       now() - make_interval(secs => r.age_s + 8 + (d.n % 7)),
       now() - make_interval(secs => r.age_s)
     FROM r
     JOIN d ON d.chip = r.chip AND d.n = (r.i / 5) % d.c
     JOIN a ON a.n = d.n % $4
     JOIN j ON j.chip = r.chip AND j.day = r.age_s / 86400 AND j.n = r.i % j.c`,
    [runs, CHIPS, DAYS, AGENTS],
  );
  await client.query(`SET session_replication_role = origin`);
  await client.query(`SELECT ff_rebuild_run_stats()`);
  await client.query(`ANALYZE`);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Seeds PostgreSQL, starts the api on it and times the statistics routes. */
export async function benchStats(runs: number, samples: number): Promise<StatsFigures> {
  const services = await startServices(async (url) => {
    const migrator = await Migrator.forPostgres(url);
    try {
      await migrator.deploy();
    } finally {
      await migrator.close();
    }
  });
  const url = new URL(services.postgresAdminUrl);
  url.pathname = `/${services.templateDatabase}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    const seeded = Date.now();
    await seed(client, runs);
    const seedSeconds = (Date.now() - seeded) / 1000;
    const counts = await client.query<{ runs: string; rows: string }>(
      `SELECT (SELECT count(*) FROM "Run") AS runs, (SELECT count(*) FROM "RunStat") AS rows`,
    );
    const device = await client.query<{ id: string }>(
      `SELECT id FROM "Device" ORDER BY mac LIMIT 1 OFFSET 500`,
    );
    const agent = await client.query<{ id: string }>(`SELECT id FROM "Agent" LIMIT 1`);
    const firmware = await client.query<{ id: string }>(`SELECT id FROM "Firmware" LIMIT 1`);
    console.log(
      `stats        seeded ${counts.rows[0].runs} runs on ${DEVICES} boards in ${seedSeconds.toFixed(1)} s; ${counts.rows[0].rows} RunStat rows`,
    );
    const config = loadApiConfig({
      DATABASE_URL: url.toString(),
      REDIS_URL: services.redisUrl,
      FLASHFARM_PORT: '0',
      FLASHFARM_DATA_DIR: os.tmpdir(),
      FLASHFARM_LOG_FORMAT: 'json',
    });
    const api = await createApiApp(config, { logger: false });
    await api.app.listen(0, '127.0.0.1');
    const server = api.app.getHttpServer() as import('node:http').Server;
    const port = (server.address() as { port: number }).port;
    const token = (await new TokenStore(api.infra.database.prisma).create({ name: 'bench', role: 'viewer' }))
      .secret;
    const day = 86_400_000;
    const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
    const shapes: Array<[string, string]> = [
      ['trend 7d, whole farm', `/stats/trend`],
      ['trend 90d, whole farm', `/stats/trend?from=${iso(90 * day)}`],
      ['trend 48h hourly, whole farm', `/stats/trend?from=${iso(2 * day)}`],
      ['trend 30d, one board', `/stats/trend?from=${iso(30 * day)}&deviceId=${device.rows[0].id}`],
      ['trend 30d, one chip', `/stats/trend?from=${iso(30 * day)}&chip=esp32s3`],
      ['trend 30d, one agent', `/stats/trend?from=${iso(30 * day)}&agentId=${agent.rows[0].id}`],
      ['failures 30d, whole farm', `/stats/failures?from=${iso(30 * day)}`],
      [
        'failures 90d, one firmware',
        `/stats/failures?from=${iso(90 * day)}&firmwareId=${firmware.rows[0].id}`,
      ],
      ['breakdown 30d by board, worst yield', `/stats/breakdown?by=device&sort=yield&from=${iso(30 * day)}`],
      ['breakdown 90d by firmware', `/stats/breakdown?by=firmware&from=${iso(90 * day)}`],
      ['breakdown 30d by agent, slowest', `/stats/breakdown?by=agent&sort=duration&from=${iso(30 * day)}`],
    ];
    const queries: StatsFigures['queries'] = [];
    try {
      for (const [name, path] of shapes) {
        const times: number[] = [];
        for (let i = 0; i < samples + 2; i++) {
          const started = performance.now();
          const response = await fetch(`http://127.0.0.1:${port}${path}`, {
            headers: { authorization: `Bearer ${token}` },
          });
          await response.arrayBuffer();
          if (!response.ok) throw new Error(`${path}: ${response.status}`);
          if (i >= 2) times.push(performance.now() - started);
        }
        times.sort((a, b) => a - b);
        const figures = {
          query: name,
          p50Ms: Math.round(percentile(times, 50) * 10) / 10,
          p95Ms: Math.round(percentile(times, 95) * 10) / 10,
          maxMs: Math.round(times.at(-1)! * 10) / 10,
          samples,
        };
        queries.push(figures);
        console.log(
          `stats        ${name.padEnd(38)} p50 ${figures.p50Ms} ms  p95 ${figures.p95Ms} ms  max ${figures.maxMs} ms`,
        );
      }
    } finally {
      await api.close();
    }
    return {
      runs: Number(counts.rows[0].runs),
      devices: DEVICES,
      statRows: Number(counts.rows[0].rows),
      seedSeconds: Math.round(seedSeconds * 10) / 10,
      queries,
    };
  } finally {
    await client.end();
    await services.stop();
  }
}

/**
 * Operations: /metrics (farm state from the database, this process's HTTP
 * traffic) behind a viewer token or public by configuration, and the
 * structured request log naming the token.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { LoggerService } from '@nestjs/common';
import { loadApiConfig } from '../../apps/api/src/config/api-config.js';
import { createApiApp, type ApiApp } from '../../apps/api/src/app.factory.js';
import { TokenStore } from '../../apps/api/src/auth/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestRedisUrl } from '../support/redis.js';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { pollUntil } from '../support/poll.js';
import { scratchDir } from '../support/scratch.js';

let api: TestApi;
let viewer = '';

beforeAll(async () => {
  api = await startTestApi();
  const prisma = api.api.infra.database.prisma;
  viewer = (await new TokenStore(prisma).create({ name: 'grafana', role: 'viewer' })).secret;
  const agent = await prisma.agent.create({ data: { name: 'rack', hostname: 'rack', version: '1' } });
  await prisma.agent.create({ data: { name: 'gone', hostname: 'gone', version: '1', status: 'offline' } });
  await prisma.device.createMany({
    data: [
      { mac: '30:00:00:00:00:01', chip: 'esp32', state: 'idle' },
      { mac: '30:00:00:00:00:02', chip: 'esp32', state: 'idle' },
      { mac: '30:00:00:00:00:03', chip: 'esp32c3', state: 'quarantined' },
    ],
  });
  const fw = await prisma.firmware.create({
    data: { sha256: 'd'.repeat(64), name: 'fw', chip: 'esp32', kind: 'parts', totalBytes: 1 },
  });
  const job = await prisma.job.create({ data: { firmwareId: fw.id, targetKind: 'all', requestedBy: 't' } });
  const t0 = new Date('2026-01-01T00:00:00Z').getTime();
  const finished = (
    slot: number,
    status: 'succeeded' | 'failed',
    seconds: number,
    bytes: number,
    errorCode?: string,
  ) =>
    prisma.run.create({
      data: {
        jobId: job.id,
        slot,
        status,
        agentId: agent.id,
        errorCode,
        bytesWritten: bytes,
        startedAt: new Date(t0),
        finishedAt: new Date(t0 + seconds * 1000),
      },
    });
  await finished(1, 'succeeded', 4, 1000);
  await finished(2, 'succeeded', 12, 3000);
  await finished(3, 'failed', 1.5, 10, 'NO_SYNC');
  await finished(4, 'failed', 45, 20, 'NO_SYNC');
  await finished(5, 'failed', 70, 0, 'CHIP_MISMATCH');
  // Queued runs (agentless) are the queue depth. Inserted after the finished ones, with slots of their own.
  await prisma.run.createMany({
    data: [6, 7].map((slot) => ({ jobId: job.id, slot, status: 'queued' as const })),
  });
});
afterAll(async () => {
  await api?.close();
});

async function scrape(
  token?: string,
  base = api.baseUrl,
): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetch(`${base}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') };
}

describe('/metrics', () => {
  it('needs a viewer token by default', async () => {
    expect((await scrape()).status).toBe(401);
  });

  it('reports runs, failures, queue depth, devices, agents, durations and bytes from the database', async () => {
    const { status, text, type } = await scrape(viewer);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain/);
    const lines = text.split('\n');
    const has = (line: string) => expect(lines).toContain(line);
    has('flashfarm_runs{status="succeeded"} 2');
    has('flashfarm_runs{status="failed"} 3');
    has('flashfarm_runs{status="queued"} 2');
    has('flashfarm_runs{status="running"} 0');
    has('flashfarm_queue_depth 2');
    has('flashfarm_run_failures{error_code="NO_SYNC"} 2');
    has('flashfarm_run_failures{error_code="CHIP_MISMATCH"} 1');
    has('flashfarm_devices{state="idle",chip="esp32"} 2');
    has('flashfarm_devices{state="quarantined",chip="esp32c3"} 1');
    has('flashfarm_agents{status="online"} 1');
    has('flashfarm_agents{status="offline"} 1');
    has('flashfarm_flashed_bytes{status="succeeded"} 4000');
    has('# TYPE flashfarm_flash_duration_seconds histogram');
    has('flashfarm_flash_duration_seconds_bucket{le="5",status="succeeded"} 1');
    has('flashfarm_flash_duration_seconds_bucket{le="20",status="succeeded"} 2');
    has('flashfarm_flash_duration_seconds_bucket{le="2",status="failed"} 1');
    has('flashfarm_flash_duration_seconds_bucket{le="60",status="failed"} 2');
    has('flashfarm_flash_duration_seconds_bucket{le="+Inf",status="failed"} 3');
    has('flashfarm_flash_duration_seconds_sum{status="succeeded"} 16');
    has('flashfarm_flash_duration_seconds_count{status="failed"} 3');
    expect(text).toMatch(/^flashfarm_api_process_cpu_user_seconds_total /m);
  });

  it('counts the scheduler and campaign passes of this process, as they complete', async () => {
    const passes = async (name: string) => {
      const m = new RegExp(`^${name} (\\d+)$`, 'm').exec((await scrape(viewer)).text);
      expect(m).not.toBeNull();
      return Number(m![1]);
    };
    const scheduler = await passes('flashfarm_scheduler_passes_total');
    const campaigns = await passes('flashfarm_campaign_passes_total');
    // Both loops run on their own timers: the counters move without anything else happening.
    await pollUntil(async () => (await passes('flashfarm_scheduler_passes_total')) > scheduler, {
      what: 'another scheduler pass',
    });
    await pollUntil(async () => (await passes('flashfarm_campaign_passes_total')) > campaigns, {
      what: 'another campaign pass',
    });
  });

  it("counts this process's requests by route pattern", async () => {
    await fetch(`${api.baseUrl}/devices/30:00:00:00:00:01`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    const text = await pollUntil(
      async () => {
        const t = (await scrape(viewer)).text;
        return (
          /flashfarm_http_requests_total\{method="GET",route="\/devices\/:idOrMac",status="200"\} 1/.test(
            t,
          ) && t
        );
      },
      { what: 'the request counter to show GET /devices/:idOrMac' },
    );
    expect(text).toMatch(/flashfarm_http_requests_total\{method="GET",route="\/metrics",status="401"\} 1/);
  });

  it('is public with FLASHFARM_METRICS_PUBLIC=true', async () => {
    const open = await startTestApi({ database: api.database, env: { FLASHFARM_METRICS_PUBLIC: 'true' } });
    try {
      const res = await scrape(undefined, open.baseUrl);
      expect(res.status).toBe(200);
      expect(res.text).toContain('flashfarm_queue_depth 2');
      // Only /metrics opens up.
      expect((await fetch(`${open.baseUrl}/devices`)).status).toBe(401);
    } finally {
      await open.close();
    }
  });
});

describe('request log', () => {
  let app: ApiApp | undefined;
  let database: TestDatabase | undefined;
  afterAll(async () => {
    await app?.close();
    await database?.drop();
  });

  it('writes one structured entry per request with method, path, status, duration and token name', async () => {
    const entries: Array<{ message: unknown; context?: string }> = [];
    const logger: LoggerService = {
      log: (message: unknown, context?: string) => void entries.push({ message, context }),
      error: (message: unknown, _trace?: string, context?: string) => void entries.push({ message, context }),
      warn: () => undefined,
      verbose: () => undefined,
      debug: () => undefined,
    };
    database = await createTestDatabase();
    const config = loadApiConfig({
      DATABASE_URL: database.url,
      REDIS_URL: await createTestRedisUrl(),
      FLASHFARM_DATA_DIR: scratchDir('flashfarm-test-api'),
      FLASHFARM_ADMIN_TOKEN: 'request-log-admin-token-0123456789',
    });
    app = await createApiApp(config, { logger });
    await app.app.listen(0, '127.0.0.1');
    const base = (await app.app.getUrl()).replace('[::1]', '127.0.0.1');
    await fetch(`${base}/devices?chip=esp32`, {
      headers: { authorization: 'Bearer request-log-admin-token-0123456789' },
    });
    await fetch(`${base}/health`);
    await fetch(`${base}/devices`);
    const http = await pollUntil(
      () => {
        const found = entries
          .filter((e) => e.context === 'http')
          .map((e) => e.message as Record<string, unknown>);
        return found.length >= 2 && found;
      },
      { what: 'two request log entries' },
    );
    expect(http[0]).toMatchObject({ method: 'GET', path: '/devices', status: 200, token: 'bootstrap-admin' });
    expect(typeof http[0].ms).toBe('number');
    expect(http[1]).toMatchObject({ method: 'GET', path: '/devices', status: 401, token: null });
    // Polled routes stay out of the normal log level.
    expect(http.map((e) => e.path)).not.toContain('/health');
  });
});

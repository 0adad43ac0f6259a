/**
 * `npm run demo` as a newcomer runs it: a fresh data directory, the embedded
 * database and a private redis-server, eight simulated boards, the sample job
 * on every ESP32 board, "farm ready" with the dashboard URL and token; Ctrl-C
 * stops everything (the redis-server it started included).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { checkedFetch } from '../support/openapi-check.js';
import { spawnTs, type SpawnedProcess } from '../support/processes.js';
import { pollUntil } from '../support/poll.js';
import { scratchDir } from '../support/scratch.js';

let demo: SpawnedProcess | undefined;

afterAll(() => demo?.kill());

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm run demo', () => {
  it('reaches "farm ready" with a successful sample job, serves the dashboard, and stops cleanly on SIGINT', async () => {
    const dataDir = scratchDir('flashfarm-demo-e2e');
    const started = Date.now();
    demo = spawnTs('scripts/demo.ts', [], {
      FLASHFARM_DATA_DIR: dataDir,
      FLASHFARM_PORT: '0',
      DATABASE_URL: '',
      REDIS_URL: '',
      FLASHFARM_ADMIN_TOKEN: '',
    });
    await demo.waitForOutput(/farm ready in [\d.]+ s/, 90_000);
    const readyMs = Date.now() - started;
    const out = demo.output();
    expect(out).toContain('8 of 8 boards reported by the agent');
    expect(out).toMatch(/sample job {2}succeeded at [\d.]+ s \(3 succeeded\)/);
    const url = /dashboard {3}(http:\/\/\S+)\//.exec(out)![1];
    const token = /admin token (ff_\S+)/.exec(out)![1];
    expect(fs.readFileSync(path.join(dataDir, 'demo-admin-token'), 'utf8').trim()).toBe(token);

    // The demo's api runs in its own process: its answers are checked against its document here.
    const undocumented: string[] = [];
    const http = checkedFetch(url, undocumented);
    const page = await http('/');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/app/main.js');
    const devices = (await (
      await http('/devices?limit=50', { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { total: number; items: Array<{ chip: string; lastRunStatus: string | null }> };
    expect(devices.total).toBe(8);
    expect(new Set(devices.items.map((d) => d.chip))).toEqual(
      new Set(['esp32', 'esp32s3', 'esp32c3', 'esp8266']),
    );
    expect(devices.items.filter((d) => d.lastRunStatus === 'succeeded')).toHaveLength(3);
    expect((await http('/health')).status).toBe(200);
    expect(undocumented).toEqual([]);

    const redis = JSON.parse(fs.readFileSync(path.join(dataDir, 'redis.json'), 'utf8')) as { pid: number };
    expect(alive(redis.pid)).toBe(true);
    demo.child.kill('SIGINT');
    expect(await demo.waitForExit(30_000)).toBe(0);
    expect(demo.output()).toContain('Stopping the demo farm');
    await pollUntil(() => !alive(redis.pid), { timeoutMs: 10_000, what: 'the demo redis-server to stop' });
    await expect(fetch(`${url}/health`)).rejects.toThrow();
    process.stdout.write(`demo: farm ready (sample job done) ${readyMs} ms after start\n`);

    // A second run on the same data directory finds last run's boards in the database and still flashes them.
    const again = Date.now();
    demo = spawnTs('scripts/demo.ts', [], {
      FLASHFARM_DATA_DIR: dataDir,
      FLASHFARM_PORT: '0',
      DATABASE_URL: '',
      REDIS_URL: '',
      FLASHFARM_ADMIN_TOKEN: '',
    });
    await demo.waitForOutput(/farm ready in [\d.]+ s/, 90_000);
    expect(demo.output()).toMatch(/sample job {2}succeeded at [\d.]+ s \(3 succeeded\)/);
    demo.child.kill('SIGINT');
    expect(await demo.waitForExit(30_000)).toBe(0);
    process.stdout.write(`demo: second run ready ${Date.now() - again} ms after start\n`);
  }, 180_000);
});

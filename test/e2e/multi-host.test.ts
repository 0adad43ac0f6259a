/**
 * A farm across hosts, compiled: the api (`npm run build` output) and two agents as separate processes,
 * each with its own data directory and no REDIS_URL (each takes the farm's queue from the api at
 * registration), each with its simulated boards (`flashfarm sim`, RFC 2217) on its own loopback address
 * (127.0.0.2 and 127.0.0.3). A 20-board job spreads over both agents; one agent is SIGKILLed while it
 * flashes, and its runs finish on the other agent's boards.
 * What differs from separate machines: one kernel, loopback addresses instead of network namespaces
 * (`ip netns` needs root and is not assumed), and the api listens on 127.0.0.1, which both agents reach.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { DeviceView, JobView } from '#contracts';
import { buildFirmwareSet } from '#esp';
import { freePort } from '#runtime';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { pollUntil } from '../support/poll.js';
import { REPO_ROOT, type SpawnedProcess, watchProcess } from '../support/processes.js';
import { createTestRedisUrl } from '../support/redis.js';
import { scratchDir } from '../support/scratch.js';

const processes: SpawnedProcess[] = [];
let database: TestDatabase;
let apiUrl = '';
const adminToken = randomBytes(24).toString('hex');

/** A program of the repository (dist/… or bin/flashfarm.js, which runs dist/ once built) with the given environment only. */
function startCompiled(file: string, args: string[], env: Record<string, string>): SpawnedProcess {
  const child = spawn(process.execPath, [file, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const spawned = watchProcess(child);
  processes.push(spawned);
  return spawned;
}

async function api<T>(method: string, url: string, body?: unknown): Promise<T> {
  const isForm = body instanceof FormData;
  const response = await fetch(`${apiUrl}${url}`, {
    method,
    headers: {
      authorization: `Bearer ${adminToken}`,
      ...(body !== undefined && !isForm ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : isForm ? body : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`);
  return JSON.parse(text) as T;
}

/** `flashfarm sim` (compiled) with `count` esp32 boards listening on `host`; resolves to their URLs. */
async function simulatedBoards(host: string, count: number): Promise<string[]> {
  // Boards named per host: a simulated board's MAC comes from its name, and two simulators with the
  // default names would hold clones (which the farm rightly holds in conflict).
  const fleet = path.join(scratchDir(`multi-host-fleet-${host}`), 'fleet.json');
  const boards = Array.from({ length: count }, (_, i) => ({ chip: 'esp32', name: `${host}-${i + 1}` }));
  fs.writeFileSync(fleet, JSON.stringify({ boards }));
  const sim = startCompiled(
    'bin/flashfarm.js',
    // Slow enough that a SIGKILL lands mid-flash (a few seconds a board), fast enough for a loaded machine.
    ['sim', '--fleet', fleet, '--host', host, '--base-port', '0', '--time-scale', '0.2'],
    {},
  );
  const pattern = new RegExp(`rfc2217://${host.replaceAll('.', '\\.')}:\\d+`, 'g');
  await pollUntil(() => (sim.output().match(pattern)?.length ?? 0) >= count, {
    what: `${count} simulated boards on ${host}`,
    timeoutMs: 30_000,
  });
  return [...new Set(sim.output().match(pattern))];
}

/** A compiled agent on its own data directory, with the api URL and its own token only (no REDIS_URL). */
async function startAgent(
  name: string,
  ports: string[],
): Promise<{ process: SpawnedProcess; dataDir: string }> {
  const { secret } = await api<{ secret: string }>('POST', '/tokens', { name, role: 'agent', agent: name });
  const dataDir = scratchDir(`multi-host-${name}`);
  const agent = startCompiled('dist/apps/agent/src/main.js', [], {
    FLASHFARM_URL: apiUrl,
    FLASHFARM_AGENT_TOKEN: secret,
    FLASHFARM_AGENT_NAME: name,
    FLASHFARM_DATA_DIR: dataDir,
    FLASHFARM_AGENT_PORTS: ports.join(','),
    FLASHFARM_AGENT_DISCOVERY: 'false',
    FLASHFARM_AGENT_MAX_PARALLEL: String(ports.length),
    FLASHFARM_AGENT_RUN_LOCK_MS: '4000',
    FLASHFARM_LOG_FORMAT: 'pretty',
  });
  return { process: agent, dataDir };
}

async function devicesOf(agent: string): Promise<DeviceView[]> {
  const page = await api<{ items: DeviceView[] }>('GET', `/devices?agent=${agent}&limit=500`);
  return page.items.filter((d) => d.state === 'idle');
}

beforeAll(async () => {
  // The compiled tree is what runs: build it from the current sources.
  const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`npm run build failed: ${built.stderr}${built.stdout}`);
  database = await createTestDatabase();
  const redisUrl = await createTestRedisUrl();
  const port = await freePort();
  apiUrl = `http://127.0.0.1:${port}`;
  const apiProcess = startCompiled('dist/apps/api/src/main.js', [], {
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    FLASHFARM_HOST: '127.0.0.1',
    FLASHFARM_PORT: String(port),
    FLASHFARM_ADMIN_TOKEN: adminToken,
    FLASHFARM_DATA_DIR: scratchDir('multi-host-api'),
    FLASHFARM_AGENT_HEARTBEAT_MS: '500',
    FLASHFARM_AGENT_DEAD_AFTER_MS: '2500',
    FLASHFARM_SCHEDULER_INTERVAL_MS: '250',
  });
  await apiProcess.waitForOutput(/flashfarm api listening on/, 60_000);
}, 180_000);

afterAll(async () => {
  for (const p of processes.reverse()) {
    if (p.child.exitCode === null && p.child.signalCode === null) {
      p.child.kill('SIGTERM');
      await p.waitForExit(15_000).catch(() => p.kill());
    }
  }
  await database?.drop();
});

describe('two compiled agents on separate hosts', () => {
  it('spread a 20-board job; SIGKILL one mid-flash and its runs finish on the other', async () => {
    // Agent A: 10 boards on 127.0.0.2. Agent B: 20 on 127.0.0.3, registered after A's boards exist, so
    // the scheduler (boards never flashed, oldest record first) gives the job A's 10 and 10 of B's, and
    // B keeps 10 spare boards for A's runs.
    const [portsA, portsB] = [await simulatedBoards('127.0.0.2', 10), await simulatedBoards('127.0.0.3', 20)];
    const a = await startAgent('host-a', portsA);
    await pollUntil(async () => (await devicesOf('host-a')).length === 10, {
      what: "host-a's 10 boards",
      timeoutMs: 60_000,
    });
    const b = await startAgent('host-b', portsB);
    await pollUntil(async () => (await devicesOf('host-b')).length === 20, {
      what: "host-b's 20 boards",
      timeoutMs: 60_000,
    });
    // Neither agent had a Redis of its own: both took the farm's from the api.
    for (const agent of [a, b]) {
      expect(agent.process.output()).toMatch(/the api named the farm's queue/);
      expect(fs.existsSync(path.join(agent.dataDir, 'redis.json'))).toBe(false);
    }
    const agents = await api<Array<{ id: string; name: string }>>('GET', '/agents');
    const idOf = (name: string) => agents.find((x) => x.name === name)!.id;

    const parts = buildFirmwareSet({
      chip: 'esp32',
      projectName: 'multi-host',
      version: '1.0.0',
      payloadBytes: 600_000,
    });
    const form = new FormData();
    for (const p of parts)
      form.append('files', new Blob([new Uint8Array(p.data)]), p.name ?? `part-${p.offset}.bin`);
    form.append(
      'parts',
      JSON.stringify(
        parts.map((p) => ({ offset: `0x${p.offset.toString(16)}`, file: p.name ?? `part-${p.offset}.bin` })),
      ),
    );
    form.append('name', 'multi-host');
    form.append('version', '1.0.0');
    form.append('chip', 'esp32');
    const firmware = await api<{ id: string }>('POST', '/firmware', form);
    const job = await api<{ id: string }>('POST', '/jobs', {
      firmwareId: firmware.id,
      target: { selector: { chip: 'esp32' }, count: 20 },
    });

    // Both agents flash; A is killed while runs of its own are in flight.
    let seen = '';
    const inFlightOnA = await pollUntil(
      async () => {
        const view = await api<JobView>('GET', `/jobs/${job.id}`);
        seen = `job ${view.status}: ${view.slots.map((x) => `${x.slot}:${x.latest.status}@${x.latest.agentId === idOf('host-a') ? 'A' : x.latest.agentId === idOf('host-b') ? 'B' : '-'}${x.latest.errorCode ? `(${x.latest.errorCode})` : ''}`).join(' ')}`;
        const byAgent = (id: string) => view.slots.filter((x) => x.latest.agentId === id);
        const running = byAgent(idOf('host-a')).filter((x) => x.latest.status === 'running');
        return byAgent(idOf('host-b')).length > 0 && running.length > 0
          ? running.map((x) => x.slot)
          : undefined;
      },
      { what: 'runs in flight on both agents', timeoutMs: 60_000, intervalMs: 100 },
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}; last seen ${seen}; agent A said: ${a.process.output().slice(-1500)}`,
      );
    });
    a.process.child.kill('SIGKILL');

    const done = await pollUntil(
      async () => {
        const view = await api<JobView>('GET', `/jobs/${job.id}`);
        return ['succeeded', 'failed', 'cancelled'].includes(view.status) ? view : undefined;
      },
      { what: 'the job to end', timeoutMs: 180_000, intervalMs: 250 },
    );
    expect(done.status).toBe('succeeded');
    expect(done.slots).toHaveLength(20);
    expect(done.slots.every((s) => s.latest.status === 'succeeded')).toBe(true);
    // Every run A held when it died has a newer attempt, which succeeded on B.
    for (const slot of inFlightOnA) {
      const latest = done.slots.find((s) => s.slot === slot)!.latest;
      expect({ slot, agent: latest.agentId, attempt: latest.attempt > 1 }).toEqual({
        slot,
        agent: idOf('host-b'),
        attempt: true,
      });
    }
  }, 420_000);
});

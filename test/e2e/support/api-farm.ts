/**
 * A whole farm for e2e tests: the real api (PostgreSQL + Redis through the
 * test harness), the agent as a real child process, and simulated boards
 * behind RFC 2217 servers given to the agent as static ports.
 */
import { buildFirmwareSet, type ChipName } from '#esp';
import type { SimBoardOptions } from '#sim';
import type { DeviceView, JobView } from '#contracts';
import { generateTokenSecret } from '../../../apps/api/src/auth/index.js';
import { startTestApi, type TestApi } from '../../support/api-app.js';
import { pollUntil } from '../../support/poll.js';
import { spawnTs, type SpawnedProcess } from '../../support/processes.js';
import { startBoard, type FarmBoard } from './farm.js';
import { scratchDir } from '../../support/scratch.js';

/** A running farm. */
export interface ApiFarm {
  api: TestApi;
  boards: FarmBoard[];
  agent: SpawnedProcess;
  dataDir: string;
  agentToken: string;
  request<T>(method: string, url: string, body?: unknown): Promise<T>;
  /** Uploads a synthetic ESP-IDF build; payloadBytes sizes the app (a bigger app makes a longer flash). */
  uploadFirmware(
    chip: ChipName,
    version: string,
    payloadBytes?: number,
  ): Promise<{
    id: string;
    sha256: string;
    chip: string;
    parts: Array<{ offset: number; data: Uint8Array }>;
  }>;
  /** Starts (or restarts) the agent process. */
  startAgent(): SpawnedProcess;
  waitForDevices(count: number): Promise<DeviceView[]>;
  waitForJob(jobId: string, timeoutMs?: number): Promise<JobView>;
  stop(): Promise<void>;
}

/** Options of startApiFarm. */
export interface ApiFarmOptions {
  boards: SimBoardOptions[];
  /** Extra ports given to the agent (e.g. where a board will move to). */
  extraPorts?: string[];
  agentEnv?: Record<string, string>;
  apiEnv?: Record<string, string>;
}

/** Starts api, boards and agent; resolves once the api answers. */
export async function startApiFarm(options: ApiFarmOptions): Promise<ApiFarm> {
  const adminToken = generateTokenSecret();
  const api = await startTestApi({ env: { FLASHFARM_ADMIN_TOKEN: adminToken, ...options.apiEnv } });
  const boards: FarmBoard[] = [];
  const request = async <T>(method: string, url: string, body?: unknown): Promise<T> => {
    const isForm = body instanceof FormData;
    const response = await fetch(`${api.baseUrl}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body !== undefined && !isForm ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : isForm ? body : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  for (const spec of options.boards) boards.push(await startBoard(spec));
  const { secret: agentToken } = await request<{ secret: string }>('POST', '/tokens', {
    name: 'e2e-agent',
    role: 'agent',
  });
  const dataDir = scratchDir('flashfarm-e2e-agent');
  const farm: ApiFarm = {
    api,
    boards,
    dataDir,
    agentToken,
    agent: undefined as unknown as SpawnedProcess,
    request,
    startAgent: () => {
      farm.agent = spawnTs('apps/agent/src/main.ts', [], {
        FLASHFARM_URL: api.baseUrl,
        FLASHFARM_AGENT_TOKEN: agentToken,
        REDIS_URL: api.redisUrl,
        FLASHFARM_AGENT_NAME: 'e2e-agent',
        FLASHFARM_AGENT_PORTS: [...boards.map((b) => b.url), ...(options.extraPorts ?? [])].join(','),
        FLASHFARM_AGENT_DISCOVERY: 'false',
        FLASHFARM_AGENT_DISCOVERY_MS: '300',
        FLASHFARM_AGENT_HEARTBEAT_MS: '500',
        FLASHFARM_AGENT_RUN_LOCK_MS: '4000',
        FLASHFARM_DATA_DIR: dataDir,
        FLASHFARM_LOG_FORMAT: 'pretty',
        ...options.agentEnv,
      });
      return farm.agent;
    },
    uploadFirmware: async (chip, version, payloadBytes) => {
      const parts = buildFirmwareSet({ chip, projectName: 'e2e-app', version, payloadBytes });
      const form = new FormData();
      for (const p of parts)
        form.append('files', new Blob([new Uint8Array(p.data)]), p.name ?? `part-${p.offset}.bin`);
      form.append(
        'parts',
        JSON.stringify(
          parts.map((p) => ({
            offset: `0x${p.offset.toString(16)}`,
            file: p.name ?? `part-${p.offset}.bin`,
          })),
        ),
      );
      form.append('name', `e2e-${chip}`);
      form.append('version', version);
      form.append('chip', chip);
      const created = await request<{ id: string; sha256: string; chip: string }>('POST', '/firmware', form);
      return { ...created, parts: parts.map((p) => ({ offset: p.offset, data: p.data })) };
    },
    waitForDevices: (count) =>
      pollUntil(
        async () => {
          const page = await request<{ items: DeviceView[] }>('GET', '/devices?limit=500');
          const online = page.items.filter((d) => d.state !== 'offline');
          return online.length >= count ? online : undefined;
        },
        { what: `${count} devices online`, timeoutMs: 30_000, intervalMs: 200 },
      ),
    waitForJob: (jobId, timeoutMs = 60_000) =>
      pollUntil(
        async () => {
          const job = await request<JobView>('GET', `/jobs/${jobId}`);
          return ['succeeded', 'failed', 'cancelled'].includes(job.status) ? job : undefined;
        },
        { what: `job ${jobId} to end`, timeoutMs, intervalMs: 200 },
      ),
    stop: async () => {
      farm.agent?.kill();
      for (const b of boards) {
        await b.server?.close();
        b.board.dispose();
      }
      await api.close();
    },
  };
  farm.startAgent();
  return farm;
}

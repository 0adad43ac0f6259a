/**
 * One farm for one fault scenario, every part its own process: the api and an
 * agent (bin/launch.js), N simulated ESP32 boards (`flashfarm sim` with its
 * control endpoint), a redis-server the scenario may kill, and a database on
 * the suite's PostgreSQL server. The suite talks to it only as a user would:
 * the REST api with an admin token, and the simulator's control endpoint.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { buildFirmwareSet } from '#esp';
import { freePort } from '#runtime';
import type { DeviceView, JobView } from '#contracts';
import { holdFor } from '../../support/stimulus.js';
import { NodeProgram, RedisServer } from './processes.js';

/** An answer of the api or of the simulator's control endpoint. */
export interface HttpAnswer<T = unknown> {
  status: number;
  body: T;
  ms: number;
}

/** A board as `flashfarm sim --json` lists it. */
export interface SimBoardListing {
  name: string;
  url: string;
  mac: string;
}

/** The completed-flash counters of a simulated board (control endpoint). */
export interface FlashCounters {
  writeSessions: number;
  verifiedBoots: number;
}

/** A firmware part as the api stores it. */
export interface StoredPart {
  offset: number;
  size: number;
  sha256: string;
  md5: string;
  role: string;
}

/** How a farm is made. */
export interface FarmOptions {
  /** Working directory of this farm (data dirs, logs). */
  dir: string;
  /** The suite's PostgreSQL server (maintenance database URL). */
  postgresAdminUrl: string;
  /** Database name for this farm (created here). */
  database: string;
  boards: number;
  /** redis-server keeps an append-only file. */
  redisAppendOnly: boolean;
  /** Extra environment of the api and the agent (KEY=VALUE overrides from the command line). */
  apiEnv: Record<string, string>;
  agentEnv: Record<string, string>;
}

const FETCH_TIMEOUT_MS = 15_000;

/** One request with a deadline; network failures come back as status 0. */
async function call<T>(
  url: string,
  init: RequestInit & { timeoutMs?: number },
): Promise<HttpAnswer<T | undefined> & { error?: string }> {
  const started = performance.now();
  try {
    const response = await fetch(url, {
      ...init,
      signal: AbortSignal.timeout(init.timeoutMs ?? FETCH_TIMEOUT_MS),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // a text answer (logs as text, an HTML error page): kept as it is
    }
    return { status: response.status, body: body as T, ms: performance.now() - started };
  } catch (error) {
    return { status: 0, body: undefined, ms: performance.now() - started, error: String(error) };
  }
}

/** A running farm. */
export class FaultFarm {
  readonly adminToken = randomBytes(24).toString('hex');
  readonly redis: RedisServer;
  api!: NodeProgram;
  agent!: NodeProgram;
  sim!: NodeProgram;
  apiUrl = '';
  boards: SimBoardListing[] = [];
  private control = { url: '', token: '' };
  private agentToken = '';
  /** Restarts the farm needed between tries, with why (evidence for the report). */
  readonly restarts: string[] = [];
  /** Device id (api) → board name (simulator). */
  private readonly deviceBoards = new Map<string, string>();

  private constructor(readonly options: FarmOptions) {
    this.redis = new RedisServer(path.join(options.dir, 'redis'), options.redisAppendOnly);
  }

  /** Creates the database, starts Redis, the simulator, the api and the agent; resolves when all boards are idle. */
  static async start(options: FarmOptions): Promise<FaultFarm> {
    fs.mkdirSync(options.dir, { recursive: true });
    const farm = new FaultFarm(options);
    const admin = new pg.Client({ connectionString: options.postgresAdminUrl });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${options.database}`);
    } finally {
      await admin.end();
    }
    await farm.redis.start();
    await farm.startSim();
    const port = await freePort();
    farm.apiUrl = `http://127.0.0.1:${port}`;
    const databaseUrl = Object.assign(new URL(options.postgresAdminUrl), {
      pathname: `/${options.database}`,
    }).toString();
    farm.api = new NodeProgram(
      'api',
      ['bin/launch.js', 'api'],
      () => ({
        NODE_ENV: 'production',
        DATABASE_URL: databaseUrl,
        REDIS_URL: farm.redis.url,
        FLASHFARM_HOST: '127.0.0.1',
        FLASHFARM_PORT: String(port),
        FLASHFARM_ADMIN_TOKEN: farm.adminToken,
        FLASHFARM_DATA_DIR: path.join(options.dir, 'api'),
        FLASHFARM_LOG_FORMAT: 'json',
        ...options.apiEnv,
      }),
      path.join(options.dir, 'api.log'),
    );
    farm.api.start();
    await farm.waitApiHealthy(120_000);
    const token = await farm.request<{ secret: string }>('POST', '/tokens', {
      name: 'faults-agent',
      role: 'agent',
    });
    if (token.status !== 201 || !token.body) throw new Error(`POST /tokens: ${token.status}`);
    farm.agentToken = token.body.secret;
    farm.agent = new NodeProgram(
      'agent',
      ['bin/launch.js', 'agent'],
      () => ({
        NODE_ENV: 'production',
        FLASHFARM_URL: farm.apiUrl,
        FLASHFARM_AGENT_TOKEN: farm.agentToken,
        REDIS_URL: farm.redis.url,
        FLASHFARM_AGENT_NAME: 'faults-agent',
        FLASHFARM_AGENT_PORTS: farm.boards.map((b) => b.url).join(','),
        FLASHFARM_AGENT_DISCOVERY: 'false',
        FLASHFARM_DATA_DIR: path.join(options.dir, 'agent'),
        FLASHFARM_LOG_FORMAT: 'json',
        ...options.agentEnv,
      }),
      path.join(options.dir, 'agent.log'),
    );
    farm.agent.start();
    await farm.waitIdle(180_000);
    return farm;
  }

  private async startSim(): Promise<void> {
    this.sim = new NodeProgram(
      'sim',
      [
        'bin/flashfarm.js',
        'sim',
        '--count',
        String(this.options.boards),
        '--chip',
        'esp32',
        '--base-port',
        '0',
        '--json',
      ],
      () => ({}),
      path.join(this.options.dir, 'sim.log'),
    );
    this.sim.start();
    const listing = await waitFor(
      () => {
        if (!this.sim.running) throw new Error(`flashfarm sim exited: ${this.sim.output}`);
        const line = this.sim.output.split('\n').find((l) => l.startsWith('{'));
        return line
          ? (JSON.parse(line) as { boards: SimBoardListing[]; control: { url: string; token: string } })
          : undefined;
      },
      60_000,
      'flashfarm sim to list its boards',
    );
    this.boards = listing.boards;
    this.control = listing.control;
  }

  /** Which tree bin/launch.js ran: the build, or the sources (it says so on stderr). */
  get tree(): 'compiled' | 'source' {
    return /running from source/.test(this.api.output) ? 'source' : 'compiled';
  }

  /** A request to the api as the admin. */
  request<T>(
    method: string,
    url: string,
    body?: unknown,
    timeoutMs?: number,
  ): Promise<HttpAnswer<T | undefined> & { error?: string }> {
    const isForm = body instanceof FormData;
    return call<T>(`${this.apiUrl}${url}`, {
      method,
      timeoutMs,
      headers: {
        authorization: `Bearer ${this.adminToken}`,
        ...(body !== undefined && !isForm ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : isForm ? body : JSON.stringify(body),
    });
  }

  /** The simulated board behind a device id of the api. */
  boardOfDevice(deviceId: string | null): string | undefined {
    return deviceId ? this.deviceBoards.get(deviceId) : undefined;
  }

  /** The device id of a simulated board (known once it was seen idle). */
  deviceOfBoard(board: string): string {
    for (const [id, name] of this.deviceBoards) if (name === board) return id;
    throw new Error(`board ${board} was never seen by the api`);
  }

  /** A request to the simulator's control endpoint. */
  simRequest<T>(method: string, url: string, body?: unknown): Promise<HttpAnswer<T | undefined>> {
    return call<T>(`${this.control.url}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${this.control.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  /** The completed-flash counters of every board, by board name. */
  async flashCounters(): Promise<Map<string, FlashCounters>> {
    const answer = await this.simRequest<{ boards: Array<{ name: string; flashCounters: FlashCounters }> }>(
      'GET',
      '/boards',
    );
    if (answer.status !== 200 || !answer.body) throw new Error(`sim GET /boards: ${answer.status}`);
    return new Map(answer.body.boards.map((b) => [b.name, b.flashCounters]));
  }

  /** SHA-256 of a flash region of a board, read back through the control endpoint. */
  async flashSha256(board: string, offset: number, length: number): Promise<string> {
    const answer = await this.simRequest<{ sha256: string }>(
      'GET',
      `/boards/${board}/flash-hash?offset=${offset}&length=${length}`,
    );
    if (answer.status !== 200 || !answer.body) throw new Error(`flash-hash of ${board}: ${answer.status}`);
    return answer.body.sha256;
  }

  /** Waits for /health 200. */
  async waitApiHealthy(timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        if (!this.api.running) throw new Error(`the api exited:\n${this.api.output.slice(-2000)}`);
        const health = await call(`${this.apiUrl}/health`, { timeoutMs: 3_000 });
        return health.status === 200 ? true : undefined;
      },
      timeoutMs,
      'the api to answer /health with 200',
    );
  }

  /** Every board known, online and idle (quarantined ones are released: an operator's move between tries). */
  async waitIdle(timeoutMs: number): Promise<DeviceView[]> {
    return waitFor(
      async () => {
        const page = await this.request<{ items: DeviceView[] }>('GET', '/devices?limit=500');
        if (page.status !== 200 || !page.body) return undefined;
        const mine = page.body.items.filter((d) => this.boards.some((b) => b.mac === d.mac));
        for (const d of mine) this.deviceBoards.set(d.id, this.boards.find((b) => b.mac === d.mac)!.name);
        for (const d of mine.filter((x) => x.state === 'quarantined')) {
          this.restarts.push(`released quarantined board ${d.mac}`);
          await this.request('POST', `/devices/${d.id}/release`, {});
        }
        return mine.length === this.boards.length && mine.every((d) => d.state === 'idle') ? mine : undefined;
      },
      timeoutMs,
      `all ${this.boards.length} boards to be online and idle`,
    );
  }

  /** Uploads a firmware built for this try (its own version, so every flash changes the flash). */
  async uploadFirmware(version: string, appBytes: number): Promise<{ id: string; parts: StoredPart[] }> {
    const parts = buildFirmwareSet({
      chip: 'esp32',
      projectName: 'faults',
      version,
      payloadBytes: appBytes,
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
    form.append('name', 'faults');
    form.append('version', version);
    form.append('chip', 'esp32');
    const answer = await this.request<{ id: string; parts: StoredPart[] }>('POST', '/firmware', form, 60_000);
    if (answer.status !== 201 || !answer.body)
      throw new Error(`POST /firmware: ${answer.status} ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  /** A job, or undefined while the api does not answer. */
  async job(id: string): Promise<JobView | undefined> {
    const answer = await this.request<JobView>('GET', `/jobs/${id}`, undefined, 5_000);
    return answer.status === 200 ? answer.body : undefined;
  }

  /** Kills what is left and removes nothing (the work directory holds the logs). */
  async stop(): Promise<void> {
    await this.agent?.signal('SIGKILL');
    await this.api?.signal('SIGKILL');
    await this.sim?.signal('SIGTERM', 10_000);
    await this.redis.stop();
  }
}

/** Polls `probe` until it returns a value (not undefined), or fails after timeoutMs naming `what`. */
export async function waitFor<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
      if (error instanceof Error && /exited/.test(error.message)) throw error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last: ${last instanceof Error ? last.message : JSON.stringify(last)})` : ''}`,
      );
    await holdFor(intervalMs);
  }
}

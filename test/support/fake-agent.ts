/**
 * TEST DRIVER FOR THE API TIER — not a stand-in for anything that runs in
 * production. A scripted agent that speaks the api's contracts for real: it
 * registers and heartbeats over HTTP with an agent token, reports boards,
 * consumes its BullMQ run queue, listens on its control channel, and appends
 * run events to AGENT_EVENTS_STREAM on real Redis. Api-level tests use it to
 * drive the scheduler and the event intake; the real agent (apps/agent) has
 * its own end-to-end tests against simulated boards.
 */
import crypto from 'node:crypto';
import { Worker, type Job } from 'bullmq';
import pg from 'pg';
import { Redis } from 'ioredis';
import {
  AGENT_EVENTS_STREAM,
  AGENT_EVENT_FIELD,
  FLASH_RUN_JOB,
  agentControlChannel,
  agentRunQueueName,
  type AgentControlMessage,
  type AgentEvent,
  type AgentHeartbeatResponse,
  type FlashRunPayload,
  type RegisterAgentResponse,
  type ReportDevicesResponse,
  type RunResultPayload,
} from '#contracts';

/** A board the fake agent claims to hold. */
export interface FakeBoard {
  mac: string;
  chip: string;
  portPath: string;
}

/** What a run script can do: the same events a real agent sends. */
export interface FakeRunContext {
  payload: FlashRunPayload;
  /** Aborted when the api cancels the run (control channel or heartbeat answer). */
  signal: AbortSignal;
  started(): Promise<void>;
  log(text: string, level?: 'debug' | 'info' | 'warn' | 'error', stage?: string): Promise<void>;
  /** Sends lines with the given seqs in one event (seqs may repeat earlier ones, as a redelivery would). */
  logBatch(seqs: number[], text?: (seq: number) => string): Promise<void>;
  progress(percent: number, stage?: string): Promise<void>;
  /**
   * Sends run.finished with the highest seq sent as lastSeq, as an agent does; `lastSeq: null` leaves it
   * out (an older agent, or one that lost a batch of lines).
   */
  finish(result?: Partial<RunResultPayload>, options?: { lastSeq?: number | null }): Promise<void>;
  /** Waits, or rejects when the run is cancelled. */
  sleep(ms: number): Promise<void>;
}

/** A run script; the default starts, logs three lines, reports progress, waits runDelayMs and succeeds. */
export type FakeRunScript = (run: FakeRunContext) => Promise<void>;

/** Options for FakeAgent. */
export interface FakeAgentOptions {
  baseUrl: string;
  /** A token of role agent. */
  token: string;
  redisUrl: string;
  name: string;
  boards: FakeBoard[];
  maxParallel?: number;
  heartbeatMs?: number;
  /** Delay of the default script (a number, or a function for random delays). */
  runDelayMs?: number | (() => number);
  script?: FakeRunScript;
  /**
   * false: registers, reports and heartbeats but never connects a worker to its queue (an agent whose
   * queue connection reaches another Redis than the farm's). Default true.
   */
  takeRuns?: boolean;
}

/** When the agent received a run from its queue. */
export interface ReceivedRun {
  runId: string;
  payload: FlashRunPayload;
  receivedAt: number;
}

/** The scripted agent. */
export class FakeAgent {
  agentId = '';
  /** Device ids by MAC, as the api answered the device report. */
  readonly deviceIds = new Map<string, string>();
  readonly received: ReceivedRun[] = [];
  readonly cancelRequests: string[] = [];
  private readonly redis: Redis;
  private subscriber?: Redis;
  private worker?: Worker;
  private workerConnection?: Redis;
  private heartbeat?: NodeJS.Timeout;
  private readonly running = new Map<string, AbortController>();
  private readonly seqs = new Map<string, number>();
  private heartbeatsPaused = false;
  private closed = false;

  constructor(private readonly options: FakeAgentOptions) {
    this.redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
  }

  /** Registers, reports its boards, then starts heartbeats, the control subscription and the queue worker. */
  async start(): Promise<this> {
    const registered = await this.http<RegisterAgentResponse>('POST', '/agents/register', {
      name: this.options.name,
      hostname: `${this.options.name}.test`,
      version: 'test-driver',
      maxParallel: this.options.maxParallel ?? this.options.boards.length,
    });
    this.agentId = registered.agentId;
    await this.reportBoards(this.options.boards, [], true);
    this.subscriber = new Redis(this.options.redisUrl, { maxRetriesPerRequest: null });
    this.subscriber.on('message', (_channel: string, text: string) => {
      const message = JSON.parse(text) as AgentControlMessage;
      if (message.type === 'cancel-run') {
        this.cancelRequests.push(message.runId);
        this.running.get(message.runId)?.abort();
      }
    });
    await this.subscriber.subscribe(agentControlChannel(this.agentId, this.subscriber));
    const beat = this.options.heartbeatMs ?? 200;
    this.heartbeat = setInterval(() => void this.sendHeartbeat().catch(() => {}), beat);
    if (this.options.takeRuns === false) return this;
    this.workerConnection = new Redis(this.options.redisUrl, { maxRetriesPerRequest: null });
    this.worker = new Worker(
      agentRunQueueName(this.agentId),
      (job: Job<FlashRunPayload>) => this.process(job),
      {
        connection: this.workerConnection,
        concurrency: this.options.maxParallel ?? Math.max(1, this.options.boards.length),
      },
    );
    this.worker.on('error', () => {});
    await this.worker.waitUntilReady();
    return this;
  }

  /** POST /agents/:id/devices. */
  async reportBoards(present: FakeBoard[], gone: string[], complete: boolean): Promise<void> {
    const answer = await this.http<ReportDevicesResponse>('POST', `/agents/${this.agentId}/devices`, {
      present: present.map((b) => ({
        identity: { mac: b.mac, chip: b.chip },
        attachment: { portPath: b.portPath },
      })),
      gone,
      complete,
    });
    for (const d of answer.devices) this.deviceIds.set(d.mac, d.deviceId);
  }

  /** Talks to another api replica from now on (the first one was stopped). */
  useApi(baseUrl: string): void {
    this.options.baseUrl = baseUrl;
  }

  /** Stops heartbeats (the api should consider this agent dead after its timeout). */
  pauseHeartbeats(): void {
    this.heartbeatsPaused = true;
  }

  /** Appends one raw event to the agents' stream. */
  async emit(event: AgentEvent): Promise<void> {
    await this.redis.xadd(AGENT_EVENTS_STREAM, '*', AGENT_EVENT_FIELD, JSON.stringify(event));
  }

  /**
   * Stops everything; runs in flight are abandoned (as if the process died). Returns once every
   * Redis connection has closed. Closing twice is a no-op: tests close an agent mid-test and again
   * in afterAll, and a second ioredis disconnect() arms a 2 s timer on the already-closed socket
   * that nothing clears, which held Jest open after the run.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const controller of this.running.values()) controller.abort();
    await this.worker?.close(true).catch(() => {});
    await Promise.all([this.workerConnection, this.subscriber, this.redis].map(disconnected));
  }

  private async sendHeartbeat(): Promise<void> {
    if (this.heartbeatsPaused || !this.agentId) return;
    const answer = await this.http<AgentHeartbeatResponse>('POST', `/agents/${this.agentId}/heartbeat`, {
      status: 'online',
      runningRunIds: [...this.running.keys()],
    });
    for (const runId of answer.cancelRunIds ?? []) this.running.get(runId)?.abort();
  }

  private async process(job: Job<FlashRunPayload>): Promise<void> {
    if (job.name !== FLASH_RUN_JOB) throw new Error(`unexpected job ${job.name}`);
    const payload = job.data;
    this.received.push({ runId: payload.runId, payload, receivedAt: Date.now() });
    const controller = new AbortController();
    this.running.set(payload.runId, controller);
    let finished = false;
    const context: FakeRunContext = {
      payload,
      signal: controller.signal,
      started: () =>
        this.emit({
          type: 'run.started',
          runId: payload.runId,
          agentId: this.agentId,
          at: new Date().toISOString(),
          portPath: payload.portPath,
        }),
      log: (text, level = 'info', stage) => {
        const seq = (this.seqs.get(payload.runId) ?? 0) + 1;
        this.seqs.set(payload.runId, seq);
        return this.emit({
          type: 'run.log',
          runId: payload.runId,
          agentId: this.agentId,
          lines: [{ seq, ts: new Date().toISOString(), level, stage, text }],
        });
      },
      logBatch: (seqs, text = (seq) => `line ${seq}`) => {
        this.seqs.set(payload.runId, Math.max(this.seqs.get(payload.runId) ?? 0, ...seqs));
        return this.emit({
          type: 'run.log',
          runId: payload.runId,
          agentId: this.agentId,
          lines: seqs.map((seq) => ({
            seq,
            ts: new Date().toISOString(),
            level: 'info' as const,
            stage: 'write',
            text: text(seq),
          })),
        });
      },
      progress: (percent, stage = 'write') =>
        this.emit({
          type: 'run.progress',
          runId: payload.runId,
          agentId: this.agentId,
          at: new Date().toISOString(),
          stage,
          percent,
          bytesDone: percent * 10,
          bytesTotal: 1000,
        }),
      finish: async (result = {}, options = {}) => {
        finished = true;
        const lastSeq = options.lastSeq === undefined ? (this.seqs.get(payload.runId) ?? 0) : options.lastSeq;
        await this.emit({
          type: 'run.finished',
          runId: payload.runId,
          agentId: this.agentId,
          at: new Date().toISOString(),
          ...(lastSeq === null ? {} : { lastSeq }),
          result: {
            status: 'succeeded',
            retries: 0,
            bytesWritten: 1000,
            bytesSkipped: 0,
            regions: [],
            timings: { total: 1 },
            ...result,
          },
        });
      },
      sleep: (ms) =>
        new Promise<void>((resolve, reject) => {
          if (controller.signal.aborted) return reject(new Error('cancelled'));
          const timer = setTimeout(resolve, ms);
          controller.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            reject(new Error('cancelled'));
          });
        }),
    };
    try {
      await (this.options.script ?? this.defaultScript)(context);
    } catch (error) {
      if (controller.signal.aborted && !finished && !this.closed)
        await context.finish({
          status: 'cancelled',
          errorCode: 'CANCELLED',
          errorMessage: 'cancelled by the api',
        });
      else if (!controller.signal.aborted) throw error;
    } finally {
      this.running.delete(payload.runId);
    }
  }

  private readonly defaultScript: FakeRunScript = async (run) => {
    await run.started();
    await run.log('connecting', 'info', 'connect');
    await run.progress(50);
    await run.log('writing', 'info', 'write');
    const delay = this.options.runDelayMs;
    await run.sleep(typeof delay === 'function' ? delay() : (delay ?? 20));
    await run.log('verified', 'info', 'verify');
    await run.finish();
  };

  private async http<T>(method: string, path: string, body: unknown): Promise<T> {
    const response = await fetch(`${this.options.baseUrl}${path}`, {
      method,
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.options.token}` },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  }
}

/** Disconnects one connection and resolves when its socket has closed (at once if it had none open). */
async function disconnected(connection: Redis | undefined): Promise<void> {
  if (!connection || connection.status === 'end') return;
  // Between reconnect attempts there is no socket to wait for, and ioredis emits no 'end'.
  if (connection.status === 'reconnecting') return connection.disconnect();
  const ended = new Promise<void>((resolve) => connection.once('end', () => resolve()));
  connection.disconnect();
  await ended;
}

/** A bearer token stored the way the api stores them (SHA-256 of the secret); returns the secret. */
export async function seedToken(
  databaseUrl: string,
  role: 'admin' | 'ci' | 'operator' | 'viewer' | 'agent',
  name: string,
): Promise<string> {
  const secret = `ff_test_${role}_${crypto.randomBytes(16).toString('hex')}`;
  const hash = crypto.createHash('sha256').update(secret, 'utf8').digest('hex');
  await sql(
    databaseUrl,
    `INSERT INTO "ApiToken" (id, name, role, "tokenHash", prefix) VALUES ($1, $2, $3, $4, $5)`,
    [crypto.randomUUID(), name, role, hash, secret.slice(0, 10)],
  );
  return secret;
}

/** A firmware record with one app part (the bytes are not needed by api-level tests of scheduling). */
export async function seedFirmware(databaseUrl: string, chip: string): Promise<string> {
  const id = crypto.randomUUID();
  const sha = crypto.randomBytes(32).toString('hex');
  await sql(
    databaseUrl,
    `INSERT INTO "Firmware" (id, sha256, name, chip, kind, "totalBytes") VALUES ($1, $2, $3, $4, 'merged', 4096)`,
    [id, sha, `test-${chip}`, chip],
  );
  await sql(
    databaseUrl,
    `INSERT INTO "FirmwarePart" (id, "firmwareId", "offset", size, sha256, md5, role, "fileName") VALUES ($1, $2, 0, 4096, $3, $4, 'merged', 'merged.bin')`,
    [crypto.randomUUID(), id, crypto.randomBytes(32).toString('hex'), crypto.randomBytes(16).toString('hex')],
  );
  return id;
}

/** Runs one statement on the test database (fixtures the api has no endpoint for in this tier, e.g. pools and tags). */
export async function sql(
  databaseUrl: string,
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<Record<string, unknown>>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return await client.query<Record<string, unknown>>(text, values);
  } finally {
    await client.end();
  }
}

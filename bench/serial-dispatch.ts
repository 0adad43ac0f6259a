/**
 * The serial half of the api benchmark's dispatch figure: a real agent
 * process and simulated ESP32 boards behind RFC 2217 servers, attached to the
 * api under test, and the moments on the way from POST /jobs to the first byte
 * a board receives from the host.
 *
 * Every moment is read where it happens, on the wall clock (Date.now(), shared
 * by the benchmark and the agent process on one machine):
 * - queue pickup: the BullMQ job's processedOn, stamped by the agent's worker;
 * - claim answered: the api's HTTP server finished its answer to
 *   POST /agents/:id/runs/:runId/claim (a listener on the server, beside Nest);
 * - port opened: the board's RFC 2217 server accepted the agent's connection
 *   and opened the board's UART (SimBoard.openPort, wrapped here);
 * - reset begins: the first DTR or RTS asserted on that connection
 *   (SimBoard.hostSignals, wrapped here), i.e. EN pulled low;
 * - first byte: the first host-to-board write on that connection
 *   (SimBoard.hostWrite, wrapped here), i.e. after the reset pulse.
 * The simulator itself is not changed.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import type { Queue } from 'bullmq';
import { buildFirmwareSet } from '#esp';
import type { SimBoard } from '#sim';
import { runQueue, startBoard, type FarmBoard } from '../test/e2e/support/farm.js';
import { spawnTs, type SpawnedProcess } from '../test/support/processes.js';

/** How long the agent may take to start, probe its boards and report them. */
const AGENT_READY_TIMEOUT_MS = 120_000;
/** How long one pinned run may take from POST /jobs to its end. */
const RUN_TIMEOUT_MS = 60_000;
const POLL_MS = 20;

/** The moments of one pinned job, in ms after POST /jobs was sent. */
export interface SerialSample {
  board: number;
  /** The agent's worker took the run off its queue. */
  pickupMs: number;
  /** The api finished answering the agent's claim of the run. */
  claimAnsweredMs: number;
  /** The agent's connection reached the board's UART. */
  portOpenedMs: number;
  /** The agent asserted DTR or RTS for the first time on that connection (the reset pulse starts). */
  resetBeganMs: number;
  /** The board received its first byte from the host. */
  firstByteMs: number;
  /** The agent's own firmware fetch time for the run (cache hit or download). */
  fetchMs: number;
}

/** One connection to a board's UART, as seen from the board. */
interface UartSession {
  openedAt: number;
  resetAt?: number;
  firstByteAt?: number;
}

/** A board with its UART sessions recorded. */
interface ObservedBoard {
  farm: FarmBoard;
  mac: string;
  sessions: UartSession[];
}

/** What the serial farm needs from the benchmark. */
export interface SerialFarmOptions {
  baseUrl: string;
  adminToken: string;
  redisUrl: string;
  /** The api's HTTP server, for the claim observation. */
  httpServer: Server;
  boards: number;
  dataDir: string;
  /** Reads a job's status and its (single) run from the api's database. */
  jobState(jobId: string): Promise<{
    status: string;
    run?: { id: string; agentId: string | null; errorMessage: string | null; timings: unknown };
  }>;
  /** Lists devices by MAC that the api holds as idle. */
  idleDevices(macs: string[]): Promise<number>;
}

/** A running serial farm. */
export interface SerialFarm {
  readonly boardCount: number;
  readonly firmwareBytes: number;
  /** Posts one job pinned to a board, waits for it to end, and returns its moments. */
  sample(board: number): Promise<SerialSample>;
  /** The agent's output, for a failure report. */
  agentOutput(): string;
  close(): Promise<void>;
}

/** Records every UART session of a board: when it was opened and when the host first wrote to it. */
function observe(board: SimBoard): UartSession[] {
  const sessions: UartSession[] = [];
  let current: UartSession | undefined;
  const openPort = board.openPort.bind(board);
  const hostWrite = board.hostWrite.bind(board);
  const hostSignals = board.hostSignals.bind(board);
  board.openPort = () => {
    const handle = openPort();
    current = { openedAt: Date.now() };
    sessions.push(current);
    return handle;
  };
  board.hostSignals = (signals: { dtr?: boolean; rts?: boolean }) => {
    if (current && current.resetAt === undefined && (signals.dtr === true || signals.rts === true))
      current.resetAt = Date.now();
    hostSignals(signals);
  };
  board.hostWrite = (bytes: Uint8Array) => {
    if (current && current.firstByteAt === undefined && bytes.length > 0) current.firstByteAt = Date.now();
    hostWrite(bytes);
  };
  return sessions;
}

/** Records when the api finished answering each run claim, by run id. */
function observeClaims(server: Server): { answeredAt: Map<string, number>; stop(): void } {
  const answeredAt = new Map<string, number>();
  const claimPath = /^\/agents\/[^/]+\/runs\/([^/]+)\/claim(?:\?|$)/;
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    const match = req.method === 'POST' ? claimPath.exec(req.url ?? '') : null;
    if (!match) return;
    const runId = decodeURIComponent(match[1]);
    res.once('finish', () => answeredAt.set(runId, Date.now()));
  };
  server.on('request', listener);
  return { answeredAt, stop: () => server.off('request', listener) };
}

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Starts simulated ESP32 boards (real time) behind RFC 2217 servers and a real
 * agent process for them, uploads a small bootable firmware, and waits until
 * the api holds every board as idle.
 */
export async function startSerialFarm(options: SerialFarmOptions): Promise<SerialFarm> {
  const request = async <T>(method: string, url: string, body?: unknown): Promise<T> => {
    const isForm = body instanceof FormData;
    const response = await fetch(`${options.baseUrl}${url}`, {
      method,
      headers: {
        authorization: `Bearer ${options.adminToken}`,
        ...(body !== undefined && !isForm ? { 'content-type': 'application/json' } : {}),
      },
      body: body === undefined ? undefined : isForm ? body : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };

  const boards: ObservedBoard[] = [];
  const claims = observeClaims(options.httpServer);
  let agent: SpawnedProcess | undefined;
  let queue: Queue | undefined;
  const close = async (): Promise<void> => {
    claims.stop();
    await queue?.close();
    if (agent) {
      agent.child.kill('SIGTERM');
      await agent.waitForExit(30_000).catch(() => agent?.kill());
    }
    for (const b of boards) {
      await b.farm.server?.close();
      b.farm.board.dispose();
    }
  };
  try {
    for (let i = 0; i < options.boards; i++) {
      const farm = await startBoard({ chip: 'esp32', name: `bench-api-serial-${i + 1}`, timeScale: 1 });
      boards.push({ farm, mac: farm.board.mac, sessions: observe(farm.board) });
    }
    const parts = buildFirmwareSet({ chip: 'esp32', projectName: 'bench-api', version: '1.0.0' });
    const form = new FormData();
    for (const p of parts)
      form.append('files', new Blob([new Uint8Array(p.data)]), p.name ?? `${p.offset}.bin`);
    form.append(
      'parts',
      JSON.stringify(
        parts.map((p) => ({ offset: `0x${p.offset.toString(16)}`, file: p.name ?? `${p.offset}.bin` })),
      ),
    );
    form.append('name', 'bench-api-serial');
    form.append('version', '1.0.0');
    form.append('chip', 'esp32');
    const firmware = await request<{ id: string }>('POST', '/firmware', form);
    const firmwareBytes = parts.reduce((n, p) => n + p.data.length, 0);

    const { secret } = await request<{ secret: string }>('POST', '/tokens', {
      name: 'bench-serial-agent',
      role: 'agent',
    });
    const agentDir = path.join(options.dataDir, 'serial-agent');
    fs.mkdirSync(agentDir, { recursive: true });
    agent = spawnTs('apps/agent/src/main.ts', [], {
      FLASHFARM_URL: options.baseUrl,
      FLASHFARM_AGENT_TOKEN: secret,
      REDIS_URL: options.redisUrl,
      FLASHFARM_AGENT_NAME: 'bench-serial-agent',
      FLASHFARM_AGENT_PORTS: boards.map((b) => b.farm.url).join(','),
      FLASHFARM_AGENT_DISCOVERY: 'false',
      FLASHFARM_DATA_DIR: agentDir,
      FLASHFARM_LOG_FORMAT: 'json',
    });
    const macs = boards.map((b) => b.mac);
    await waitFor(
      async () => {
        if (agent?.child.exitCode !== null) throw new Error(`the agent exited: ${agent?.output()}`);
        return (await options.idleDevices(macs)) === macs.length ? true : undefined;
      },
      `the agent to report ${macs.length} idle board(s)`,
      AGENT_READY_TIMEOUT_MS,
    );

    const sample = async (index: number): Promise<SerialSample> => {
      const b = boards[index];
      const sessionsBefore = b.sessions.length;
      const t0 = Date.now();
      const { id: jobId } = await request<{ id: string }>('POST', '/jobs', {
        firmwareId: firmware.id,
        target: { device: b.mac },
      });
      const ended = await waitFor(
        async () => {
          const state = await options.jobState(jobId);
          return ['succeeded', 'failed', 'cancelled'].includes(state.status) ? state : undefined;
        },
        `job ${jobId} to end`,
        RUN_TIMEOUT_MS,
      );
      const run = ended.run;
      if (ended.status !== 'succeeded' || !run?.agentId)
        throw new Error(`pinned job ${jobId} ended ${ended.status}: ${run?.errorMessage ?? 'no run'}`);
      queue ??= runQueue(options.redisUrl, run.agentId);
      const processedOn = (await queue.getJob(run.id))?.processedOn;
      const answeredAt = claims.answeredAt.get(run.id);
      const sessions = b.sessions.slice(sessionsBefore);
      // Boards are idle between samples and the agent does not re-probe a present board: one session per run.
      if (sessions.length !== 1)
        throw new Error(`board ${b.mac} saw ${sessions.length} connections during job ${jobId}, expected 1`);
      const [session] = sessions;
      if (
        processedOn === undefined ||
        answeredAt === undefined ||
        session.resetAt === undefined ||
        session.firstByteAt === undefined
      )
        throw new Error(`job ${jobId}: a moment is missing (pickup, claim, reset or first byte)`);
      const timings = (run.timings ?? {}) as { fetchMs?: number };
      return {
        board: index,
        pickupMs: processedOn - t0,
        claimAnsweredMs: answeredAt - t0,
        portOpenedMs: session.openedAt - t0,
        resetBeganMs: session.resetAt - t0,
        firstByteMs: session.firstByteAt - t0,
        fetchMs: timings.fetchMs ?? NaN,
      };
    };

    return {
      boardCount: boards.length,
      firmwareBytes,
      sample,
      agentOutput: () => agent?.output() ?? '',
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

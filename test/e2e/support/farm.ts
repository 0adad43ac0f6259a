/**
 * Test farm pieces for agent e2e tests and the farm benchmark: simulated
 * boards behind RFC 2217 servers (the agent reaches them exactly as it reaches
 * ser2net or a remote hub), the agent as a real child process, runs put on
 * its BullMQ queue, and its events read back from the Redis stream.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import {
  AGENT_EVENT_FIELD,
  AGENT_EVENTS_STREAM,
  agentRunQueueName,
  DEFAULT_FLASH_OPTIONS,
  FLASH_RUN_JOB,
  type AgentEvent,
  type FlashOptions,
  type FlashRunPayload,
  type RunResultPayload,
} from '#contracts';
import {
  bootableAppImages,
  SimBoard,
  startRfc2217Server,
  type Rfc2217Server,
  type SimBoardOptions,
} from '#sim';
import { freePort } from '#runtime';
import { spawnTs, type SpawnedProcess } from '../../support/processes.js';
import type { ContractApi } from './contract-api.js';

/** A simulated board on the network. */
export interface FarmBoard {
  board: SimBoard;
  server: Rfc2217Server | undefined;
  url: string;
  port: number;
}

/** Starts a board and its RFC 2217 server (on `port`, or a free one). */
export async function startBoard(options: SimBoardOptions, port?: number): Promise<FarmBoard> {
  const board = new SimBoard(options);
  const server = await startRfc2217Server(board, { port: port ?? (await freePort()) });
  return { board, server, url: server.url, port: server.port };
}

/** Serves an existing board on another TCP port (the board moved to another port). */
export async function serveBoard(fb: FarmBoard, port?: number): Promise<FarmBoard> {
  const server = await startRfc2217Server(fb.board, { port: port ?? (await freePort()) });
  return { board: fb.board, server, url: server.url, port: server.port };
}

/** Where the optional filler part of a test firmware goes. */
const DATA_PARTITION_OFFSET = 0x200000;

/** A firmware: the parts the simulator boots (bootloader, partition table, app announcing `project`/`version`). */
export interface TestFirmware {
  id: string;
  chip: string;
  parts: FlashRunPayload['firmware']['parts'];
  regions: Array<{ offset: number; data: Uint8Array }>;
  sha256: string;
  project: string;
  version: string;
}

/** Builds a bootable firmware for a chip and registers its parts with the api stand-in. */
export function buildFirmware(
  api: ContractApi,
  chip: SimBoardOptions['chip'],
  project: string,
  version: string,
  options: { dataBytes?: number } = {},
): TestFirmware {
  const id = randomUUID();
  const regions = bootableAppImages(chip, { projectName: project, version });
  const roles = ['bootloader', 'partition-table', 'app'];
  if (options.dataBytes) {
    // Incompressible filler (an xorshift stream): makes a flash last long enough to interrupt it.
    const data = new Uint8Array(options.dataBytes);
    let x = 0x9e3779b9;
    for (let i = 0; i < data.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      data[i] = x & 0xff;
    }
    regions.push({ offset: DATA_PARTITION_OFFSET, data });
    roles.push('data');
  }
  const parts = regions.map((r, i) => {
    const stored = api.addPart(id, r.data);
    return { offset: r.offset, size: r.data.length, role: roles[i] ?? `part${i}`, ...stored };
  });
  const sha256 = createHash('sha256')
    .update(parts.map((p) => `${p.offset}:${p.sha256}`).join(','))
    .digest('hex');
  return { id, chip, parts, regions, sha256, project, version };
}

/** MD5 of a board's flash over a region. */
export function flashMd5(board: SimBoard, offset: number, size: number): string {
  return createHash('md5').update(board.flash.read(offset, size)).digest('hex');
}

/** True when every region of the firmware is in the board's flash. */
export function holdsFirmware(board: SimBoard, fw: TestFirmware): boolean {
  return fw.regions.every(
    (r) => flashMd5(board, r.offset, r.data.length) === createHash('md5').update(r.data).digest('hex'),
  );
}

/** Starts the agent as a real process against the api stand-in and Redis. */
export function startAgent(options: {
  api: ContractApi;
  redisUrl: string;
  name: string;
  ports: string[];
  dataDir: string;
  env?: Record<string, string>;
}): SpawnedProcess {
  return spawnTs('apps/agent/src/main.ts', [], {
    FLASHFARM_URL: options.api.baseUrl,
    FLASHFARM_AGENT_TOKEN: options.api.token,
    REDIS_URL: options.redisUrl,
    FLASHFARM_AGENT_NAME: options.name,
    FLASHFARM_AGENT_PORTS: options.ports.join(','),
    FLASHFARM_AGENT_DISCOVERY: 'false',
    FLASHFARM_AGENT_DISCOVERY_MS: '300',
    FLASHFARM_DATA_DIR: options.dataDir,
    FLASHFARM_LOG_FORMAT: 'pretty',
    FLASHFARM_AGENT_HEARTBEAT_MS: '500',
    ...options.env,
  });
}

/** Puts a run on the agent's queue the way the api's dispatcher does (jobId = runId). */
export async function dispatchRun(
  queue: Queue,
  fw: TestFirmware,
  target: { deviceId: string; mac: string; portPath: string },
  options: Partial<FlashOptions> = {},
  runId: string = randomUUID(),
): Promise<FlashRunPayload> {
  const payload: FlashRunPayload = {
    runId,
    jobId: randomUUID(),
    attempt: 1,
    deviceId: target.deviceId,
    mac: target.mac,
    chip: fw.chip,
    portPath: target.portPath,
    firmware: { id: fw.id, sha256: fw.sha256, chip: fw.chip, parts: fw.parts },
    options: { ...DEFAULT_FLASH_OPTIONS, ...options },
    device: {},
  };
  await queue.add(FLASH_RUN_JOB, payload, { jobId: runId, removeOnComplete: 1000, removeOnFail: 1000 });
  return payload;
}

/** The agent's queue, with a connection the test owns and closes. */
export function runQueue(redisUrl: string, agentId: string): Queue {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue(agentRunQueueName(agentId), { connection });
  const close = queue.close.bind(queue);
  queue.close = async () => {
    await close();
    await connection.quit().catch(() => connection.disconnect());
  };
  return queue;
}

/** Reads the events stream. */
export class EventReader {
  private readonly redis: Redis;
  constructor(redisUrl: string) {
    this.redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  }

  async all(): Promise<AgentEvent[]> {
    const entries = await this.redis.xrange(AGENT_EVENTS_STREAM, '-', '+');
    return entries.map(
      ([, fields]) => JSON.parse(fields[fields.indexOf(AGENT_EVENT_FIELD) + 1]) as AgentEvent,
    );
  }

  async forRun(runId: string): Promise<AgentEvent[]> {
    return (await this.all()).filter((e) => 'runId' in e && e.runId === runId);
  }

  /** The run's result once it finished, else undefined. */
  async result(runId: string): Promise<RunResultPayload | undefined> {
    const finished = (await this.forRun(runId)).filter((e) => e.type === 'run.finished');
    return finished.length ? finished[finished.length - 1].result : undefined;
  }

  /** Every log line of a run, in stream order. */
  async logLines(
    runId: string,
  ): Promise<Array<{ seq: number; text: string; level: string; stage?: string }>> {
    return (await this.forRun(runId)).flatMap((e) => (e.type === 'run.log' ? e.lines : []));
  }

  close(): void {
    this.redis.disconnect();
  }
}

// `npm run demo`: a whole farm on one machine with no set-up and no hardware.
// The api (embedded PostgreSQL via PGlite, a local redis-server), an agent,
// and eight simulated boards of mixed chips, each behind its own RFC 2217
// server and given to the agent as a static rfc2217:// port, so every byte
// takes the production path (agent → RFC 2217 → board). It creates an admin
// token and an agent token, uploads a sample firmware built by our own image
// writer, flashes every ESP32 board, and prints the dashboard URL and token.
// Ctrl-C stops everything. startDemoFarm() is the same farm for the tests.
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadApiConfig } from '../apps/api/src/config/api-config.js';
import { createApiApp, createLogger, type ApiApp } from '../apps/api/src/app.factory.js';
import { generateTokenSecret } from '../apps/api/src/auth/index.js';
import { loadAgentConfig } from '../apps/agent/src/config/agent-config.js';
import { createAgentApp, createAgentLogger, type AgentApp } from '../apps/agent/src/agent.factory.js';
import { FarmClient } from '../apps/cli/src/commands/client.js';
import { firmwareForm } from '../apps/cli/src/commands/firmware-input.js';
import type { DeviceView, FirmwareView, JobView, Page, TokenView } from '#contracts';
import { buildFirmwareSet } from '#esp';
import { freePort } from '#runtime';
import {
  bootableAppImages,
  SimBoard,
  startRfc2217Server,
  type ChipName,
  type Rfc2217Server,
  type SimFaults,
} from '#sim';

/** One simulated board of the demo. */
export interface DemoBoardSpec {
  chip: ChipName;
  name: string;
  pool?: string;
  tags?: string[];
  /** Base MAC; default derived from the name. */
  mac?: string;
  /** Faults switched on from the start (a unit held out of download mode: `io0NotWired`). */
  faults?: SimFaults;
}

/** The demo's boards: mixed chips, two pools. */
export const DEMO_BOARDS: readonly DemoBoardSpec[] = [
  { chip: 'esp32', name: 'demo-esp32-1', pool: 'line-1', tags: ['usb-c'] },
  { chip: 'esp32', name: 'demo-esp32-2', pool: 'line-1', tags: ['usb-c'] },
  { chip: 'esp32', name: 'demo-esp32-3', pool: 'line-1' },
  { chip: 'esp32s3', name: 'demo-esp32s3-1', pool: 'line-1', tags: ['usb-c'] },
  { chip: 'esp32s3', name: 'demo-esp32s3-2', pool: 'lab' },
  { chip: 'esp32c3', name: 'demo-esp32c3-1', pool: 'lab' },
  { chip: 'esp32c3', name: 'demo-esp32c3-2', pool: 'lab' },
  { chip: 'esp8266', name: 'demo-esp8266-1', pool: 'lab' },
];

/** A running board and its RFC 2217 server. */
export interface DemoBoard {
  spec: DemoBoardSpec;
  board: SimBoard;
  server: Rfc2217Server;
}

/** Options of startDemoFarm. */
export interface DemoFarmOptions {
  /** Environment for the api and the agent (DATABASE_URL, REDIS_URL, FLASHFARM_DATA_DIR, FLASHFARM_PORT...). */
  env?: Record<string, string | undefined>;
  boards?: readonly DemoBoardSpec[];
  /** Simulator time scale (1 = real time). */
  timeScale?: number;
  /** Progress lines for the console; default silent. */
  log?: (line: string) => void;
  /** Nest loggers on (the demo) or off (tests). */
  verbose?: boolean;
  /** How long to wait for the agent to report every board. */
  devicesTimeoutMs?: number;
  /** Extra rfc2217:// ports the agent watches with no board behind them yet (a station's empty sockets). */
  emptyPorts?: number;
  /** More agent environment, given the empty ports' URLs (fixture slots: FLASHFARM_AGENT_FIXTURES). */
  agentEnv?: (emptyPortUrls: string[]) => Record<string, string>;
  /** Called with the api before it listens (tests install their response recorder here). */
  beforeListen?: (api: ApiApp) => void;
}

/** A running demo farm. */
export interface DemoFarm {
  url: string;
  adminToken: string;
  agentToken: string;
  client: FarmClient;
  api: ApiApp;
  agent: AgentApp;
  boards: DemoBoard[];
  /** Devices the agent reported within the deadline. */
  devices: DeviceView[];
  /** Builds (with our image writer) and uploads a bootable firmware for a chip. */
  uploadFirmware(chip: ChipName, version?: string): Promise<FirmwareView>;
  /** The empty ports' TCP port numbers, in order. */
  emptyPorts: number[];
  /** Starts one more board, on one of emptyPorts (the agent then finds it) or on a free port. */
  addBoard(spec: DemoBoardSpec, port?: number): Promise<DemoBoard>;
  stop(): Promise<void>;
}

/** The demo firmware's app prints this when it starts; the sample job's boot check waits for it. */
export const DEMO_BOOT_PATTERN = 'Calling app_main\\(\\)';

async function startBoard(spec: DemoBoardSpec, timeScale: number, port = 0): Promise<DemoBoard> {
  const board = new SimBoard({
    chip: spec.chip,
    name: spec.name,
    ...(spec.mac ? { mac: spec.mac } : {}),
    ...(spec.faults ? { faults: spec.faults } : {}),
    timeScale,
    // Boards arrive with a factory app, as modules from a vendor do.
    initialFlash: bootableAppImages(spec.chip, { projectName: 'factory-test', version: '0.9.0' }),
  });
  const server = await startRfc2217Server(board, { port });
  return { spec, board, server };
}

async function pollFor<T>(probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts the api, the boards and the agent; creates tokens; labels the boards' pools and tags. */
export async function startDemoFarm(options: DemoFarmOptions = {}): Promise<DemoFarm> {
  const log = options.log ?? (() => undefined);
  const specs = options.boards ?? DEMO_BOARDS;
  const timeScale = options.timeScale ?? 1;
  const adminToken = options.env?.FLASHFARM_ADMIN_TOKEN ?? generateTokenSecret();
  const env: Record<string, string | undefined> = {
    FLASHFARM_LOG_FORMAT: 'pretty',
    ...process.env,
    ...options.env,
    FLASHFARM_ADMIN_TOKEN: adminToken,
  };
  const apiConfig = loadApiConfig(env);
  const api = await createApiApp(apiConfig, {
    logger: options.verbose ? createLogger(apiConfig.logFormat) : false,
  });
  const cleanups: Array<() => Promise<void>> = [() => api.close()];
  const stop = async (): Promise<void> => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  };
  try {
    options.beforeListen?.(api);
    await api.app.listen(apiConfig.http.port, apiConfig.http.host);
    const url = (await api.app.getUrl()).replace('[::1]', 'localhost');
    log(`api listening at ${url}`);
    const client = new FarmClient({ url, token: adminToken });

    const boards: DemoBoard[] = [];
    cleanups.push(async () => {
      for (const b of boards.splice(0)) {
        await b.server.close();
        b.board.dispose();
      }
    });
    for (const spec of specs) boards.push(await startBoard(spec, timeScale));
    log(
      `${boards.length} simulated boards: ${boards.map((b) => `${b.spec.chip}@${b.server.port}`).join(' ')}`,
    );

    const emptyPorts: number[] = [];
    for (let i = 0; i < (options.emptyPorts ?? 0); i++) emptyPorts.push(await freePort());
    const agentName = env.FLASHFARM_AGENT_NAME ?? 'demo-agent';
    // An agent token speaks for one agent: a second run in the same data directory retires the
    // token of the run before (still bound to this agent name) before making its own.
    const tokens = await client.request<TokenView[]>('GET', '/tokens');
    for (const old of tokens.filter((t) => t.agentName === agentName && !t.revokedAt))
      await client.request('DELETE', `/tokens/${old.id}`);
    const agentToken = await client.request<{ secret: string }>('POST', '/tokens', {
      body: { json: { name: agentName, role: 'agent', agent: agentName } },
    });
    const agentConfig = loadAgentConfig({
      ...env,
      FLASHFARM_URL: url,
      REDIS_URL: api.infra.redisEndpoint.url,
      FLASHFARM_AGENT_TOKEN: agentToken.secret,
      FLASHFARM_AGENT_NAME: agentName,
      FLASHFARM_AGENT_PORTS: [
        ...boards.map((b) => b.server.url),
        ...emptyPorts.map((p) => `rfc2217://127.0.0.1:${p}`),
      ].join(','),
      // Only the simulated boards: a real board on this machine stays untouched.
      FLASHFARM_AGENT_DISCOVERY: 'false',
      FLASHFARM_AGENT_HEARTBEAT_MS: env.FLASHFARM_AGENT_HEARTBEAT_MS ?? '1000',
      ...options.agentEnv?.(emptyPorts.map((p) => `rfc2217://127.0.0.1:${p}`)),
    });
    const agent = await createAgentApp(agentConfig, {
      logger: options.verbose ? createAgentLogger(agentConfig.logFormat) : false,
    });
    cleanups.push(() => agent.close());
    log(`agent ${agentConfig.name} started with ${boards.length} rfc2217:// ports`);

    const macs = new Set(boards.map((b) => b.board.mac));
    const ports = new Set(boards.map((b) => b.server.url));
    const devices =
      (await pollFor(async () => {
        const page = await client.request<Page<DeviceView>>('GET', '/devices', { query: { limit: 500 } });
        // Reported by this run's agent: attached to one of this run's ports (a second run in the same
        // data directory finds last run's rows, still marked idle, on ports that no longer exist).
        const ours = page.items.filter(
          (d) => macs.has(d.mac) && d.state === 'idle' && ports.has(d.attachment?.portPath ?? ''),
        );
        return ours.length === macs.size ? ours : undefined;
      }, options.devicesTimeoutMs ?? 30_000)) ??
      (await client.request<Page<DeviceView>>('GET', '/devices', { query: { limit: 500 } })).items.filter(
        (d) => macs.has(d.mac),
      );
    for (const b of boards) {
      const device = devices.find((d) => d.mac === b.board.mac);
      if (!device || (!b.spec.pool && !b.spec.tags)) continue;
      await client.request('PATCH', `/devices/${device.id}`, {
        body: { json: { pool: b.spec.pool ?? null, tags: b.spec.tags ?? [], label: b.spec.name } },
      });
    }
    log(`${devices.length} of ${boards.length} boards reported by the agent`);

    return {
      url,
      adminToken,
      agentToken: agentToken.secret,
      client,
      api,
      agent,
      boards,
      devices,
      uploadFirmware: async (chip, version = '1.0.0') => {
        const parts = buildFirmwareSet({ chip, projectName: 'flashfarm-demo', version });
        const form = firmwareForm(
          {
            parts: parts.map((p) => ({
              offset: p.offset,
              fileName: p.name ?? `part-${p.offset}.bin`,
              data: p.data,
            })),
            describe: '',
          },
          { name: `flashfarm-demo-${chip}`, version, chip },
        );
        return client.request<FirmwareView>('POST', '/firmware', { body: { form } });
      },
      emptyPorts,
      addBoard: async (spec, port) => {
        const board = await startBoard(spec, timeScale, port);
        boards.push(board);
        return board;
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Creates the sample job (every ESP32 board) and waits for its end; returns the final job or undefined on timeout. */
export async function runSampleJob(
  farm: DemoFarm,
  options: { timeoutMs?: number; log?: (line: string) => void } = {},
): Promise<JobView | undefined> {
  const log = options.log ?? (() => undefined);
  const fw = await farm.uploadFirmware('esp32');
  log(
    `sample firmware ${fw.id}: ${fw.name} ${fw.version ?? ''} (${fw.chip}, sha256 ${fw.sha256.slice(0, 12)})`,
  );
  const job = await farm.client.request<JobView>('POST', '/jobs', {
    body: {
      json: {
        firmwareId: fw.id,
        // A count, not "all": a board that is momentarily offline is waited for, not left out.
        target: {
          selector: { chip: 'esp32' },
          count: farm.boards.filter((b) => b.spec.chip === 'esp32').length,
        },
        options: { bootCheck: { pattern: DEMO_BOOT_PATTERN, timeoutMs: 10_000 } },
      },
    },
  });
  log(`sample job ${job.id}: flashing ${job.slots.length} ESP32 board(s)...`);
  return pollFor(async () => {
    const current = await farm.client.request<JobView>('GET', `/jobs/${job.id}`);
    return ['succeeded', 'failed', 'cancelled'].includes(current.status) ? current : undefined;
  }, options.timeoutMs ?? 60_000);
}

/** `npm run demo`: starts the farm, runs the sample job, prints where everything is; runs until Ctrl-C. */
export async function runDemo(): Promise<void> {
  const started = Date.now();
  const out = (line: string) => void process.stdout.write(`${line}\n`);
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const dataDir = process.env.FLASHFARM_DATA_DIR ?? '.flashfarm';
  fs.mkdirSync(dataDir, { recursive: true });
  out('flashfarm demo: starting the api (embedded PostgreSQL, local Redis), an agent and 8 simulated boards');
  const farm = await startDemoFarm({
    // Each step with the time since start: where a slow start goes is visible without a profiler.
    log: (l) => out(`  ${elapsed().padStart(6)}  ${l}`),
    verbose: process.env.FLASHFARM_DEMO_VERBOSE === 'true',
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    out('\nStopping the demo farm (agent, boards, api, redis)...');
    farm.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);

  let sample = 'not run: the agent reported no ESP32 board';
  if (farm.devices.some((d) => d.chip === 'esp32')) {
    try {
      const job = await runSampleJob(farm, { log: (l) => out(`  ${l}`) });
      if (!job) sample = 'still running after 60 s (does the agent flash yet?)';
      else {
        const rows = job.slots.map(
          (s) =>
            `    ${s.latest.device?.mac ?? '-'}  ${s.latest.status}${s.latest.errorCode ? `  ${s.latest.errorCode}: ${s.latest.errorMessage ?? ''}` : ''}`,
        );
        const counts = Object.entries(job.slotCounts)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ');
        sample = `${job.status} at ${elapsed()} (${counts})\n${rows.join('\n')}`;
      }
    } catch (error) {
      // The farm itself is up: report the sample job's problem and keep serving.
      sample = `failed to start: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  if (stopping) return;
  const tokenFile = path.join(dataDir, 'demo-admin-token');
  fs.writeFileSync(tokenFile, `${farm.adminToken}\n`, { mode: 0o600 });
  out(
    [
      '',
      `  sample job  ${sample}`,
      `  dashboard   ${farm.url}/`,
      `  admin token ${farm.adminToken}   (also in ${tokenFile})`,
      `  OpenAPI     ${farm.url}/api/docs`,
      `  CLI         FLASHFARM_URL=${farm.url} FLASHFARM_TOKEN=$(cat ${tokenFile}) ./bin/flashfarm.js devices`,
      '',
      `farm ready in ${elapsed()}. Press Ctrl-C to stop.`,
    ].join('\n'),
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  runDemo().catch((error: unknown) => {
    process.stderr.write(
      `flashfarm demo failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(1);
  });
}

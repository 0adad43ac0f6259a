/**
 * What the scheduler suites (recovery, "all" jobs) drive their scenarios
 * with: one api started with the suite's own scheduler timings, an agent, a
 * ci and an operator token, an esp32c3 firmware, scripted agents that are
 * closed with the suite, and the job calls the scenarios make.
 */
import { SchedulerService } from '../../apps/api/src/scheduler/scheduler.service.js';
import { startTestApi, type TestApi } from './api-app.js';
import { pollUntil } from './poll.js';
import {
  FakeAgent,
  seedFirmware,
  seedToken,
  sql,
  type FakeAgentOptions,
  type FakeBoard,
  type FakeRunScript,
} from './fake-agent.js';
import type { JobView } from '#contracts';

/** GET /jobs/:id, as far as the scheduler suites read it. */

/** An api answer: its status and JSON body. */
export interface ApiAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** A scripted agent of the suite; the api address, agent token and Redis come from the suite. */
export type SuiteAgentOptions = Omit<FakeAgentOptions, 'baseUrl' | 'token' | 'redisUrl'>;

/** Options for startSchedulerSuite. */
export interface SchedulerSuiteOptions {
  /** The api's environment for this suite (scheduler interval, bounded waits, attempt caps...). */
  env: Record<string, string>;
  /** How long waitForStatus waits when not told (default 15 s). */
  statusTimeoutMs?: number;
}

/** A running scheduler suite. */
export interface SchedulerSuite {
  api: TestApi;
  agentToken: string;
  /** Submits and reads jobs: the token post and getJob use unless told otherwise. */
  ci: string;
  /** Takes boards out of service. */
  operator: string;
  /** An esp32c3 firmware (every board of these suites is an esp32c3). */
  firmwareId: string;
  /** Starts a scripted agent on this api; the suite closes it in close(). */
  startAgent(options: SuiteAgentOptions): Promise<FakeAgent>;
  /** POSTs JSON to the api as `token` (the ci token by default). */
  post(path: string, body: unknown, token?: string): Promise<ApiAnswer>;
  getJob(id: string): Promise<JobView>;
  /** Polls the job until it has `status`, and returns it. */
  waitForStatus(
    jobId: string,
    status: string,
    options?: { timeoutMs?: number; what?: string },
  ): Promise<JobView>;
  /** Runs one statement on the suite's database. */
  sql(text: string, values?: unknown[]): ReturnType<typeof sql>;
  /**
   * Resolves once the scheduler has completed a pass that began at or after `at` (ms since the epoch):
   * whatever that pass would do about the state before `at` is done. For "nothing happens" checks,
   * instead of sleeping and hoping a pass ran.
   */
  passBeganAfter(at: number, what: string): Promise<void>;
  /** Closes every agent the suite started, then the api (dropping its database). */
  close(): Promise<void>;
}

/** An esp32c3 board at `portPath`. */
export function board(mac: string, portPath = '/dev/ttyACM0'): FakeBoard {
  return { mac, chip: 'esp32c3', portPath };
}

/** A run script that starts and then holds the board until the run is aborted. */
export const hang: FakeRunScript = async (run) => {
  await run.started();
  await new Promise<void>((resolve) => run.signal.addEventListener('abort', () => resolve()));
};

/** A run script that starts and holds the board until the run is cancelled, which it then confirms. */
export const holdUntilCancelled: FakeRunScript = async (run) => {
  await run.started();
  await new Promise<void>((_, reject) =>
    run.signal.addEventListener('abort', () => reject(new Error('cancelled'))),
  );
};

/** Starts the api on a fresh database and Redis db, and seeds the tokens and the firmware. */
export async function startSchedulerSuite(options: SchedulerSuiteOptions): Promise<SchedulerSuite> {
  const api = await startTestApi({ env: options.env });
  let agentToken: string;
  let ci: string;
  let operator: string;
  let firmwareId: string;
  try {
    agentToken = await seedToken(api.database.url, 'agent', 'agents');
    ci = await seedToken(api.database.url, 'ci', 'ci');
    operator = await seedToken(api.database.url, 'operator', 'operator');
    firmwareId = await seedFirmware(api.database.url, 'esp32c3');
  } catch (err) {
    // The suite's afterAll never sees a suite that failed to start, so nothing else would close this api.
    await api.close();
    throw err;
  }
  const statusTimeoutMs = options.statusTimeoutMs ?? 15_000;
  const agents: FakeAgent[] = [];

  // An agent token speaks for one agent: each name gets its own, kept for a restart under that name.
  const tokens = new Map<string, string>();
  const tokenOf = async (name: string): Promise<string> => {
    const token = tokens.get(name) ?? (await seedToken(api.database.url, 'agent', name));
    tokens.set(name, token);
    return token;
  };

  const startAgent = async (agentOptions: SuiteAgentOptions): Promise<FakeAgent> => {
    // An agent token speaks for one agent: each fake agent gets its own.
    const agent = new FakeAgent({
      ...agentOptions,
      baseUrl: api.baseUrl,
      token: await tokenOf(agentOptions.name),
      redisUrl: api.redisUrl,
    });
    // Kept before start(): its Redis connection is open from construction, and one that failed to
    // start must still be closed or it holds Jest open.
    agents.push(agent);
    return agent.start();
  };

  const post = async (path: string, body: unknown, token = ci): Promise<ApiAnswer> => {
    const response = await fetch(`${api.baseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  const getJob = async (id: string): Promise<JobView> => {
    const response = await fetch(`${api.baseUrl}/jobs/${id}`, { headers: { authorization: `Bearer ${ci}` } });
    return (await response.json()) as JobView;
  };

  const waitForStatus = (
    jobId: string,
    status: string,
    wait: { timeoutMs?: number; what?: string } = {},
  ): Promise<JobView> =>
    pollUntil(
      async () => {
        const job = await getJob(jobId);
        return job.status === status ? job : undefined;
      },
      { timeoutMs: wait.timeoutMs ?? statusTimeoutMs, what: wait.what ?? `job ${jobId} to be ${status}` },
    );

  const scheduler = api.api.app.get(SchedulerService);
  const passBeganAfter = async (at: number, what: string): Promise<void> => {
    await pollUntil(() => scheduler.lastPassStartedAt >= at, {
      what: `a scheduler pass begun after ${what}`,
      timeoutMs: Math.max(0, at - Date.now()) + statusTimeoutMs,
      intervalMs: 20,
    });
  };

  const close = async (): Promise<void> => {
    try {
      // Agents first: their heartbeats and workers talk to the api and its Redis until they stop.
      for (const agent of agents) await agent.close();
    } finally {
      await api.close();
    }
  };

  return {
    api,
    agentToken,
    ci,
    operator,
    firmwareId,
    startAgent,
    post,
    getJob,
    waitForStatus,
    sql: (text, values) => sql(api.database.url, text, values),
    passBeganAfter,
    close,
  };
}

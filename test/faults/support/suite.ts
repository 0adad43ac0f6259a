/**
 * Runs the scenarios: a fresh farm per scenario (its own database, Redis,
 * simulator, api and agent), N tries each, every try checked (checks.ts).
 * A try that leaves stuck runs has its jobs cancelled and, when the farm does
 * not come back to idle by itself, the api and the agent restarted, so the
 * next try starts from a working farm; after `maxStuckTries` such tries the
 * scenario stops (the table says how many tries ran).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AgentView, JobView } from '#contracts';
import { emptyTally, evaluateTry, type Tally, TERMINAL_JOB, type TryResult, waitTerminal } from './checks.js';
import { FaultFarm, waitFor, type FlashCounters } from './farm.js';
import type { Scenario, SuiteSettings, TryContext, Writing } from './scenarios.js';

/** Settings of one suite run. */
export interface RunSettings extends SuiteSettings {
  /** Tries of every scenario (--repeat); when absent, each scenario's own count or defaultRepeat. */
  repeat?: number;
  /** Tries of a scenario that names no count of its own. */
  defaultRepeat: number;
  boards: number;
  appKiB: number;
  maxStuckTries: number;
  workDir: string;
  postgresAdminUrl: string;
  apiEnv: Record<string, string>;
  agentEnv: Record<string, string>;
  /** Progress lines (stderr). */
  say(line: string): void;
}

/** A scenario's figures. */
export interface ScenarioResult extends Tally {
  name: string;
  description: string;
  tries: number;
  triesAsked: number;
  stoppedEarly?: string;
  failureCodes: Record<string, number>;
  disorderedLines: number;
  mixedLogs: number;
  unreportedFlashes: number;
  notes: string[];
  evidence: string[];
  farmRestarts: string[];
  tree?: string;
  /** Which farm (1, 2, …) ran it: a new one after a scenario the harness could not finish. */
  farm?: number;
  seconds: number;
}

/** How long to wait for the first run of a try to be writing flash. */
const WRITING_TIMEOUT_MS = 120_000;

/**
 * Runs the scenarios in order on one farm, started for the first scenario and
 * started afresh (new database, Redis, simulator, api and agent) after a
 * scenario the harness could not finish, so one broken farm does not spoil the
 * scenarios after it. Redis keeps an append-only file throughout: the
 * scenario that loses Redis's data wipes it before the restart.
 */
export async function runSuite(
  scenarios: Scenario[],
  settings: RunSettings,
  onResult: (result: ScenarioResult) => void,
): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  let farm: FaultFarm | undefined;
  let farms = 0;
  try {
    for (const scenario of scenarios) {
      settings.say(`${scenario.name}: ${scenario.description}`);
      const result = newResult(scenario, settings.repeat ?? scenario.repeat ?? settings.defaultRepeat);
      const started = Date.now();
      try {
        if (!farm) {
          farms++;
          const dir = path.join(settings.workDir, `farm-${farms}`);
          settings.say(`  starting farm ${farms} (logs in ${dir})`);
          farm = await FaultFarm.start({
            dir,
            postgresAdminUrl: settings.postgresAdminUrl,
            database: `faults_${farms}_${Date.now()}`,
            boards: settings.boards,
            redisAppendOnly: true,
            apiEnv: settings.apiEnv,
            agentEnv: settings.agentEnv,
          });
        }
        result.farm = farms;
        result.tree = farm.tree;
        await runTries(farm, scenario, settings, result);
      } catch (error) {
        result.stoppedEarly = `harness error: ${error instanceof Error ? error.message : String(error)}`;
        settings.say(
          `  ${scenario.name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
        );
        if (farm) result.farmRestarts.push(...farm.restarts.splice(0));
        await farm?.stop();
        farm = undefined;
      }
      if (farm) result.farmRestarts.push(...farm.restarts.splice(0));
      result.seconds = Math.round((Date.now() - started) / 1000);
      results.push(result);
      onResult(result);
    }
  } finally {
    await farm?.stop();
    for (let i = 1; i <= farms; i++)
      for (const sub of ['redis', 'api', 'agent'])
        fs.rmSync(path.join(settings.workDir, `farm-${i}`, sub), { recursive: true, force: true });
  }
  return results;
}

function newResult(scenario: Scenario, triesAsked: number): ScenarioResult {
  return {
    name: scenario.name,
    description: scenario.description,
    tries: 0,
    triesAsked,
    ...emptyTally(),
    failureCodes: {},
    disorderedLines: 0,
    mixedLogs: 0,
    unreportedFlashes: 0,
    notes: [],
    evidence: [],
    farmRestarts: [],
    seconds: 0,
  };
}

/** The tries of one scenario; stops after maxStuckTries tries that left stuck runs. */
async function runTries(farm: FaultFarm, scenario: Scenario, settings: RunSettings, result: ScenarioResult) {
  let stuckTries = 0;
  for (let i = 1; i <= result.triesAsked; i++) {
    const tryStarted = Date.now();
    const tried = await runTry(farm, scenario, settings, i);
    result.tries++;
    add(result, tried.result);
    result.notes.push(...tried.notes.map((n) => `try ${i}: ${n}`));
    const r = tried.result;
    settings.say(
      `  ${scenario.name} try ${i} (${Math.round((Date.now() - tryStarted) / 1000)} s): ` +
        `${r.succeededVerified}/${r.slots} succeeded-verified, ${r.failedCleanly} failed cleanly, ${r.stuck} stuck, ` +
        `${r.falseSuccesses} false, ${r.duplicates} dup, ${r.lostLines} lost${tried.notes.length ? ` — ${tried.notes.join('; ')}` : ''}`,
    );
    for (const e of r.evidence) settings.say(`    ${e}`);
    if (r.stuck > 0) {
      stuckTries++;
      await recover(farm, tried.jobIds, settings);
      if (stuckTries >= settings.maxStuckTries && i < result.triesAsked) {
        result.stoppedEarly = `stopped after ${stuckTries} tries with stuck runs`;
        return;
      }
    }
  }
}

function add(into: ScenarioResult, t: TryResult): void {
  for (const key of Object.keys(emptyTally()) as Array<keyof Tally>) into[key] += t[key];
  for (const [code, n] of Object.entries(t.failureCodes))
    into.failureCodes[code] = (into.failureCodes[code] ?? 0) + n;
  into.disorderedLines += t.disorderedLines;
  into.mixedLogs += t.mixedLogs;
  into.unreportedFlashes += t.unreportedFlashes;
  into.evidence.push(...t.evidence);
}

async function runTry(
  farm: FaultFarm,
  scenario: Scenario,
  settings: RunSettings,
  index: number,
): Promise<{ result: TryResult; notes: string[]; jobIds: string[] }> {
  await ensureIdle(farm, settings);
  const notes: string[] = [];
  const jobIds: string[] = [];
  // A new version every try (the app descriptor holds at most 31 characters), so every flash changes the flash.
  const firmware = await farm.uploadFirmware(`${index}-${Date.now().toString(36)}`, settings.appKiB * 1024);
  const ctx: TryContext = {
    farm,
    settings,
    firmwareId: firmware.id,
    note: (text) => notes.push(text),
    addJob: (id) => jobIds.push(id),
  };
  const countersBefore: Map<string, FlashCounters> = await farm.flashCounters();
  await scenario.before?.(ctx);
  try {
    for (const [i, board] of farm.boards.entries()) {
      if (scenario.spareBoards?.includes(i)) continue;
      const answer = await farm.request<JobView>('POST', '/jobs', {
        firmwareId: firmware.id,
        target: { device: board.mac },
      });
      if (answer.status !== 201 || !answer.body)
        throw new Error(`POST /jobs for ${board.name}: ${answer.status} ${JSON.stringify(answer.body)}`);
      jobIds.push(answer.body.id);
    }
    const writing = await firstWriting(farm, jobIds, countersBefore);
    if (writing) await scenario.strike(ctx, writing);
    else notes.push('every job ended before a board was written: nothing struck');
    const jobs = await waitTerminal(farm, jobIds, Date.now() + settings.boundMs);
    const result = await evaluateTry(farm, { jobIds, parts: firmware.parts, countersBefore }, jobs);
    notes.push(...(await processNotes(farm)));
    return { result, notes, jobIds };
  } finally {
    await scenario.after?.(ctx);
  }
}

/**
 * Waits until a board of the try is being written, seen from the board's side
 * (the simulator's open write session: the host erased and began writing), so
 * the fault strikes mid-flash however short the write is. Undefined when every
 * job ended before any board was written (the try then strikes nothing).
 */
async function firstWriting(
  farm: FaultFarm,
  jobIds: string[],
  before: Map<string, FlashCounters>,
): Promise<Writing | undefined> {
  let lastJobCheck = 0;
  const seen = await waitFor<Writing | 'ended'>(
    async () => {
      const now = await farm.flashCounters();
      for (const [board, c] of now)
        if (c.writeSessions > (before.get(board)?.writeSessions ?? 0)) return { board };
      if (Date.now() - lastJobCheck > 2_000) {
        lastJobCheck = Date.now();
        const jobs = await Promise.all(jobIds.map((id) => farm.job(id)));
        if (jobs.every((j) => j && TERMINAL_JOB.has(j.status))) return 'ended';
      }
      return undefined;
    },
    WRITING_TIMEOUT_MS,
    'a board of the try to be written',
    50,
  );
  return seen === 'ended' ? undefined : seen;
}

/** Whether the processes still run and the agent is online, after a try. */
async function processNotes(farm: FaultFarm): Promise<string[]> {
  const notes: string[] = [];
  if (!farm.api.running) notes.push('the api process is not running');
  if (!farm.agent.running) notes.push('the agent process is not running');
  const agents = await farm.request<AgentView[]>('GET', '/agents');
  const agent = Array.isArray(agents.body) ? agents.body.find((a) => a.name === 'faults-agent') : undefined;
  if (agent && agent.status !== 'online') notes.push(`the agent is ${agent.status} for the api`);
  return notes;
}

/** Before a try: every board idle; if the farm does not get there, restart the api and the agent once. */
async function ensureIdle(farm: FaultFarm, settings: RunSettings): Promise<void> {
  try {
    if (!farm.api.running) farm.api.start();
    if (!farm.agent.running) farm.agent.start();
    await farm.waitApiHealthy(settings.boundMs);
    await farm.waitIdle(30_000);
  } catch (error) {
    farm.restarts.push(`restarted api and agent: ${error instanceof Error ? error.message : String(error)}`);
    await farm.agent.signal('SIGKILL');
    await farm.api.signal('SIGKILL');
    farm.api.start();
    await farm.waitApiHealthy(settings.boundMs);
    farm.agent.start();
    await farm.waitIdle(settings.boundMs);
  }
}

/**
 * After a try with stuck runs: cancels its jobs and waits (bounded) for them to
 * end; the next try's ensureIdle() restarts the api and the agent if the farm
 * does not get back to idle by itself.
 */
async function recover(farm: FaultFarm, jobIds: string[], settings: RunSettings): Promise<void> {
  for (const id of jobIds)
    await farm.request('POST', `/jobs/${id}/cancel`, { reason: 'fault suite: stuck past the bound' });
  const jobs = await waitTerminal(farm, jobIds, Date.now() + 30_000);
  const ended = jobs.filter((j) => TERMINAL_JOB.has(j.status)).length;
  settings.say(`  cancelled the stuck try's jobs: ${ended} of ${jobIds.length} ended within 30 s`);
}

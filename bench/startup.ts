/**
 * Start-up cost, compiled (`npm run build`, dist/) against from source (the
 * swc module hooks), side by side from one run:
 * - api cold start to the first `/health` 200 (real PostgreSQL, already
 *   migrated, and Redis; a new process each time);
 * - agent cold start to its "registered" log line (one simulated board over RFC 2217);
 * - idle RSS of the api and of the agent, 5 s after they are ready;
 * - `flashfarm --help` wall time (median of 5).
 * Beside each wall time, the CPU time (user + system) the process had used
 * by then: on a shared machine wall times follow the load, CPU times much less.
 * Runs its own redis-server and PostgreSQL (as the test harness does) and
 * builds dist/ first.
 *   npm run bench:startup            (node --import ./scripts/register-ts.mjs bench/startup.ts)
 *   npm run bench:startup -- --cpu-prof DIR   (also writes CPU profiles of the compiled api and agent)
 *   npm run bench:startup -- --no-bundle      (build the per-file tree only: the programs unbundled)
 *   npm run bench:startup -- --no-build       (measure the dist/ that is there)
 *   npm run bench:startup -- --agent-flags "--max-semi-space-size=1"   (flags for the compiled agent)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from '#runtime';
import { SimBoard, startRfc2217Server } from '#sim';
import { startServices } from '../test/support/services.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const IDLE_MS = 5_000;
const HELP_RUNS = 5;
/** GNU time, for the CPU of the short-lived `--help` processes. */
const TIME = '/usr/bin/time';

type Mode = 'compiled' | 'source';

const agentFlagsArg = process.argv.indexOf('--agent-flags');
/** Node/V8 flags for the compiled agent only (`--agent-flags "--max-semi-space-size=1"`), to measure their effect. */
const AGENT_FLAGS =
  agentFlagsArg > 0 ? (process.argv[agentFlagsArg + 1] ?? '').split(/\s+/).filter(Boolean) : [];
const profileArg = process.argv.indexOf('--cpu-prof');
const PROFILE_DIR = profileArg > 0 ? path.resolve(process.argv[profileArg + 1] ?? 'cpu-profiles') : undefined;

function command(mode: Mode, app: 'api' | 'agent' | 'cli'): string[] {
  const entry = `apps/${app}/src/main`;
  const profile = PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', path.join(PROFILE_DIR, app)] : [];
  if (mode === 'compiled')
    return app === 'cli'
      ? ['bin/flashfarm.js']
      : [...profile, ...(app === 'agent' ? AGENT_FLAGS : []), `dist/${entry}.js`];
  return app === 'cli'
    ? [
        '--import',
        './scripts/register-ts.mjs',
        '--input-type=module',
        '-e',
        `const { main } = await import('./${entry}.ts'); process.exit(await main(process.argv.slice(1)));`,
      ]
    : ['--import', './scripts/register-ts.mjs', `${entry}.ts`];
}

const CLOCK_TICKS_PER_S = 100;

/** CPU time (user + system) a live process has used so far, from /proc. */
function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S;
}

function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

function startProcess(
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  return { child, output: () => text };
}

async function until<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

interface Sample {
  apiReadyMs: number;
  apiReadyCpuMs: number;
  agentRegisteredCpuMs: number;
  /** CPU of one `flashfarm --help` (median), when /usr/bin/time is there to measure it. */
  helpCpuMs: number;
  apiIdleRssMiB: number;
  agentRegisteredMs: number;
  agentIdleRssMiB: number;
  helpMs: number;
}

async function measure(
  mode: Mode,
  env: { databaseUrl: string; redisUrl: string; adminToken: string; boardUrl: string },
): Promise<Sample> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `ff-bench-startup-${mode}-`));
  const started = performance.now();
  const api = startProcess(command(mode, 'api'), {
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    FLASHFARM_PORT: String(port),
    FLASHFARM_ADMIN_TOKEN: env.adminToken,
    FLASHFARM_DATA_DIR: dataDir,
    NODE_ENV: 'production',
  });
  await until(async () => {
    if (api.child.exitCode !== null) throw new Error(`api exited: ${api.output()}`);
    try {
      return (await fetch(`${url}/health`)).status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  }, 'api /health 200');
  const apiReadyMs = performance.now() - started;
  const apiReadyCpuMs = cpuMs(api.child.pid!);
  // Each measurement is a new agent with its own token: an agent name belongs to the first token that
  // registered it, and the api and database outlive one measurement.
  const agentName = `bench-${mode}-${Date.now()}`;
  const { secret } = (await (
    await fetch(`${url}/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${env.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: agentName, role: 'agent', agent: agentName }),
    })
  ).json()) as { secret: string };

  const agentStarted = performance.now();
  const agent = startProcess(command(mode, 'agent'), {
    FLASHFARM_URL: url,
    FLASHFARM_AGENT_TOKEN: secret,
    REDIS_URL: env.redisUrl,
    FLASHFARM_AGENT_NAME: agentName,
    FLASHFARM_AGENT_DISCOVERY: 'false',
    FLASHFARM_AGENT_PORTS: env.boardUrl,
    FLASHFARM_DATA_DIR: dataDir,
    NODE_ENV: 'production',
  });
  await until(() => {
    if (agent.child.exitCode !== null) throw new Error(`agent exited: ${agent.output()}`);
    return /registered as/.test(agent.output()) ? true : undefined;
  }, 'agent registered');
  const agentRegisteredMs = performance.now() - agentStarted;
  const agentRegisteredCpuMs = cpuMs(agent.child.pid!);
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const apiIdleRssMiB = rssMiB(api.child.pid!);
  const agentIdleRssMiB = rssMiB(agent.child.pid!);
  await stop(agent.child);
  await stop(api.child);
  fs.rmSync(dataDir, { recursive: true, force: true });

  const helps: number[] = [];
  const helpCpus: number[] = [];
  const timed = fs.existsSync(TIME);
  for (let i = 0; i < HELP_RUNS; i++) {
    const t = performance.now();
    const args = [...command(mode, 'cli'), '--help'];
    const r = timed
      ? spawnSync(TIME, ['-f', 'cpu %U %S', process.execPath, ...args], {
          cwd: ROOT,
          env: { PATH: process.env.PATH },
        })
      : spawnSync(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH } });
    if (r.status !== 0)
      throw new Error(`flashfarm --help (${mode}) exited ${r.status}: ${r.stderr.toString()}`);
    helps.push(performance.now() - t);
    const cpu = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr.toString());
    if (cpu) helpCpus.push((Number(cpu[1]) + Number(cpu[2])) * 1000);
  }
  helps.sort((a, b) => a - b);
  helpCpus.sort((a, b) => a - b);
  return {
    apiReadyMs,
    apiReadyCpuMs,
    agentRegisteredCpuMs,
    helpCpuMs: helpCpus.length ? helpCpus[Math.floor(helpCpus.length / 2)] : NaN,
    apiIdleRssMiB,
    agentRegisteredMs,
    agentIdleRssMiB,
    helpMs: helps[Math.floor(HELP_RUNS / 2)],
  };
}

async function main(): Promise<void> {
  if (!process.argv.includes('--no-build')) {
    const build = spawnSync(
      process.execPath,
      ['scripts/build.mjs', ...(process.argv.includes('--no-bundle') ? ['--no-bundle'] : [])],
      { cwd: ROOT, stdio: 'inherit' },
    );
    if (build.status !== 0) throw new Error('npm run build failed');
  }
  const services = await startServices(async () => {});
  const fleet = await startRfc2217Server(new SimBoard({ chip: 'esp32', name: 'bench-startup' }), {
    host: '127.0.0.1',
    port: 0,
  });
  try {
    const admin = new pg.Client({ connectionString: services.postgresAdminUrl });
    await admin.connect();
    await admin.query('CREATE DATABASE bench_startup');
    await admin.end();
    const databaseUrl = Object.assign(new URL(services.postgresAdminUrl), {
      pathname: '/bench_startup',
    }).toString();
    const env = {
      databaseUrl,
      redisUrl: services.redisUrl,
      adminToken: randomBytes(24).toString('hex'),
      boardUrl: fleet.url,
    };
    // The first start migrates the empty database: a warm-up, not a sample.
    await measure('compiled', env);
    const compiled = await measure('compiled', env);
    const source = await measure('source', env);
    const row = (name: string, unit: string, pick: (s: Sample) => number) =>
      `${name.padEnd(30)} ${pick(compiled).toFixed(0).padStart(9)} ${pick(source).toFixed(0).padStart(12)}  ${unit}`;
    console.log(
      `\nstart-up, node ${process.version}, ${os.cpus().length} cores, load ${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}`,
    );
    console.log(`${''.padEnd(30)} ${'compiled'.padStart(9)} ${'from source'.padStart(12)}`);
    console.log(row('api cold start to /health 200', 'ms', (s) => s.apiReadyMs));
    console.log(row('  CPU used by then', 'ms', (s) => s.apiReadyCpuMs));
    console.log(row('agent cold start to registered', 'ms', (s) => s.agentRegisteredMs));
    console.log(row('  CPU used by then', 'ms', (s) => s.agentRegisteredCpuMs));
    console.log(row('api idle RSS', 'MiB', (s) => s.apiIdleRssMiB));
    console.log(row('agent idle RSS', 'MiB', (s) => s.agentIdleRssMiB));
    console.log(row('flashfarm --help (median of 5)', 'ms', (s) => s.helpMs));
    console.log(row('  CPU (median of 5)', 'ms', (s) => s.helpCpuMs));
    console.log(JSON.stringify({ bench: 'startup', node: process.version, compiled, source }));
  } finally {
    await fleet.close();
    await services.stop();
  }
}

await main();

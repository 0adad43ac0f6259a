/**
 * The fault suite (`npm run faults`, not part of `npm test`): the api, an
 * agent, Redis and simulated boards as separate processes, each scenario
 * repeated N times, every try checked from the outside. Prints a table and
 * ends with one JSON line. See docs/RELIABILITY.md.
 *
 *   npm run faults                                  every scenario (10 tries, fewer for the long ones)
 *   npm run faults -- --repeat 1 --only api-sigkill,unplug-short
 *   npm run faults -- --outage-s 35 --unplug-long-s 40 --bound-s 120 --boards 4
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startPostgres } from '../support/services.js';
import { atExit, killEverything, REPO_ROOT } from './support/processes.js';
import { DEFAULT_REPEAT, SCENARIOS } from './support/scenarios.js';
import { runSuite, type RunSettings, type ScenarioResult } from './support/suite.js';

const USAGE = `npm run faults -- [options]
  --repeat <n>           tries of every scenario (default: 10, fewer for the slow ones:
                         --list shows each scenario's count)
  --only <a,b>           only these scenarios, in the suite's order (--list shows them)
  --boards <n>           simulated ESP32 boards (4)
  --app-kib <n>          app size of the flashed firmware in KiB (256)
  --outage-s <s>         api outage length (35)
  --unplug-short-s <s>   short unplug (3)
  --unplug-long-s <s>    long unplug (40)
  --bomb-gib <n>         what the bundle bomb inflates to (1)
  --bound-s <s>          how long runs may take to end once a fault is over (60)
  --max-stuck-tries <n>  stop a scenario after this many tries with stuck runs (1)
  --api-env K=V          extra api environment (repeatable)
  --agent-env K=V        extra agent environment (repeatable)
  --work-dir <dir>       where logs go (a new directory under the temp dir)
  --list                 list the scenarios`;

function parseArgs(argv: string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument "${arg}"\n${USAGE}`);
    const key = arg.slice(2);
    if (key === 'list' || key === 'help') {
      out.set(key, []);
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`--${key} needs a value\n${USAGE}`);
    out.set(key, [...(out.get(key) ?? []), value]);
  }
  return out;
}

function numberArg(args: Map<string, string[]>, key: string, fallback: number, min: number): number {
  const raw = args.get(key)?.at(-1);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${key} must be a number ≥ ${min}, got "${raw}"`);
  return n;
}

function envArg(args: Map<string, string[]>, key: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of args.get(key) ?? []) {
    const at = pair.indexOf('=');
    if (at < 1) throw new Error(`--${key} takes KEY=VALUE, got "${pair}"`);
    env[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return env;
}

const COLUMNS = [
  'scenario',
  'tries',
  'succeeded-verified',
  'failed cleanly',
  'stuck',
  'false successes',
  'duplicates',
  'lost lines',
] as const;

function row(r: ScenarioResult): string[] {
  return [
    r.name,
    r.tries === r.triesAsked ? String(r.tries) : `${r.tries}/${r.triesAsked}`,
    `${r.succeededVerified}/${r.slots}`,
    String(r.failedCleanly),
    String(r.stuck),
    String(r.falseSuccesses),
    String(r.duplicates),
    String(r.lostLines),
  ];
}

function table(results: ScenarioResult[]): string {
  const rows = [COLUMNS as readonly string[], ...results.map(row)];
  const widths = COLUMNS.map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: readonly string[]) => `| ${r.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
  return [
    line(rows[0]),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...rows.slice(1).map(line),
  ].join('\n');
}

function commit(): string {
  try {
    return execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.has('help')) {
    console.log(USAGE);
    return 0;
  }
  if (args.has('list')) {
    for (const s of SCENARIOS)
      console.log(
        `${s.name.padEnd(20)} ${String(s.repeat ?? DEFAULT_REPEAT).padStart(2)} tries  ${s.description}`,
      );
    return 0;
  }
  const only = (args.get('only') ?? []).flatMap((o) => o.split(',')).filter(Boolean);
  const unknown = only.filter((o) => !SCENARIOS.some((s) => s.name === o));
  if (unknown.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; --list shows them`);
  const scenarios = only.length ? SCENARIOS.filter((s) => only.includes(s.name)) : SCENARIOS;
  const workDir = args.get('work-dir')?.at(-1) ?? fs.mkdtempSync(path.join(os.tmpdir(), 'flashfarm-faults-'));
  fs.mkdirSync(workDir, { recursive: true });
  fs.chmodSync(workDir, 0o755);
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const loadBefore = os.loadavg();
  const started = Date.now();
  say(
    `fault suite: ${scenarios.length} scenario(s), logs in ${workDir}, load ${loadBefore.map((l) => l.toFixed(1)).join(' ')}`,
  );
  const postgres = await startPostgres(path.join(workDir, 'postgres'));
  atExit(() => postgres.stop());
  let results: ScenarioResult[];
  let settings: RunSettings | undefined;
  try {
    const repeat =
      args.has('repeat') || args.has('tries')
        ? numberArg(args, args.has('repeat') ? 'repeat' : 'tries', 0, 1)
        : undefined;
    settings = {
      repeat,
      defaultRepeat: DEFAULT_REPEAT,
      boards: numberArg(args, 'boards', 4, 2),
      appKiB: numberArg(args, 'app-kib', 256, 16),
      outageMs: numberArg(args, 'outage-s', 35, 0) * 1000,
      unplugShortMs: numberArg(args, 'unplug-short-s', 3, 0) * 1000,
      unplugLongMs: numberArg(args, 'unplug-long-s', 40, 0) * 1000,
      bombGiB: numberArg(args, 'bomb-gib', 1, 0.01),
      boundMs: numberArg(args, 'bound-s', 60, 10) * 1000,
      maxStuckTries: numberArg(args, 'max-stuck-tries', 1, 1),
      workDir,
      postgresAdminUrl: postgres.adminUrl,
      apiEnv: envArg(args, 'api-env'),
      agentEnv: envArg(args, 'agent-env'),
      say,
    };
    results = await runSuite(scenarios, settings, (r) => say(`  => ${row(r).join(' | ')} (${r.seconds} s)`));
  } finally {
    killEverything();
    fs.rmSync(path.join(workDir, 'postgres', 'pgdata'), { recursive: true, force: true });
  }
  const loadAfter = os.loadavg();
  console.log(table(results));
  for (const r of results) {
    const extra = [
      r.stoppedEarly,
      Object.keys(r.failureCodes).length
        ? `failed: ${Object.entries(r.failureCodes)
            .map(([c, n]) => `${c}×${n}`)
            .join(', ')}`
        : undefined,
      r.unreportedFlashes
        ? `${r.unreportedFlashes} completed flash(es) the api does not count as succeeded`
        : undefined,
      r.mixedLogs ? `${r.mixedLogs} log(s) holding two executions` : undefined,
      r.disorderedLines ? `${r.disorderedLines} line(s) out of time order` : undefined,
      r.farmRestarts.length ? `farm: ${[...new Set(r.farmRestarts)].join('; ')}` : undefined,
    ].filter(Boolean);
    if (extra.length || r.notes.length) console.log(`${r.name}: ${[...extra, ...r.notes].join(' | ')}`);
  }
  const total = results.reduce((n, r) => n + r.stuck + r.falseSuccesses + r.duplicates + r.lostLines, 0);
  console.log(
    JSON.stringify({
      suite: 'faults',
      date: new Date().toISOString(),
      commit: commit(),
      node: process.version,
      cpus: os.cpus().length,
      loadAverage: { before: loadBefore, after: loadAfter },
      minutes: Math.round((Date.now() - started) / 600) / 100,
      settings: settings && {
        repeat: settings.repeat ?? 'per scenario',
        boards: settings.boards,
        appKiB: settings.appKiB,
        outageS: settings.outageMs / 1000,
        unplugShortS: settings.unplugShortMs / 1000,
        unplugLongS: settings.unplugLongMs / 1000,
        bombGiB: settings.bombGiB,
        boundS: settings.boundMs / 1000,
        maxStuckTries: settings.maxStuckTries,
        apiEnv: settings.apiEnv,
        agentEnv: settings.agentEnv,
      },
      scenarios: results.map(({ evidence, notes, ...r }) => ({
        ...r,
        notes: notes.slice(0, 50),
        evidence: evidence.slice(0, 50),
      })),
      defects: total,
    }),
  );
  return total === 0 && results.every((r) => !r.stoppedEarly) ? 0 : 1;
}

try {
  process.exitCode = await main();
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 2;
}

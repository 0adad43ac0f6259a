/**
 * `flashfarm submit`: the one command a CI pipeline needs. Uploads the
 * firmware, creates the job (idempotent per CI job), and with --wait streams
 * every board's log live, prints a summary, writes JUnit, and exits with a
 * code that says what went wrong (see exit-codes.ts).
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FarmClient, SseEvent } from './client.js';
import { clientFrom, parseCommandArgs, runCommand, table, type CommandIo } from './context.js';
import { FarmCliError, FarmExitCode } from './exit-codes.js';
import { firmwareForm, resolveFirmwareInput } from './firmware-input.js';
import { renderJunit, type JunitCase } from './junit.js';
import { isEndedRun, type FirmwareView, type JobView, type RunSnapshot } from '#contracts';

export const SUBMIT_USAGE = `Usage: flashfarm submit <firmware> --select chip=<chip>[,pool=<pool>,tag=<tag>...] [target] [options]

Firmware (one of):
  <image.bin>                          a merged image (esptool merge-bin)
  <offset> <file> [<offset> <file>...] parts, e.g. 0x1000 bootloader.bin 0x8000 partition-table.bin 0x10000 app.bin
  <file>@<offset> ...                  the same, one argument per part
  <build-dir>                          an ESP-IDF build directory (reads flasher_args.json)

Target (default --count 1):
  --select k=v,...     chip, pool and tag (repeat tag=) the boards must match
  --chip <chip>        the same as --select chip=<chip> (as esptool spells it)
  --count N            N boards of the selector
  --all                every matching board online now
  --device <MAC|id>    one board

Options:
  --wait               stream the logs and wait for the result (exit code = outcome)
  --timeout <s>        with --wait: give up when a board is still missing after this long (default 600)
  --junit <file>       with --wait: write a JUnit XML report (one testcase per board)
  --idempotency-key K  default: derived from the CI job (GitHub Actions, GitLab CI) and the request
  --name, --version    firmware metadata
  --baud N, --erase-all, --no-verify, --skip-unchanged, --boot-check <regex>, --boot-timeout <ms>, --priority N
  --quiet              no live log lines (summary only)
  --url, --token       the farm (default FLASHFARM_URL, FLASHFARM_TOKEN)

Exit codes: 0 all boards flashed, 1 flash failed, 2 usage, 3 firmware or job rejected,
4 no board in time, 5 farm unreachable or failing, 6 token missing/revoked/role, 130 interrupted.
`;

const OPTIONS = {
  select: { type: 'string' },
  chip: { type: 'string', short: 'c' },
  count: { type: 'string' },
  all: { type: 'boolean' },
  device: { type: 'string' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  junit: { type: 'string' },
  'idempotency-key': { type: 'string' },
  name: { type: 'string' },
  version: { type: 'string' },
  baud: { type: 'string' },
  'erase-all': { type: 'boolean' },
  'no-verify': { type: 'boolean' },
  'skip-unchanged': { type: 'boolean' },
  'boot-check': { type: 'string' },
  'boot-timeout': { type: 'string' },
  priority: { type: 'string' },
  quiet: { type: 'boolean' },
} as const;

const DEFAULT_TIMEOUT_S = 600;
const DEFAULT_BOOT_TIMEOUT_MS = 10_000;
/** How often --wait reports boards it is still waiting for. */
const WAITING_NOTE_MS = 30_000;
/** The first such report: soon, so a job no board takes is not silent (a free board binds within a second). */
const FIRST_WAITING_NOTE_MS = 2_000;

/** A parsed --select. */
export interface Selector {
  chip?: string;
  pool?: string;
  tags?: string[];
}

/** --select with --chip folded in (`--chip X` is `--select chip=X`); two different chips are a usage error. */
export function selectWithChip(select: string | undefined, chip: string | undefined): string | undefined {
  if (chip === undefined) return select;
  const named = select ? parseSelector(select).chip : undefined;
  if (named !== undefined && named !== chip.toLowerCase())
    throw new FarmCliError(
      FarmExitCode.USAGE,
      `--chip ${chip} and --select chip=${named} disagree; give the chip once.`,
    );
  return select ? (named ? select : `${select},chip=${chip}`) : `chip=${chip}`;
}

/** Parses `chip=esp32s3,pool=line-2,tag=a,tag=b`. */
export function parseSelector(text: string): Selector {
  const selector: Selector = {};
  for (const item of text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = item.indexOf('=');
    const key = eq > 0 ? item.slice(0, eq).trim() : '';
    const value = eq > 0 ? item.slice(eq + 1).trim() : '';
    if (!value)
      throw new FarmCliError(FarmExitCode.USAGE, `--select: "${item}" is not key=value (chip, pool, tag).`);
    if (key === 'chip') selector.chip = value.toLowerCase();
    else if (key === 'pool') selector.pool = value;
    else if (key === 'tag' || key === 'tags') (selector.tags ??= []).push(value);
    else throw new FarmCliError(FarmExitCode.USAGE, `--select: unknown key "${key}" (use chip, pool, tag).`);
  }
  return selector;
}

/**
 * An idempotency key for this CI job and request: re-running the same step
 * (a flaky runner, a retried script) returns the same farm job instead of
 * flashing twice; a new pipeline attempt gets a new key.
 */
export function ciIdempotencyKey(env: NodeJS.ProcessEnv, request: unknown): string | undefined {
  let ci: string | undefined;
  if (env.GITHUB_ACTIONS === 'true' && env.GITHUB_RUN_ID)
    ci = `github:${env.GITHUB_REPOSITORY ?? ''}:${env.GITHUB_RUN_ID}:${env.GITHUB_RUN_ATTEMPT ?? '1'}:${env.GITHUB_JOB ?? ''}`;
  else if (env.GITLAB_CI === 'true' && env.CI_JOB_ID)
    ci = `gitlab:${env.CI_PROJECT_ID ?? ''}:${env.CI_JOB_ID}`;
  else if (env.BUILDKITE_JOB_ID) ci = `buildkite:${env.BUILDKITE_JOB_ID}`;
  else if (env.JENKINS_URL && env.BUILD_TAG) ci = `jenkins:${env.BUILD_TAG}`;
  if (!ci) return undefined;
  const digest = createHash('sha256').update(JSON.stringify(request)).digest('hex').slice(0, 16);
  return `${ci}:${digest}`;
}

function positiveInt(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new FarmCliError(FarmExitCode.USAGE, `${flag} must be a whole number.`);
  return n;
}

/** Runs `flashfarm submit` (argv without "submit"); resolves with the exit code. */
export function runSubmit(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(io, async () => {
    const { values, positionals } = parseCommandArgs(argv, OPTIONS);
    if (values.help) {
      io.stdout(SUBMIT_USAGE);
      return FarmExitCode.OK;
    }
    const client = clientFrom(values, io);
    const targets = [values.count !== undefined, values.all === true, values.device !== undefined].filter(
      Boolean,
    ).length;
    if (targets > 1) throw new FarmCliError(FarmExitCode.USAGE, 'Give one of --count, --all or --device.');
    values.select = selectWithChip(values.select, values.chip);
    if (values.device && values.select)
      throw new FarmCliError(FarmExitCode.USAGE, '--device names one board; drop --select.');
    if (!values.device && !values.select)
      throw new FarmCliError(
        FarmExitCode.USAGE,
        'Say which boards: --select chip=<chip>[,...] or --device <MAC>.',
      );
    if ((values.junit || values.timeout) && !values.wait)
      throw new FarmCliError(FarmExitCode.USAGE, '--junit and --timeout need --wait.');
    const selector = values.select ? parseSelector(values.select) : undefined;
    const count = positiveInt(values.count, '--count') ?? 1;
    if (count < 1) throw new FarmCliError(FarmExitCode.USAGE, '--count must be 1 or more.');
    const timeoutS = positiveInt(values.timeout, '--timeout') ?? DEFAULT_TIMEOUT_S;
    const options: Record<string, unknown> = {};
    if (values.baud) options.baud = positiveInt(values.baud, '--baud');
    if (values['erase-all']) options.eraseAll = true;
    if (values['no-verify']) options.verify = false;
    if (values['skip-unchanged']) options.skipUnchanged = true;
    if (values['boot-check'])
      options.bootCheck = {
        pattern: values['boot-check'],
        timeoutMs: positiveInt(values['boot-timeout'], '--boot-timeout') ?? DEFAULT_BOOT_TIMEOUT_MS,
      };
    const input = await resolveFirmwareInput(positionals);

    io.stderr(`Uploading ${input.describe} to ${client.baseUrl}\n`);
    const uploaded = await client.requestWithStatus<FirmwareView>('POST', '/firmware', {
      body: {
        form: firmwareForm(input, { name: values.name, version: values.version, chip: selector?.chip }),
      },
    });
    const fw = uploaded.body;
    io.stderr(
      `Firmware ${fw.id} (${fw.chip}, ${fw.name}${fw.version ? ` ${fw.version}` : ''}, sha256 ${fw.sha256.slice(0, 12)}) ${uploaded.status === 201 ? 'stored' : 'already stored'}\n`,
    );

    const target = values.device
      ? { device: values.device }
      : values.all
        ? { all: selector }
        : { selector, count };
    const body: Record<string, unknown> = { firmwareId: fw.id, target };
    if (Object.keys(options).length) body.options = options;
    if (values.priority !== undefined) body.priority = Number(values.priority);
    const key = values['idempotency-key'] ?? ciIdempotencyKey(io.env, body);
    const created = await client.requestWithStatus<JobView>('POST', '/jobs', {
      body: { json: body },
      headers: key ? { 'idempotency-key': key } : {},
    });
    const job = created.body;
    io.stderr(
      `Job ${job.id}: ${job.slots.length} board(s)${created.status === 200 ? ' (existing job for this idempotency key)' : ''}\n`,
    );
    if (!values.wait) {
      io.stdout(`${job.id}\n`);
      return FarmExitCode.OK;
    }
    return waitForJob(client, job, {
      io,
      timeoutMs: timeoutS * 1000,
      junit: values.junit,
      quiet: values.quiet === true,
    });
  });
}

interface WaitOptions {
  io: CommandIo;
  timeoutMs: number;
  junit?: string;
  quiet: boolean;
}

/** Streams a job to its end; prints logs and the summary; returns the exit code. */
// eslint-disable-next-line max-lines-per-function -- one event loop whose handlers share the run table, labels and reconnect state
export async function waitForJob(
  client: FarmClient,
  initial: JobView,
  options: WaitOptions,
): Promise<number> {
  const { io } = options;
  const started = Date.now();
  const runs = new Map<string, RunSnapshot>();
  const labels = new Map<string, string>();
  let job = initial;
  const remember = (j: JobView) => {
    for (const s of j.slots) {
      runs.set(s.latest.id, { ...s.latest });
      if (s.latest.device?.mac) labels.set(s.latest.id, s.latest.device.mac);
    }
  };
  remember(job);
  const label = (runId: string): string => {
    const run = runs.get(runId);
    return labels.get(runId) ?? (run ? `slot ${run.slot}` : runId.slice(0, 8));
  };

  const done = new AbortController();
  const abort = () => done.abort();
  io.signal?.addEventListener('abort', abort);
  let timedOut = false;
  const timer = setTimeout(() => {
    // Only boards never found count as "no board in time"; flashing boards may finish.
    const waiting = [...runs.values()].filter((r) => r.status === 'queued');
    if (waiting.length) {
      timedOut = true;
      done.abort();
    }
  }, options.timeoutMs);
  timer.unref();
  // A CI log that goes quiet looks hung: say what the job is waiting for, and how many boards could take it.
  const note = async (): Promise<void> => {
    const waiting = [...runs.values()].filter((r) => r.status === 'queued').length;
    if (!waiting || done.signal.aborted) return;
    const clock = `${Math.round((Date.now() - started) / 1000)} s of ${Math.round(options.timeoutMs / 1000)} s`;
    const boards = await matchingBoards(client, job).catch(() => undefined);
    io.stderr(
      boards
        ? `waiting for a board: ${boards}; ${waiting} slot(s) waiting (${clock})\n`
        : `waiting for ${waiting} board(s) to become free (${clock})\n`,
    );
  };
  let waitingNote: NodeJS.Timeout | undefined;
  const firstNote = setTimeout(() => {
    void note();
    waitingNote = setInterval(() => void note(), WAITING_NOTE_MS);
    waitingNote.unref();
  }, FIRST_WAITING_NOTE_MS);
  firstNote.unref();

  const printed = new Set<string>();
  const onEvent = (event: SseEvent): void => {
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(event.data) as Record<string, unknown>;
    } catch {
      return;
    }
    if (event.event === 'run') {
      const run = data as unknown as RunSnapshot;
      const before = runs.get(run.id);
      runs.set(run.id, run);
      if (before?.status === run.status) return;
      const say = () =>
        io.stderr(
          `[${label(run.id)}] ${run.status}${run.errorCode ? ` ${run.errorCode}: ${run.errorMessage ?? ''}` : ''}\n`,
        );
      // A run just bound to a board: name the board (its MAC) in the status line.
      if (run.deviceId && !labels.has(run.id)) void refreshLabels().then(say);
      else say();
    } else if (event.event === 'log' && !options.quiet) {
      const runId = String(data.runId);
      // A resumed stream may repeat lines (never skip one): print each (run, seq) once.
      const key = `${runId}:${String(data.seq)}`;
      if (printed.has(key)) return;
      printed.add(key);
      io.stdout(`[${label(runId)}] ${String(data.text)}\n`);
    }
  };
  const refreshLabels = async (): Promise<void> => {
    try {
      remember(await client.request<JobView>('GET', `/jobs/${job.id}`));
    } catch {
      // labels are cosmetic; the final summary re-reads the job
    }
  };

  try {
    await client.stream(`/jobs/${job.id}/events`, onEvent, done.signal);
  } finally {
    clearTimeout(timer);
    clearTimeout(firstNote);
    clearInterval(waitingNote);
    io.signal?.removeEventListener('abort', abort);
  }

  if (timedOut || io.signal?.aborted) {
    const why = timedOut
      ? `no board took the work within ${Math.round(options.timeoutMs / 1000)} s`
      : 'interrupted';
    io.stderr(`Cancelling job ${job.id}: ${why}\n`);
    await client
      .request('POST', `/jobs/${job.id}/cancel`, { body: { json: { reason: `flashfarm submit: ${why}` } } })
      .catch(() => undefined);
  }
  job = await client.request<JobView>('GET', `/jobs/${job.id}`);
  remember(job);
  io.stdout(`\n${summaryTable(job)}`);
  io.stdout(
    `Job ${job.id} ${job.status} in ${((Date.now() - started) / 1000).toFixed(1)} s: ${Object.entries(
      job.slotCounts,
    )
      .map(([k, v]) => `${v} ${k}`)
      .join(', ')}\n`,
  );
  if (options.junit) await writeJunit(client, job, options.junit, started);
  if (timedOut) return FarmExitCode.NO_BOARD;
  if (io.signal?.aborted) return FarmExitCode.INTERRUPTED;
  return job.status === 'succeeded' ? FarmExitCode.OK : FarmExitCode.FLASH_FAILED;
}

/**
 * "0 of 8 match (chip esp32, pool nowhere)" or "3 of 8 match (chip esp32, pool line-b), none free":
 * the boards of the job's chip, how many its selector matches, and how many of those are free.
 * Undefined for a job pinned to one board.
 */
export async function matchingBoards(
  client: Pick<FarmClient, 'request'>,
  job: Pick<JobView, 'target'>,
): Promise<string | undefined> {
  const selector =
    'selector' in job.target ? job.target.selector : 'all' in job.target ? job.target.all : undefined;
  if (!selector?.chip) return undefined;
  const total = async (filters: Array<[string, string]>): Promise<number> =>
    (
      await client.request<{ total: number }>(
        'GET',
        `/devices?${new URLSearchParams([...filters, ['limit', '1']])}`,
      )
    ).total;
  const chip: Array<[string, string]> = [['chip', selector.chip]];
  const match: Array<[string, string]> = [
    ...chip,
    ...(selector.pool ? [['pool', selector.pool] as [string, string]] : []),
    ...(selector.tags ?? []).map((t) => ['tag', t] as [string, string]),
  ];
  const [all, matching, free] = await Promise.all([
    total(chip),
    total(match),
    total([...match, ['state', 'idle']]),
  ]);
  const described = [
    `chip ${selector.chip}`,
    ...(selector.pool ? [`pool ${selector.pool}`] : []),
    ...(selector.tags?.length ? [`tags ${selector.tags.join(', ')}`] : []),
  ].join(', ');
  return `${matching} of ${all} match (${described})${matching ? `, ${free || 'none'} free` : ''}`;
}

function seconds(from: string | null, to: string | null): number {
  if (!from || !to) return 0;
  return Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
}

/** The per-board summary printed at the end. */
export function summaryTable(job: JobView): string {
  return table(
    ['SLOT', 'BOARD', 'CHIP', 'STATUS', 'ATTEMPTS', 'BAUD', 'TIME', 'ERROR'],
    job.slots.map((s) => [
      String(s.slot),
      s.latest.device?.mac ?? '-',
      s.latest.device?.chip ?? '-',
      s.latest.status,
      String(s.attempts),
      s.latest.baud ? String(s.latest.baud) : '-',
      `${seconds(s.latest.startedAt, s.latest.finishedAt).toFixed(1)}s`,
      s.latest.errorCode ? `${s.latest.errorCode}: ${s.latest.errorMessage ?? ''}` : '',
    ]),
  );
}

async function writeJunit(client: FarmClient, job: JobView, file: string, started: number): Promise<void> {
  const cases: JunitCase[] = [];
  for (const s of job.slots) {
    const run = s.latest;
    const log = await client
      .request<string>('GET', `/runs/${run.id}/log`, { text: true })
      .catch(
        (error: unknown) => `(log unavailable: ${error instanceof Error ? error.message : String(error)})`,
      );
    const board = run.device?.mac ?? 'no board';
    cases.push({
      name: `slot ${s.slot}: ${board}${run.device?.chip ? ` (${run.device.chip})` : ''}`,
      classname: `flashfarm.job.${job.id}`,
      timeSeconds: seconds(run.startedAt, run.finishedAt),
      failure:
        run.status === 'succeeded'
          ? undefined
          : {
              code: run.errorCode ?? (run.status === 'cancelled' ? 'CANCELLED' : run.status.toUpperCase()),
              message: run.errorMessage ?? `run ended ${run.status}`,
            },
      systemOut: log,
    });
  }
  const xml = renderJunit({
    name: `flashfarm job ${job.id}`,
    timestamp: new Date(started).toISOString(),
    timeSeconds: (Date.now() - started) / 1000,
    cases,
  });
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await fs.writeFile(file, xml);
}

/** True once every run of the job ended. */
export function allRunsEnded(job: JobView): boolean {
  return job.slots.every((s) => isEndedRun(s.latest.status));
}

/** `flashfarm devices | jobs | logs | cancel | token`: the farm seen from a terminal. */
import { clientFrom, parseCommandArgs, runCommand, table, type CommandIo } from './context.js';
import { FarmCliError, FarmExitCode } from './exit-codes.js';
import fs from 'node:fs';
import type {
  CampaignCsvView,
  DeviceView,
  JobView,
  Page,
  RunSnapshot,
  StationNextView,
  StationOperatorView,
} from '#contracts';

const CONNECTION_HELP = '  --url, --token   the farm (default FLASHFARM_URL, FLASHFARM_TOKEN)\n';

function helpOr(values: { help?: boolean }, io: CommandIo, usage: string): boolean {
  if (values.help) io.stdout(usage);
  return values.help === true;
}

const DEVICES_USAGE = `Usage: flashfarm devices [--chip C] [--pool P] [--tag T] [--state S] [--search TEXT] [--limit N] [--offset N] [--json]\n${CONNECTION_HELP}`;

/** Lists devices. */
export function runDevices(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(io, async () => {
    const { values } = parseCommandArgs(
      argv,
      {
        chip: { type: 'string' },
        pool: { type: 'string' },
        tag: { type: 'string' },
        state: { type: 'string' },
        search: { type: 'string' },
        limit: { type: 'string' },
        offset: { type: 'string' },
        json: { type: 'boolean' },
      },
      false,
    );
    if (helpOr(values, io, DEVICES_USAGE)) return FarmExitCode.OK;
    const client = clientFrom(values, io);
    const page = await client.request<Page<DeviceView>>('GET', '/devices', {
      query: {
        chip: values.chip,
        pool: values.pool,
        tag: values.tag,
        state: values.state,
        search: values.search,
        limit: values.limit ?? 100,
        offset: values.offset,
      },
    });
    if (values.json) {
      io.stdout(`${JSON.stringify(page, null, 2)}\n`);
      return FarmExitCode.OK;
    }
    io.stdout(
      table(
        ['MAC', 'CHIP', 'STATE', 'POOL', 'TAGS', 'PORT', 'LAST RUN'],
        page.items.map((d) => [
          d.mac,
          d.chip,
          d.state,
          d.pool ?? '-',
          d.tags.join(',') || '-',
          d.attachment?.portPath ?? '-',
          d.lastRunStatus ?? '-',
        ]),
      ),
    );
    io.stdout(`${page.items.length} of ${page.total} device(s)\n`);
    return FarmExitCode.OK;
  });
}

const JOBS_USAGE = `Usage: flashfarm jobs [JOB] [--status S] [--limit N] [--offset N] [--json]\n${CONNECTION_HELP}`;

/** Lists jobs, or shows one. */
export function runJobs(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(io, async () => {
    const { values, positionals } = parseCommandArgs(argv, {
      status: { type: 'string' },
      limit: { type: 'string' },
      offset: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (helpOr(values, io, JOBS_USAGE)) return FarmExitCode.OK;
    const client = clientFrom(values, io);
    if (positionals[0]) {
      const job = await client.request<JobView>('GET', `/jobs/${encodeURIComponent(positionals[0])}`);
      if (values.json) io.stdout(`${JSON.stringify(job, null, 2)}\n`);
      else
        io.stdout(
          `Job ${job.id} ${job.status} (by ${job.requestedBy}, ${job.createdAt})\n` +
            table(
              ['SLOT', 'RUN', 'BOARD', 'STATUS', 'STAGE', 'ERROR'],
              job.slots.map((s) => [
                String(s.slot),
                s.latest.id,
                s.latest.device?.mac ?? '-',
                s.latest.status,
                s.latest.stage ?? '-',
                s.latest.errorCode ?? '',
              ]),
            ),
        );
      return FarmExitCode.OK;
    }
    const page = await client.request<Page<JobView>>('GET', '/jobs', {
      query: { status: values.status, limit: values.limit ?? 20, offset: values.offset },
    });
    if (values.json) io.stdout(`${JSON.stringify(page, null, 2)}\n`);
    else
      io.stdout(
        table(
          ['JOB', 'STATUS', 'BOARDS', 'BY', 'CREATED'],
          page.items.map((j) => [
            j.id,
            j.status,
            Object.entries(j.slotCounts)
              .map(([k, v]) => `${v} ${k}`)
              .join(', '),
            j.requestedBy,
            j.createdAt,
          ]),
        ),
      );
    return FarmExitCode.OK;
  });
}

const LOGS_USAGE = `Usage: flashfarm logs RUN [--follow]\n  --follow   keep streaming until the run ends\n${CONNECTION_HELP}`;

/** Prints a run's log; --follow streams it live until the run ends. */
export function runLogs(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(io, async () => {
    const { values, positionals } = parseCommandArgs(argv, { follow: { type: 'boolean', short: 'f' } });
    if (helpOr(values, io, LOGS_USAGE)) return FarmExitCode.OK;
    const runId = positionals[0];
    if (!runId) throw new FarmCliError(FarmExitCode.USAGE, `logs needs a run id.\n${LOGS_USAGE}`);
    const client = clientFrom(values, io);
    if (!values.follow) {
      io.stdout(
        await client.request<string>('GET', `/runs/${encodeURIComponent(runId)}/log`, { text: true }),
      );
      return FarmExitCode.OK;
    }
    let last: RunSnapshot | undefined;
    const printed = new Set<number>();
    await client.stream(
      `/runs/${encodeURIComponent(runId)}/events`,
      (event) => {
        const data = JSON.parse(event.data) as Record<string, unknown>;
        if (event.event === 'run') last = data as unknown as RunSnapshot;
        if (event.event !== 'log') return;
        // A resumed stream may repeat lines (never skip one): print each seq once.
        const seq = Number(data.seq);
        if (printed.has(seq)) return;
        printed.add(seq);
        io.stdout(`${String(data.ts)} ${String(data.level).toUpperCase().padEnd(5)} ${String(data.text)}\n`);
      },
      io.signal,
    );
    if (last) io.stderr(`run ${last.id} ${last.status}${last.errorCode ? ` ${last.errorCode}` : ''}\n`);
    return last && last.status !== 'succeeded' ? FarmExitCode.FLASH_FAILED : FarmExitCode.OK;
  });
}

const CANCEL_USAGE = `Usage: flashfarm cancel JOB [--reason TEXT]\n${CONNECTION_HELP}`;

/** Cancels a job. */
export function runCancel(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(io, async () => {
    const { values, positionals } = parseCommandArgs(argv, { reason: { type: 'string' } });
    if (helpOr(values, io, CANCEL_USAGE)) return FarmExitCode.OK;
    if (!positionals[0])
      throw new FarmCliError(FarmExitCode.USAGE, `cancel needs a job id.\n${CANCEL_USAGE}`);
    const client = clientFrom(values, io);
    const job = await client.request<JobView>('POST', `/jobs/${encodeURIComponent(positionals[0])}/cancel`, {
      body: { json: values.reason ? { reason: values.reason } : {} },
    });
    io.stdout(`Job ${job.id} ${job.status}\n`);
    return FarmExitCode.OK;
  });
}

const TOKEN_USAGE = `Usage: flashfarm token create --name NAME --role admin|ci|operator|viewer|agent [--expires-days N] [--json]

With FLASHFARM_TOKEN (or --token) set to an admin token, the token is created through the api
(POST /tokens at FLASHFARM_URL). Without one, it is written straight into the api's database
(DATABASE_URL or the embedded one), for the first tokens of a farm: "flashfarm token list|revoke" too.
`;

/** `token create` through the api when an admin token is at hand; otherwise the database-side token CLI. */
export function runToken(argv: string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  const viaApi = sub === 'create' && (io.env.FLASHFARM_TOKEN || rest.includes('--token'));
  if (!viaApi) {
    if (sub === '--help' || sub === '-h') {
      io.stdout(TOKEN_USAGE);
      return Promise.resolve(FarmExitCode.OK);
    }
    if (!io.databaseTokenCli) {
      io.stderr(
        `flashfarm: this build has no database-side token commands; set FLASHFARM_TOKEN to an admin token to create one through the api.\n${TOKEN_USAGE}`,
      );
      return Promise.resolve(FarmExitCode.USAGE);
    }
    return io.databaseTokenCli(argv, { env: io.env, stdout: io.stdout, stderr: io.stderr });
  }
  return runCommand(io, async () => {
    const { values } = parseCommandArgs(
      rest,
      {
        name: { type: 'string' },
        role: { type: 'string' },
        'expires-days': { type: 'string' },
        json: { type: 'boolean' },
      },
      false,
    );
    if (helpOr(values, io, TOKEN_USAGE)) return FarmExitCode.OK;
    if (!values.name || !values.role)
      throw new FarmCliError(FarmExitCode.USAGE, `token create needs --name and --role.\n${TOKEN_USAGE}`);
    const client = clientFrom(values, io);
    const created = await client.request<{ id: string; name: string; role: string; secret: string }>(
      'POST',
      '/tokens',
      {
        body: {
          json: {
            name: values.name,
            role: values.role,
            ...(values['expires-days'] ? { expiresInDays: Number(values['expires-days']) } : {}),
          },
        },
      },
    );
    if (values.json) io.stdout(`${JSON.stringify(created, null, 2)}\n`);
    else {
      io.stderr(`Created token "${created.name}" (${created.role}); the secret is shown only once:\n`);
      io.stdout(`${created.secret}\n`);
    }
    return FarmExitCode.OK;
  });
}

const STATION_USAGE = `Usage: flashfarm station next CAMPAIGN [--slot PORT] [--operator NAME] [--json]
       flashfarm station operator CAMPAIGN NAME [--json]

next      starts a new fixture cycle now on a running station campaign's slots (every slot, or the
          one named by its port): the unit there is identified and flashed, the same board again
          is a re-test, and a unit that does not reach the bootloader is recorded as failed with
          the reason. --operator names who is at the station (as "operator" does).
operator  names the operator recorded on the station's following units (1 to 64 characters).
${CONNECTION_HELP}`;

/** `station next` / `station operator`: the line's "next unit" button and operator field from a terminal (or a jig's script). */
export function runStation(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(io, async () => {
    const { values, positionals } = parseCommandArgs(argv, {
      slot: { type: 'string' },
      operator: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (helpOr(values, io, STATION_USAGE)) return FarmExitCode.OK;
    const [sub, campaignId, name] = positionals;
    if ((sub !== 'next' && sub !== 'operator') || !campaignId)
      throw new FarmCliError(
        FarmExitCode.USAGE,
        `station needs "next" or "operator" and a campaign id.\n${STATION_USAGE}`,
      );
    const client = clientFrom(values, io);
    const station = `/stations/${encodeURIComponent(campaignId)}`;
    if (sub === 'operator') {
      if (!name?.trim())
        throw new FarmCliError(FarmExitCode.USAGE, `station operator needs a name.\n${STATION_USAGE}`);
      const set = await client.request<StationOperatorView>('POST', `${station}/operator`, {
        body: { json: { operator: name.trim() } },
      });
      io.stdout(
        values.json
          ? `${JSON.stringify(set)}\n`
          : `Operator of station ${set.campaignId}: ${set.operator} (recorded on its following units)\n`,
      );
      return FarmExitCode.OK;
    }
    const body: Record<string, string> = {};
    if (values.slot) body.slot = values.slot;
    if (values.operator?.trim()) body.operator = values.operator.trim();
    const answer = await client.request<StationNextView>('POST', `${station}/next`, { body: { json: body } });
    if (values.json) io.stdout(`${JSON.stringify(answer)}\n`);
    else
      io.stdout(
        `Next unit on ${answer.slot ?? 'every slot'} of station ${answer.campaignId} (${answer.agents} agent(s) asked)\n`,
      );
    return FarmExitCode.OK;
  });
}

const CAMPAIGN_USAGE = `Usage: flashfarm campaign csv CAMPAIGN FILE [--json]

Adds the rows of a CSV file (header line first) to a campaign's per-unit data: with a "mac" column
each row belongs to that board, without one rows are taken in order, one per unit. Columns named
"...:secret" or "secret_..." reach only the unit's NVS data, never a log or an export. Every row is
checked against the campaign's recipe first; a refused file adds nothing. FILE "-" reads stdin.
${CONNECTION_HELP}`;

/** `campaign csv`: per-unit values for a campaign's NVS recipe, from a file a factory system exported. */
export function runCampaign(argv: string[], io: CommandIo): Promise<number> {
  return runCommand(io, async () => {
    const { values, positionals } = parseCommandArgs(argv, { json: { type: 'boolean' } });
    if (helpOr(values, io, CAMPAIGN_USAGE)) return FarmExitCode.OK;
    const [sub, campaignId, file] = positionals;
    if (sub !== 'csv' || !campaignId || !file)
      throw new FarmCliError(
        FarmExitCode.USAGE,
        `campaign needs "csv", a campaign id and a file.\n${CAMPAIGN_USAGE}`,
      );
    let text: string;
    try {
      text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new FarmCliError(
        FarmExitCode.USAGE,
        `cannot read ${file === '-' ? 'standard input' : file}: ${(error as Error).message}`,
      );
    }
    const client = clientFrom(values, io);
    const answer = await client.request<CampaignCsvView>(
      'POST',
      `/campaigns/${encodeURIComponent(campaignId)}/csv`,
      { body: { text, contentType: 'text/csv' } },
    );
    io.stdout(
      values.json
        ? `${JSON.stringify(answer)}\n`
        : `${answer.rowsAdded} row(s) added to campaign ${answer.campaignId}: ${answer.rowsFree} of ${answer.rowsTotal} free, ` +
            `${answer.keyedByMac ? 'keyed by MAC' : 'taken in order'}; columns ${answer.columns.join(', ')}` +
            `${answer.secretColumns.length ? ` (secret: ${answer.secretColumns.join(', ')})` : ''}\n`,
    );
    return FarmExitCode.OK;
  });
}

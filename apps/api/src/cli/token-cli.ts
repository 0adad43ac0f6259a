/**
 * `flashfarm token create|list|revoke`: token administration straight on the
 * api's database (same configuration as the api), for the first tokens of a
 * farm and for recovery when no admin token is at hand.
 */
import { parseArgs } from 'node:util';
import { ConfigError } from '#runtime';
import { ApiError } from '../common/api-error.js';
import { loadApiConfig, type ApiConfig } from '../config/api-config.js';
import { openDatabase, type Database } from '../infra/database.js';
import { ALL_ROLES, type Role } from '../auth/roles.js';
import { TokenStore, type StoredToken } from '../auth/tokens.service.js';

/** Where the CLI writes and which configuration it uses (tests inject these). */
export interface TokenCliOptions {
  env?: NodeJS.ProcessEnv;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
  /** Opens the database; defaults to the api's own openDatabase on the loaded config. */
  openDatabase?: (config: ApiConfig) => Promise<Database>;
}

const USAGE = `Usage:
  flashfarm token create --name <name> --role <${ALL_ROLES.join('|')}> [--agent AGENT] [--expires-days N] [--json]
  flashfarm token list [--all] [--json]
  flashfarm token revoke <id|prefix>

The database is the api's: DATABASE_URL, or the embedded one in FLASHFARM_DATA_DIR
(stop the api first when it uses the embedded database).

An agent token speaks for one agent: --agent names it; without --agent the token is bound to the
first agent it registers.`;

const DAY_MS = 86_400_000;

/** Runs `token <subcommand> ...` (argv without "token"); resolves to the process exit code. */
export async function runTokenCli(argv: readonly string[], options: TokenCliOptions = {}): Promise<number> {
  const out = options.stdout ?? ((t: string) => void process.stdout.write(t));
  const err = options.stderr ?? ((t: string) => void process.stderr.write(t));
  const [command, ...rest] = argv[0] === 'token' ? argv.slice(1) : argv;
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(rest);
  } catch (error) {
    err(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (command === undefined || command === 'help' || values.help) {
    (command === undefined ? err : out)(`${USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (!['create', 'list', 'revoke'].includes(command)) {
    err(`Unknown token command "${command}".\n\n${USAGE}\n`);
    return 2;
  }
  const create = command === 'create' ? createArguments(values) : { problems: [] };
  if (create.problems.length) {
    err(`${create.problems.join('; ')}.\n\n${USAGE}\n`);
    return 2;
  }
  const { expiresAt } = create;
  if (command === 'revoke' && positionals.length !== 1) {
    err(`revoke takes one token id or prefix.\n\n${USAGE}\n`);
    return 2;
  }

  let database: Database;
  try {
    const config = loadApiConfig(options.env ?? process.env);
    database = await (options.openDatabase ?? ((c: ApiConfig) => openDatabase(c)))(config);
  } catch (error) {
    err(`${error instanceof ConfigError || error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  try {
    const store = new TokenStore(database.prisma);
    switch (command) {
      case 'create': {
        const token = await store.create({
          name: values.name!,
          role: values.role as Role,
          createdBy: 'cli',
          expiresAt,
          ...(values.agent === undefined ? {} : { agentName: values.agent }),
        });
        if (values.json) out(`${JSON.stringify(token)}\n`);
        else
          out(
            `Created token ${token.id} "${token.name}" (role ${token.role}${token.agentName ? ` for agent "${token.agentName}"` : ''}${expiresAt ? `, expires ${expiresAt.toISOString()}` : ''}).\n` +
              `Secret (shown only now, store it safely):\n${token.secret}\n`,
          );
        return 0;
      }
      case 'list': {
        const tokens = await store.list({ includeRevoked: values.all });
        if (values.json) out(`${JSON.stringify(tokens)}\n`);
        else out(formatTable(tokens));
        return 0;
      }
      default: {
        const token = await store.revoke(positionals[0]);
        out(`Revoked token ${token.id} "${token.name}" (${token.prefix}…).\n`);
        return 0;
      }
    }
  } catch (error) {
    if (error instanceof ApiError) {
      err(`${error.message}\n`);
      return 1;
    }
    throw error;
  } finally {
    await database.close();
  }
}

/** The checked options of `token create`: what is wrong with them, or when the token expires. */
function createArguments(values: ReturnType<typeof parse>['values']): {
  problems: string[];
  expiresAt?: Date;
} {
  const problems: string[] = [];
  let expiresAt: Date | undefined;
  if (!values.name) problems.push('--name is required');
  if (!values.role) problems.push('--role is required');
  else if (!ALL_ROLES.includes(values.role as Role))
    problems.push(`--role must be one of: ${ALL_ROLES.join(', ')}`);
  if (values.agent !== undefined && values.role !== 'agent')
    problems.push('--agent goes with --role agent only');
  if (values.agent !== undefined && !/^\S{1,200}$/.test(values.agent))
    problems.push('--agent must be the agent name (1-200 characters, no spaces)');
  if (values['expires-days'] !== undefined) {
    const days = Number(values['expires-days']);
    if (!Number.isInteger(days) || days < 1) problems.push('--expires-days must be a whole number ≥ 1');
    else expiresAt = new Date(Date.now() + days * DAY_MS);
  }
  return { problems, expiresAt };
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      name: { type: 'string' },
      role: { type: 'string' },
      agent: { type: 'string' },
      'expires-days': { type: 'string' },
      all: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

function formatTable(tokens: StoredToken[]): string {
  if (tokens.length === 0) return 'No tokens.\n';
  const rows = [
    ['ID', 'NAME', 'ROLE', 'PREFIX', 'CREATED', 'LAST USED', 'EXPIRES', 'REVOKED'],
    ...tokens.map((t) => [
      t.id,
      t.name,
      t.role,
      t.prefix,
      t.createdAt.toISOString(),
      t.lastUsedAt?.toISOString() ?? '-',
      t.expiresAt?.toISOString() ?? '-',
      t.revokedAt?.toISOString() ?? '-',
    ]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

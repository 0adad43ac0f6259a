/**
 * `flashfarm agent doctor`: checks an agent host with the agent's own configuration (the same
 * variables, parsed by loadAgentConfig) and says what to fix, one line per check, before an agent
 * is started there. It never registers: the queue connection comes from GET /whoami, which answers
 * an agent token with what registration would hand out. Exit status 0 when every check passed, 1
 * when one failed, 2 on bad arguments.
 */
import { constants as fsConstants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import { WhoamiView } from '#contracts';
import { ConfigError, pingRedis } from '#runtime';
import { listSerialPorts, type SerialPortInfo } from '#serial';
import { loadAgentConfig, type AgentConfig } from '../config/agent-config.js';
import { redactedRedisUrl } from '../lifecycle/queue-connection.js';

/** How long the api, the queue and an RFC 2217 server each get to answer. */
export const DOCTOR_CHECK_TIMEOUT_MS = 5_000;

/** The surroundings of the command (tests and the CLI hand them in). */
export interface DoctorIo {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** One check's outcome: ok, or FAIL with what to do. */
export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** What was found, and for a failure, the variable to change or the command to run. */
  detail: string;
}

const USAGE = `Usage: flashfarm agent doctor

Checks this host as an agent would use it, with the agent's variables (FLASHFARM_URL,
FLASHFARM_AGENT_TOKEN, REDIS_URL, FLASHFARM_AGENT_PORTS, FLASHFARM_AGENT_DISCOVERY, ...):
the api answers, the token is an agent token, the farm's queue answers, serial ports are visible
with their USB identity and can be opened, and configured rfc2217:// ports accept connections.
Prints one line per check and exits 1 when any check failed.
`;

/** Runs the doctor; resolves to the exit status. */
export async function runAgentDoctor(argv: readonly string[], io: DoctorIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout(USAGE);
    return 0;
  }
  if (argv.length > 0) {
    io.stderr(
      `flashfarm agent doctor: unexpected argument "${argv[0]}" (it takes none; it reads the agent's variables)\n\n${USAGE}`,
    );
    return 2;
  }
  const checks = await diagnose(io.env, (check) =>
    io.stdout(`${check.ok ? 'ok  ' : 'FAIL'}  ${check.name}: ${check.detail}\n`),
  );
  const failed = checks.filter((c) => !c.ok).length;
  io.stdout(failed ? `${failed} check(s) failed.\n` : 'Every check passed.\n');
  return failed ? 1 : 0;
}

/** Runs every check in order, reporting each as it ends. */
export async function diagnose(
  env: NodeJS.ProcessEnv,
  report: (check: DoctorCheck) => void,
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const add = (check: DoctorCheck): void => {
    checks.push(check);
    report(check);
  };
  let config: AgentConfig;
  try {
    config = loadAgentConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const p of error.problems)
      add({
        name: 'configuration',
        ok: false,
        detail: `${p.variable} ${p.message} (see "Configuration" in README.md)`,
      });
    return checks;
  }
  add({ name: 'configuration', ok: true, detail: `agent "${config.name}", api ${config.apiUrl}` });

  const apiUp = await checkApi(config);
  add(apiUp);
  const token = apiUp.ok
    ? await checkToken(config)
    : {
        check: {
          name: 'token',
          ok: false,
          detail: 'not checked: the api does not answer (see the line above)',
        },
      };
  add(token.check);
  add(await checkQueue(config, 'queueUrl' in token ? token.queueUrl : undefined, token.check.ok));
  for (const check of await checkSerialPorts(config)) add(check);
  for (const check of await checkRemotePorts(config)) add(check);
  return checks;
}

async function checkApi(config: AgentConfig): Promise<DoctorCheck> {
  try {
    const response = await fetch(`${config.apiUrl}/health`, {
      signal: AbortSignal.timeout(DOCTOR_CHECK_TIMEOUT_MS),
    });
    // 503 is an api that answers but has a failing dependency: reachable, and /health names what.
    if (response.status === 200 || response.status === 503)
      return { name: 'api', ok: true, detail: `${config.apiUrl} answers (/health ${response.status})` };
    return {
      name: 'api',
      ok: false,
      detail: `${config.apiUrl}/health answered ${response.status}: FLASHFARM_URL does not point at a flashfarm api; set it to the api's base URL (http://farm.example:8080)`,
    };
  } catch (error) {
    return {
      name: 'api',
      ok: false,
      detail: `${config.apiUrl} does not answer (${reason(error)}): check FLASHFARM_URL and that the api runs and is reachable from this host`,
    };
  }
}

async function checkToken(config: AgentConfig): Promise<{ check: DoctorCheck; queueUrl?: string }> {
  const create = 'flashfarm token create --name NAME --role agent';
  if (!config.agentToken)
    return {
      check: {
        name: 'token',
        ok: false,
        detail: `FLASHFARM_AGENT_TOKEN is not set: create an agent token (${create}) and set it`,
      },
    };
  let response: Response;
  try {
    response = await fetch(`${config.apiUrl}/whoami`, {
      headers: { authorization: `Bearer ${config.agentToken}` },
      signal: AbortSignal.timeout(DOCTOR_CHECK_TIMEOUT_MS),
    });
  } catch (error) {
    return {
      check: {
        name: 'token',
        ok: false,
        detail: `could not ask the api about FLASHFARM_AGENT_TOKEN (${reason(error)})`,
      },
    };
  }
  if (response.status === 401) {
    const body = (await response.json().catch(() => ({}))) as { message?: string };
    return {
      check: {
        name: 'token',
        ok: false,
        detail: `the api refuses FLASHFARM_AGENT_TOKEN (401: ${body.message ?? 'not a valid token'}): create an agent token for this farm (${create}) and set it`,
      },
    };
  }
  if (!response.ok)
    return {
      check: {
        name: 'token',
        ok: false,
        detail: `GET /whoami answered ${response.status}; is FLASHFARM_URL a flashfarm api?`,
      },
    };
  const parsed = WhoamiView.safeParse(await response.json().catch(() => undefined));
  if (!parsed.success)
    return {
      check: {
        name: 'token',
        ok: false,
        detail:
          'GET /whoami answered something this version does not read; update flashfarm on this host or the api',
      },
    };
  const me = parsed.data;
  if (me.role !== 'agent')
    return {
      check: {
        name: 'token',
        ok: false,
        detail: `FLASHFARM_AGENT_TOKEN is token "${me.name}" with role ${me.role}; an agent needs role agent: set FLASHFARM_AGENT_TOKEN to one (${create})`,
      },
    };
  const expires = me.expiresAt ? `, expires ${me.expiresAt}` : '';
  return {
    check: { name: 'token', ok: true, detail: `"${me.name}", role agent${expires}` },
    queueUrl: me.queue?.redisUrl,
  };
}

async function checkQueue(
  config: AgentConfig,
  handedOut: string | undefined,
  tokenOk: boolean,
): Promise<DoctorCheck> {
  const url = config.redis.url ?? handedOut;
  const from = config.redis.url ? 'REDIS_URL' : 'the api';
  if (!url)
    return {
      name: 'queue',
      ok: false,
      detail: tokenOk
        ? "the api does not hand out its queue connection (an older api): set REDIS_URL to the farm's Redis"
        : 'not checked: the agent learns its queue from the api with its token (fix the lines above), or set REDIS_URL',
    };
  try {
    await pingRedis(url, DOCTOR_CHECK_TIMEOUT_MS);
    return { name: 'queue', ok: true, detail: `${redactedRedisUrl(url)} (from ${from}) answers` };
  } catch (error) {
    const fix = config.redis.url
      ? 'fix REDIS_URL on this host (redis://user:password@host:6379)'
      : 'set FLASHFARM_AGENT_REDIS_URL on the api to an address agents can reach (with its password), or REDIS_URL on this host';
    return {
      name: 'queue',
      ok: false,
      detail: `${redactedRedisUrl(url)} (from ${from}) does not answer from this host (${reason(error)}): ${fix}`,
    };
  }
}

/** USB serial ports with their identity, and whether this user may open each one (and each configured device path). */
async function checkSerialPorts(config: AgentConfig): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const listing = await listSerialPorts();
  const staticPaths = config.ports.static.filter((p) => !/^rfc2217:/i.test(p));
  const staticAny = config.ports.static.length > 0;
  const note = listing.incompleteReason ? ` (list may be incomplete: ${listing.incompleteReason})` : '';
  if (listing.ports.length === 0)
    checks.push({
      name: 'serial ports',
      // Only a failure when discovery is the agent's only source of boards.
      ok: staticAny || !config.ports.discovery,
      detail: `no USB serial port is visible${note}${
        staticAny || !config.ports.discovery
          ? ''
          : ': plug a board in (in a container, pass /dev and /run/udev, see README "Docker"), or list ports in FLASHFARM_AGENT_PORTS'
      }`,
    });
  else
    checks.push({
      name: 'serial ports',
      ok: true,
      detail: `${listing.ports.length} visible${note}: ${listing.ports.map(describePort).join('; ')}`,
    });
  const paths = [
    ...new Set([...(config.ports.discovery ? listing.ports.map((p) => p.path) : []), ...staticPaths]),
  ];
  for (const path of paths) checks.push(await checkDeviceFile(path, staticPaths.includes(path)));
  return checks;
}

function describePort(port: SerialPortInfo): string {
  const usb = port.vendorId ? `${port.vendorId}:${port.productId ?? '????'}` : 'no USB identity';
  const names = [port.manufacturer, port.product].filter(Boolean).join(' ');
  const serial = port.serialNumber ? ` serial ${port.serialNumber}` : '';
  return `${port.path} (${usb}${names ? ` ${names}` : ''}${serial}${port.byIdPath ? `, ${port.byIdPath}` : ''})`;
}

async function checkDeviceFile(path: string, configured: boolean): Promise<DoctorCheck> {
  const name = `device ${path}`;
  let gid: number;
  try {
    gid = (await stat(path)).gid;
  } catch (error) {
    return {
      name,
      ok: false,
      detail: `${configured ? 'FLASHFARM_AGENT_PORTS names it but ' : ''}it cannot be found (${reason(error)}): check the path (ls /dev/serial/by-id)`,
    };
  }
  try {
    await access(path, fsConstants.R_OK | fsConstants.W_OK);
    return { name, ok: true, detail: 'readable and writable by this user' };
  } catch {
    const group = (await groupName(gid)) ?? `gid ${gid}`;
    const user = os.userInfo().username;
    return {
      name,
      ok: false,
      detail: `not readable and writable by user ${user}: add it to the group that owns the device (sudo usermod -aG ${group} ${user}, usually dialout; then log in again), or in a container add that group (group_add)`,
    };
  }
}

/** The name of a group id from /etc/group (undefined where there is none). */
async function groupName(gid: number): Promise<string | undefined> {
  try {
    const line = (await readFile('/etc/group', 'utf8'))
      .split('\n')
      .find((l) => l.split(':')[2] === String(gid));
    return line?.split(':')[0];
  } catch {
    return undefined;
  }
}

/** Each rfc2217://host:port of FLASHFARM_AGENT_PORTS accepts a TCP connection. */
async function checkRemotePorts(config: AgentConfig): Promise<DoctorCheck[]> {
  const remote = config.ports.static.filter((p) => /^rfc2217:/i.test(p));
  return Promise.all(
    remote.map(async (url): Promise<DoctorCheck> => {
      const { hostname, port } = new URL(url);
      const host = hostname.replace(/^\[|\]$/g, '');
      try {
        await connectOnce(host, Number(port));
        return { name: `port ${url}`, ok: true, detail: 'accepts connections' };
      } catch (error) {
        return {
          name: `port ${url}`,
          ok: false,
          detail: `does not accept connections (${reason(error)}): check FLASHFARM_AGENT_PORTS and that the RFC 2217 server (ser2net, flashfarm sim) runs`,
        };
      }
    }),
  );
}

function connectOnce(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(
      () => socket.destroy(new Error(`no answer in ${DOCTOR_CHECK_TIMEOUT_MS} ms`)),
      DOCTOR_CHECK_TIMEOUT_MS,
    );
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.end();
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

function reason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  // fetch wraps the network error ("fetch failed"); its cause says what happened (ECONNREFUSED …).
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}

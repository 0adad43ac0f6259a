/**
 * `flashfarm agent doctor` as an operator runs it on an agent host: the real command
 * (bin/flashfarm.js, a child process) with the agent's variables, against a real api (PostgreSQL,
 * Redis) and a listening RFC 2217 address. A good agent token passes every check (exit 0); a viewer
 * token, a wrong api URL, a dead RFC 2217 address and a missing device path each get a FAIL line
 * naming the variable to fix (exit 1). It never registers an agent.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { seedToken, sql } from '../support/fake-agent.js';
import { REPO_ROOT } from '../support/processes.js';
import { scratchDir } from '../support/scratch.js';

let api: TestApi;
let agentToken: string;
let viewerToken: string;
let listening: net.Server;
let listeningUrl: string;
let closedUrl: string;

/** A port nothing listens on: bound, noted, closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Runs `flashfarm agent doctor` with only the given agent variables (none inherited from this process). */
function doctor(
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith('FLASHFARM_') && key !== 'REDIS_URL'),
  );
  const child = spawn(process.execPath, ['bin/flashfarm.js', 'agent', 'doctor'], {
    cwd: REPO_ROOT,
    env: {
      ...inherited,
      NODE_OPTIONS: '',
      FLASHFARM_DATA_DIR: scratchDir('flashfarm-doctor'),
      // Boards come from FLASHFARM_AGENT_PORTS here: the test host has no USB serial ports.
      FLASHFARM_AGENT_DISCOVERY: 'false',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`agent doctor still running after 60 s: ${stdout}${stderr}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

beforeAll(async () => {
  api = await startTestApi();
  agentToken = await seedToken(api.database.url, 'agent', 'bench-host');
  viewerToken = await seedToken(api.database.url, 'viewer', 'wallboard');
  listening = net.createServer((socket) => socket.end());
  await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
  listeningUrl = `rfc2217://127.0.0.1:${(listening.address() as net.AddressInfo).port}`;
  closedUrl = `rfc2217://127.0.0.1:${await closedPort()}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => (listening ? listening.close(() => resolve()) : resolve()));
  await api?.close();
});

describe('flashfarm agent doctor', () => {
  it('passes every check with an agent token, learning the queue from GET /whoami without registering', async () => {
    const result = await doctor({
      FLASHFARM_URL: api.baseUrl,
      FLASHFARM_AGENT_TOKEN: agentToken,
      FLASHFARM_AGENT_PORTS: listeningUrl,
    });
    expect(result.stdout).toMatch(/^ok {4}api: .*answers \(\/health 200\)$/m);
    expect(result.stdout).toMatch(/^ok {4}token: "bench-host", role agent$/m);
    expect(result.stdout).toMatch(/^ok {4}queue: redis:\/\/.* \(from the api\) answers$/m);
    expect(result.stdout).toMatch(/^ok {4}serial ports: no USB serial port is visible/m);
    expect(result.stdout).toContain(`ok    port ${listeningUrl}: accepts connections`);
    expect(result.stdout).not.toContain('FAIL');
    expect(result.stdout).toMatch(/Every check passed\.\n$/);
    expect(result.code).toBe(0);
    const { rows } = await sql(api.database.url, 'SELECT count(*)::int AS n FROM "Agent"');
    expect(rows[0]).toEqual({ n: 0 });
  });

  it('fails a viewer token, a dead RFC 2217 address and a missing device, naming the variables', async () => {
    const result = await doctor({
      FLASHFARM_URL: api.baseUrl,
      FLASHFARM_AGENT_TOKEN: viewerToken,
      FLASHFARM_AGENT_PORTS: `${closedUrl},/dev/ttyDOESNOTEXIST9`,
    });
    expect(result.stdout).toMatch(/^ok {4}api: /m);
    expect(result.stdout).toMatch(
      /^FAIL {2}token: FLASHFARM_AGENT_TOKEN is token "wallboard" with role viewer; an agent needs role agent: .*--role agent/m,
    );
    expect(result.stdout).toMatch(/^FAIL {2}queue: not checked: .*REDIS_URL/m);
    expect(result.stdout).toMatch(
      /^FAIL {2}device \/dev\/ttyDOESNOTEXIST9: FLASHFARM_AGENT_PORTS names it but it cannot be found/m,
    );
    expect(result.stdout).toContain(`FAIL  port ${closedUrl}: does not accept connections`);
    expect(result.stdout).toMatch(/FLASHFARM_AGENT_PORTS and that the RFC 2217 server/);
    expect(result.stdout).toMatch(/^4 check\(s\) failed\.$/m);
    expect(result.code).toBe(1);
  });

  it('fails an api URL nothing answers at, naming FLASHFARM_URL', async () => {
    const result = await doctor({
      FLASHFARM_URL: `http://127.0.0.1:${await closedPort()}`,
      FLASHFARM_AGENT_TOKEN: agentToken,
      FLASHFARM_AGENT_PORTS: listeningUrl,
    });
    expect(result.stdout).toMatch(
      /^FAIL {2}api: http:\/\/127\.0\.0\.1:\d+ does not answer .*check FLASHFARM_URL/m,
    );
    expect(result.stdout).toMatch(/^FAIL {2}token: not checked/m);
    expect(result.code).toBe(1);
  });

  it('names a malformed variable as a configuration failure', async () => {
    const result = await doctor({ FLASHFARM_URL: 'ftp://farm', FLASHFARM_AGENT_TOKEN: agentToken });
    expect(result.stdout).toMatch(/^FAIL {2}configuration: FLASHFARM_URL must be the api base URL/m);
    expect(result.code).toBe(1);
  });

  it('answers GET /whoami with the queue connection for agent tokens only', async () => {
    const whoami = async (token: string) =>
      (await (
        await fetch(`${api.baseUrl}/whoami`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as { role: string; queue?: { redisUrl: string } };
    expect((await whoami(agentToken)).queue?.redisUrl).toMatch(/^redis:\/\//);
    expect((await whoami(viewerToken)).queue).toBeUndefined();
  });
});

/**
 * The agent-facing contract (register, heartbeat, device reports) and the
 * agent views against the real api on PostgreSQL: boards keep one record as
 * they move between ports and hosts, departures and complete lists take boards
 * offline, and a silent agent is marked offline with its idle boards.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type {
  AgentHeartbeatResponse,
  RegisterAgentResponse,
  ReportDevicesRequest,
  ReportDevicesResponse,
} from '#contracts';
import { TokenStore } from '../../apps/api/src/auth/index.js';
import { AgentLivenessService, type OfflineAgent } from '../../apps/api/src/agents/index.js';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { pollUntil } from '../support/poll.js';

// Offline after 3.5 periods (875 ms): room for register, report and set-up on a loaded machine before the agent counts as silent.
const HEARTBEAT_MS = 250;
let api: TestApi;
let agentToken = '';
let viewerToken = '';

beforeAll(async () => {
  // Heartbeats every 5 s here (offline after 17.5 s), so only the liveness suite's own api marks agents dead.
  api = await startTestApi({ env: { FLASHFARM_AGENT_HEARTBEAT_MS: '5000' } });
  const store = new TokenStore(api.api.infra.database.prisma);
  agentToken = (await store.create({ name: 'agents', role: 'agent' })).secret;
  viewerToken = (await store.create({ name: 'qa', role: 'viewer' })).secret;
});
afterAll(async () => {
  await api?.close();
});

/** An agent token speaks for one agent: each registered name gets its own, found again by agent id. */
const tokenOfName = new Map<string, string>();
const tokenOfAgent = new Map<string, string>();

async function tokenFor(name: string): Promise<string> {
  let token = tokenOfName.get(name);
  if (!token) {
    token = (await new TokenStore(api.api.infra.database.prisma).create({ name, role: 'agent' })).secret;
    tokenOfName.set(name, token);
  }
  return token;
}

/** The token of the agent a path names (`/agents/<id>/…`), else the shared unbound one. */
function defaultToken(path: string): string {
  const id = /^\/agents\/([^/]+)\//.exec(path)?.[1];
  return (id && tokenOfAgent.get(id)) || agentToken;
}

async function post<T>(
  path: string,
  body: unknown,
  token = defaultToken(path),
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${api.baseUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function get<T>(path: string, token = viewerToken): Promise<{ status: number; body: T }> {
  const res = await fetch(`${api.baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as T };
}

async function register(name: string): Promise<string> {
  const token = await tokenFor(name);
  const { status, body } = await post<RegisterAgentResponse>(
    '/agents/register',
    { name, hostname: `${name}.lab`, version: '0.1.0', maxParallel: 4 },
    token,
  );
  expect(status).toBe(200);
  tokenOfAgent.set(body.agentId, token);
  return body.agentId;
}

function board(mac: string, portPath: string, chip = 'esp32s3'): ReportDevicesRequest['present'][number] {
  return {
    identity: {
      mac,
      chip,
      chipRevision: 2,
      features: ['WiFi', 'BLE'],
      crystalMhz: 40,
      flashSizeBytes: 8 << 20,
    },
    attachment: {
      portPath,
      usbVid: 0x303a,
      usbPid: 0x1001,
      usbSerial: `SN-${mac.slice(-2)}`,
      bridge: 'esp-usb-jtag',
    },
  };
}

function report(agentId: string, body: Partial<ReportDevicesRequest>) {
  return post<ReportDevicesResponse>(`/agents/${agentId}/devices`, {
    present: [],
    gone: [],
    complete: false,
    ...body,
  });
}

const prisma = () => api.api.infra.database.prisma;

describe('register and heartbeat', () => {
  it('registers idempotently by name and answers the heartbeat period', async () => {
    const a = await register('bench-1');
    const again = await post<RegisterAgentResponse>(
      '/agents/register',
      { name: 'bench-1', hostname: 'bench-1.lab', version: '0.2.0', maxParallel: 8 },
      await tokenFor('bench-1'),
    );
    // The answer names the farm's queue: an agent needs only the api URL and its token.
    expect(again.body).toEqual({ agentId: a, heartbeatMs: 5000, queue: { redisUrl: api.redisUrl } });
    const row = await prisma().agent.findUniqueOrThrow({ where: { id: a } });
    expect(row).toMatchObject({ version: '0.2.0', maxParallel: 8, status: 'online' });
    expect(await prisma().agent.count({ where: { name: 'bench-1' } })).toBe(1);
  });

  it('answers cancelRunIds with the listed runs of this agent that were cancelled', async () => {
    const agentId = await register('bench-cancel');
    const other = await register('bench-other');
    const firmware = await prisma().firmware.create({
      data: { sha256: 'f'.repeat(64), name: 'fw', chip: 'esp32', kind: 'parts', totalBytes: 1 },
    });
    const job = await prisma().job.create({
      data: { firmwareId: firmware.id, targetKind: 'all', requestedBy: 't' },
    });
    const mk = (slot: number, status: 'running' | 'cancelled', agent = agentId) =>
      prisma().run.create({ data: { jobId: job.id, slot, status, agentId: agent } });
    const [running, cancelled, foreign] = await Promise.all([
      mk(1, 'running'),
      mk(2, 'cancelled'),
      mk(3, 'cancelled', other),
    ]);
    const { status, body } = await post<AgentHeartbeatResponse>(`/agents/${agentId}/heartbeat`, {
      status: 'draining',
      runningRunIds: [running.id, cancelled.id, foreign.id, 'not-a-uuid'],
    });
    expect(status).toBe(200);
    expect(body.cancelRunIds).toEqual([cancelled.id]);
    expect((await prisma().agent.findUniqueOrThrow({ where: { id: agentId } })).status).toBe('draining');
  });

  it('refuses unknown agents, bad bodies and other roles', async () => {
    const unknown = await post<{ code: string }>('/agents/0190b4c3-0000-7000-8000-000000000000/heartbeat', {
      status: 'online',
      runningRunIds: [],
    });
    expect(unknown).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    const bad = await post<{ code: string; message: string }>('/agents/register', {
      name: 'x',
      hostname: 'h',
      version: '1',
      maxParallel: 0,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    expect(bad.body.message).toMatch(/maxParallel/);
    const viewer = await post<{ code: string }>(
      '/agents/register',
      { name: 'x', hostname: 'h', version: '1', maxParallel: 1 },
      viewerToken,
    );
    expect(viewer).toMatchObject({ status: 403, body: { code: 'FORBIDDEN' } });
  });
});

describe('device reports', () => {
  it('a board moving from agent A /dev/ttyUSB0 to agent B /dev/ttyACM3 keeps one record with two attachments', async () => {
    const a = await register('host-a');
    const b = await register('host-b');
    const first = await report(a, { present: [board('AA-BB-CC-00-00-01', '/dev/ttyUSB0')] });
    expect(first.status).toBe(200);
    expect(first.body.devices).toEqual([
      {
        deviceId: expect.any(String),
        mac: 'aa:bb:cc:00:00:01',
        state: 'idle',
        resetSequence: null,
        bestBaud: null,
      },
    ]);
    const deviceId = first.body.devices[0].deviceId;
    // Reported again on the same port: same stay, no new row.
    await report(a, { present: [board('aabbcc000001', '/dev/ttyUSB0')] });
    expect(await prisma().attachment.count({ where: { deviceId } })).toBe(1);

    // Unplugged from A (its port is reported empty), plugged into B.
    await report(a, { gone: ['/dev/ttyUSB0'] });
    const moved = await report(b, { present: [board('aa:bb:cc:00:00:01', '/dev/ttyACM3')] });
    expect(moved.body.devices[0].deviceId).toBe(deviceId);
    expect(await prisma().device.count({ where: { mac: 'aa:bb:cc:00:00:01' } })).toBe(1);
    const stays = await prisma().attachment.findMany({
      where: { deviceId },
      orderBy: { firstSeenAt: 'asc' },
    });
    expect(stays.map((s) => [s.agentId, s.portPath, s.detachedAt === null])).toEqual([
      [a, '/dev/ttyUSB0', false],
      [b, '/dev/ttyACM3', true],
    ]);
    expect(moved.body.devices[0].state).toBe('idle');
    expect(stays[1]).toMatchObject({
      usbVid: 0x303a,
      usbPid: 0x1001,
      usbSerial: 'SN-01',
      bridge: 'esp-usb-jtag',
    });
    const device = await prisma().device.findUniqueOrThrow({ where: { id: deviceId } });
    expect(device).toMatchObject({
      chip: 'esp32s3',
      chipRevision: 2,
      features: ['WiFi', 'BLE'],
      flashSizeBytes: 8 << 20,
    });
    expect((await get<{ deviceCount: number }>(`/agents/${a}`)).body.deviceCount).toBe(0);
    const agentB = await get<{ deviceCount: number; devices: Array<{ mac: string; portPath: string }> }>(
      `/agents/host-b`,
    );
    expect(agentB.body.deviceCount).toBe(1);
    expect(agentB.body.devices).toEqual([
      expect.objectContaining({ mac: 'aa:bb:cc:00:00:01', portPath: '/dev/ttyACM3' }),
    ]);
  });

  it('a board whose agent is offline moves to the agent that reports it', async () => {
    const a = await register('host-a2');
    const b = await register('host-b2');
    const first = await report(a, { present: [board('aa:bb:cc:00:00:02', '/dev/ttyUSB0')] });
    await prisma().agent.update({ where: { id: a }, data: { status: 'offline' } });
    const moved = await report(b, { present: [board('aa:bb:cc:00:00:02', '/dev/ttyUSB7')] });
    expect(moved.status).toBe(200);
    expect(moved.body.devices[0]).toMatchObject({ deviceId: first.body.devices[0].deviceId, state: 'idle' });
    const open = await prisma().attachment.findMany({
      where: { deviceId: first.body.devices[0].deviceId, detachedAt: null },
    });
    expect(open.map((o) => o.agentId)).toEqual([b]);
  });

  it('gone ports and complete lists take boards offline; a board seen again is idle unless quarantined or busy', async () => {
    const agent = await register('host-c');
    const { body } = await report(agent, {
      present: [
        board('02:00:00:00:00:01', '/dev/ttyUSB0'),
        board('02:00:00:00:00:02', '/dev/ttyUSB1'),
        board('02:00:00:00:00:03', '/dev/ttyUSB2'),
      ],
    });
    const [d1, d2, d3] = body.devices.map((d) => d.deviceId);
    const state = async (id: string) => (await prisma().device.findUniqueOrThrow({ where: { id } })).state;
    const open = (id: string) => prisma().attachment.count({ where: { deviceId: id, detachedAt: null } });

    await report(agent, { gone: ['/dev/ttyUSB0'] });
    expect(await state(d1)).toBe('offline');
    expect(await open(d1)).toBe(0);

    // d3 is flashing; a complete list without d2 and d3: d2 goes offline, d3 stays busy.
    await prisma().device.update({ where: { id: d3 }, data: { state: 'busy' } });
    await report(agent, { present: [board('02:00:00:00:00:01', '/dev/ttyUSB0')], complete: true });
    expect([await state(d1), await state(d2), await state(d3)]).toEqual(['idle', 'offline', 'busy']);
    expect([await open(d1), await open(d2), await open(d3)]).toEqual([1, 0, 0]);

    await prisma().device.update({
      where: { id: d2 },
      data: { state: 'quarantined', quarantineReason: 'flash errors' },
    });
    const back = await report(agent, { present: [board('02:00:00:00:00:02', '/dev/ttyUSB1')] });
    expect(back.body.devices[0].state).toBe('quarantined');
  });

  it('a different board on a port closes the stay of the board that was there', async () => {
    const agent = await register('host-d');
    const first = await report(agent, { present: [board('04:00:00:00:00:01', '/dev/ttyUSB0')] });
    await report(agent, { present: [board('04:00:00:00:00:02', '/dev/ttyUSB0')] });
    const old = first.body.devices[0].deviceId;
    expect(await prisma().attachment.count({ where: { deviceId: old, detachedAt: null } })).toBe(0);
    expect((await prisma().device.findUniqueOrThrow({ where: { id: old } })).state).toBe('offline');
  });

  it('refuses an invalid MAC or chip, naming the field, and stores nothing', async () => {
    const agent = await register('host-e');
    const before = await prisma().device.count();
    const res = await report(agent, {
      present: [board('not-a-mac', '/dev/ttyUSB0'), board('06:00:00:00:00:01', '/dev/ttyUSB1', 'esp99')],
    });
    expect(res.status).toBe(400);
    const problem = res.body as unknown as { code: string; details: Array<{ field: string }> };
    expect(problem.code).toBe('VALIDATION_FAILED');
    expect(problem.details.map((d) => d.field)).toEqual([
      'present[0].identity.mac',
      'present[1].identity.chip',
    ]);
    expect(await prisma().device.count()).toBe(before);
  });
});

describe('liveness', () => {
  // A fast heartbeat for this suite only; it shares the database with the main api.
  let fast: TestApi;
  let main: TestApi;
  beforeAll(async () => {
    main = api;
    fast = await startTestApi({
      database: api.database,
      env: { FLASHFARM_AGENT_HEARTBEAT_MS: String(HEARTBEAT_MS) },
    });
    api = fast;
  });
  afterAll(async () => {
    api = main;
    await fast?.close();
  });

  it('marks a silent agent offline after 3 missed heartbeats, with its idle boards, and tells listeners', async () => {
    const liveness = api.api.app.get(AgentLivenessService);
    const seen: OfflineAgent[] = [];
    const off = liveness.onAgentOffline((a) => void seen.push(a));
    try {
      // Taken before registering: the agent's last sign of life is at or after this moment.
      const registeredAt = Date.now();
      const agent = await register('host-silent');
      const { body } = await report(agent, {
        present: [board('08:00:00:00:00:01', '/dev/ttyUSB0'), board('08:00:00:00:00:02', '/dev/ttyUSB1')],
      });
      const [idle, busy] = body.devices.map((d) => d.deviceId);
      await prisma().device.update({ where: { id: busy }, data: { state: 'busy' } });
      // The listeners are told last (after the agent row and its idle boards are updated): wait for them.
      await pollUntil(() => seen.some((a) => a.id === agent), {
        what: 'the offline listener to be told about the silent agent',
        timeoutMs: 5_000,
      });
      expect(Date.now() - registeredAt).toBeGreaterThanOrEqual(3 * HEARTBEAT_MS);
      expect((await prisma().agent.findUniqueOrThrow({ where: { id: agent } })).status).toBe('offline');
      expect((await prisma().device.findUniqueOrThrow({ where: { id: idle } })).state).toBe('offline');
      expect((await prisma().device.findUniqueOrThrow({ where: { id: busy } })).state).toBe('busy');

      // Back: the heartbeat makes it online and its still-attached idle boards usable.
      await post(`/agents/${agent}/heartbeat`, { status: 'online', runningRunIds: [] });
      expect((await prisma().agent.findUniqueOrThrow({ where: { id: agent } })).status).toBe('online');
      expect((await prisma().device.findUniqueOrThrow({ where: { id: idle } })).state).toBe('idle');
    } finally {
      off();
    }
  });

  it('keeps an agent that heartbeats on time online, and checks as late as the window allows', async () => {
    const liveness = api.api.app.get(AgentLivenessService);
    const agent = await register('host-steady');
    /** One liveness pass as of `at` (a pass already under way is let finish first, so this one runs). */
    const checkAt = async (at: number) => {
      await liveness.checkNow();
      return (await liveness.checkNow(new Date(at))).map((a) => a.id);
    };
    for (let beat = 0; beat < 3; beat++) {
      const sentAt = Date.now();
      await post(`/agents/${agent}/heartbeat`, { status: 'online', runningRunIds: [] });
      // The last moment before the agent would count as silent: still online.
      expect(await checkAt(sentAt + liveness.offlineAfterMs - 50)).not.toContain(agent);
      expect((await prisma().agent.findUniqueOrThrow({ where: { id: agent } })).status).toBe('online');
    }
    // Just past the window the same check marks it: the checks above could have failed.
    expect(await checkAt(Date.now() + liveness.offlineAfterMs + 50)).toContain(agent);
  });
});

describe('agent views', () => {
  it('lists agents with status, version and board count for people, not for agent tokens', async () => {
    const list =
      await get<
        Array<{ name: string; status: string; version: string; deviceCount: number; lastHeartbeatAt: string }>
      >('/agents');
    expect(list.status).toBe(200);
    const b = list.body.find((a) => a.name === 'host-b');
    expect(b).toMatchObject({ version: '0.1.0', deviceCount: 1 });
    expect((await get('/agents', agentToken)).status).toBe(403);
    expect((await get('/agents/nobody')).status).toBe(404);
  });
});

describe('agent identity', () => {
  const body = (name: string) => ({ name, hostname: `${name}.lab`, version: '1', maxParallel: 2 });
  const events = async (type: string) =>
    (
      await get<{ items: Array<{ type: string; message: string; details: Record<string, unknown> }> }>(
        `/farm-events?type=${type}`,
      )
    ).body.items;

  it('binds an unbound agent token to the first agent it registers, and refuses it any other', async () => {
    const token = (await new TokenStore(prisma()).create({ name: 'rack-7-token', role: 'agent' })).secret;
    const first = await post<RegisterAgentResponse>('/agents/register', body('rack-7'), token);
    expect(first.status).toBe(200);
    expect((await prisma().apiToken.findFirstOrThrow({ where: { name: 'rack-7-token' } })).agentName).toBe(
      'rack-7',
    );
    const other = await post<{ code: string; message: string }>('/agents/register', body('rack-8'), token);
    expect(other.status).toBe(403);
    expect(other.body.code).toBe('AGENT_IDENTITY_REFUSED');
    expect(other.body.message).toMatch(/speaks for agent "rack-7"/);
    expect(await prisma().agent.count({ where: { name: 'rack-8' } })).toBe(0);
    expect((await events('agent.identity-refused')).map((e) => e.details.agent)).toContain('rack-8');
  });

  it("refuses another agent's token registering an existing agent's name (no takeover)", async () => {
    const victim = await register('victim');
    const evil = await tokenFor('evil-agent');
    const taken = await post<{ code: string; message: string }>('/agents/register', body('victim'), evil);
    expect(taken).toMatchObject({ status: 403, body: { code: 'AGENT_IDENTITY_REFUSED' } });
    expect(taken.body.message).toMatch(/belongs to token "victim"/);
    // Nor may it act on the victim's id: heartbeat, device report, run claim.
    const evilId = (await post<RegisterAgentResponse>('/agents/register', body('evil-agent'), evil)).body
      .agentId;
    expect(evilId).not.toBe(victim);
    const asVictim = [
      await post(`/agents/${victim}/heartbeat`, { status: 'online', runningRunIds: [] }, evil),
      await post(`/agents/${victim}/devices`, { present: [], gone: [], complete: true }, evil),
      await post(`/agents/${victim}/runs/0190b4c3-0000-7000-8000-000000000000/claim`, { attempt: 1 }, evil),
    ];
    expect(asVictim.map((r) => [r.status, (r.body as { code: string }).code])).toEqual([
      [403, 'AGENT_IDENTITY_REFUSED'],
      [403, 'AGENT_IDENTITY_REFUSED'],
      [403, 'AGENT_IDENTITY_REFUSED'],
    ]);
  });

  it('an admin-made token for a named agent works for that agent only', async () => {
    const token = (
      await new TokenStore(prisma()).create({ name: 'for-rack-9', role: 'agent', agentName: 'rack-9' })
    ).secret;
    expect((await post('/agents/register', body('rack-10'), token)).status).toBe(403);
    expect((await post('/agents/register', body('rack-9'), token)).status).toBe(200);
  });
});

describe('duplicate MACs', () => {
  type Problem = { code: string; message: string; details: Array<{ field: string; message: string }> };
  const device = (mac: string) => prisma().device.findUniqueOrThrow({ where: { mac } });
  const openPorts = async (mac: string) =>
    (
      await prisma().attachment.findMany({
        where: { device: { mac }, detachedAt: null },
        orderBy: { firstSeenAt: 'asc' },
        select: { portPath: true, agent: { select: { name: true } } },
      })
    ).map((a) => `${a.agent.name}:${a.portPath}`);

  it('a MAC held by another live agent is a conflict (409 + event), not a move; both ports are held until one goes', async () => {
    const owner = await register('clone-owner');
    const impostor = await register('clone-impostor');
    const mac = 'c0:00:00:00:00:01';
    expect((await report(owner, { present: [board(mac, '/dev/ttyUSB0')] })).status).toBe(200);
    const clash = await report(impostor, { present: [board(mac, '/dev/evil0')] });
    expect(clash.status).toBe(409);
    const problem = clash.body as unknown as Problem;
    expect(problem.code).toBe('DEVICE_CONFLICT');
    expect(problem.message).toContain('clone-owner:/dev/ttyUSB0');
    expect(problem.message).toContain('clone-impostor:/dev/evil0');
    // Not moved: the owner's stay is still open, next to the impostor's; the board is held.
    expect(await openPorts(mac)).toEqual(['clone-owner:/dev/ttyUSB0', 'clone-impostor:/dev/evil0']);
    const held = await get<{ state: string; conflictReason: string | null }>(`/devices/${mac}`);
    expect(held.body.state).toBe('conflict');
    expect(held.body.conflictReason).toMatch(/answers on 2 live ports/);
    const conflicts = await get<{ items: Array<{ mac: string | null; type: string }> }>(
      '/farm-events?type=device.conflict',
    );
    expect(conflicts.body.items.filter((e) => e.mac === mac)).toHaveLength(1);

    // Reported again by both (as agents do on every change): still held, no new event, no flapping.
    for (let i = 0; i < 3; i++) {
      expect((await report(owner, { present: [board(mac, '/dev/ttyUSB0')], complete: true })).status).toBe(
        409,
      );
      expect((await report(impostor, { present: [board(mac, '/dev/evil0')], complete: true })).status).toBe(
        409,
      );
    }
    expect(await openPorts(mac)).toEqual(['clone-owner:/dev/ttyUSB0', 'clone-impostor:/dev/evil0']);
    expect((await device(mac)).state).toBe('conflict');
    expect(await prisma().farmEvent.count({ where: { mac, type: 'device.conflict' } })).toBe(1);
    expect(await prisma().attachment.count({ where: { device: { mac } } })).toBe(2);

    // The clone goes away: the board is the owner's again.
    expect((await report(impostor, { gone: ['/dev/evil0'] })).status).toBe(200);
    expect(await openPorts(mac)).toEqual(['clone-owner:/dev/ttyUSB0']);
    expect((await device(mac)).state).toBe('idle');
    expect(await prisma().farmEvent.count({ where: { mac, type: 'device.conflict-resolved' } })).toBe(1);
  });

  it('two ports of one agent with one MAC are both held; an operator picks the real board', async () => {
    const agent = await register('twin-host');
    const mac = 'c0:00:00:00:00:02';
    const twins = { present: [board(mac, '/dev/ttyUSB0'), board(mac, '/dev/ttyUSB1')], complete: true };
    const first = await report(agent, twins);
    expect(first.status).toBe(409);
    expect(await openPorts(mac)).toEqual(['twin-host:/dev/ttyUSB0', 'twin-host:/dev/ttyUSB1']);
    expect((await device(mac)).state).toBe('conflict');
    // Metrics count it.
    const metrics = await fetch(`${api.baseUrl}/metrics`, {
      headers: { authorization: `Bearer ${viewerToken}` },
    });
    expect(await metrics.text()).toMatch(/flashfarm_devices\{state="conflict",chip="esp32s3"\} [1-9]/);

    const operator = (await new TokenStore(prisma()).create({ name: 'ops', role: 'operator' })).secret;
    const wrong = await post<{ code: string }>(
      `/devices/${mac}/resolve-conflict`,
      { agent: 'twin-host', portPath: '/dev/ttyUSB9' },
      operator,
    );
    expect(wrong).toMatchObject({ status: 409, body: { code: 'CONFLICT' } });
    const resolved = await post<{ state: string; conflictReason: string | null }>(
      `/devices/${mac}/resolve-conflict`,
      { agent: 'twin-host', portPath: '/dev/ttyUSB1' },
      operator,
    );
    expect(resolved).toMatchObject({ status: 200, body: { state: 'idle', conflictReason: null } });
    expect(await openPorts(mac)).toEqual(['twin-host:/dev/ttyUSB1']);
    // The refused port keeps answering with the MAC: ignored, the board stays idle on the port kept.
    const again = await report(agent, twins);
    expect(again.status).toBe(200);
    expect(again.body.devices.map((d) => d.mac)).toEqual([mac]);
    expect(await openPorts(mac)).toEqual(['twin-host:/dev/ttyUSB1']);
    expect((await device(mac)).state).toBe('idle');
    // Once that port is reported empty, what answers there next is judged afresh.
    await report(agent, { present: [board(mac, '/dev/ttyUSB1')], complete: true });
    expect((await report(agent, twins)).status).toBe(409);
  });
});

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

async function post<T>(
  path: string,
  body: unknown,
  token = agentToken,
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
  const { status, body } = await post<RegisterAgentResponse>('/agents/register', {
    name,
    hostname: `${name}.lab`,
    version: '0.1.0',
    maxParallel: 4,
  });
  expect(status).toBe(200);
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
    const again = await post<RegisterAgentResponse>('/agents/register', {
      name: 'bench-1',
      hostname: 'bench-1.lab',
      version: '0.2.0',
      maxParallel: 8,
    });
    expect(again.body).toEqual({ agentId: a, heartbeatMs: 5000 });
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

/**
 * The device routes against the real api on PostgreSQL: search with filters,
 * sorting and totals; lookup by id or any MAC spelling; run and attachment
 * history; settings with a validated reset sequence; quarantine and release;
 * roles and 404s with readable messages.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ReportDevicesRequest } from '#contracts';
import { TokenStore } from '../../apps/api/src/auth/index.js';
import { startTestApi, type TestApi } from '../support/api-app.js';
import type { DeviceDetailView, Page, ProblemBody } from '#contracts';

let api: TestApi;
const t = { agent: '', viewer: '', operator: '', ci: '' };
const agents: Record<string, string> = {};
/** An agent token speaks for one agent: one per rack. */
const agentTokens: Record<string, string> = {};

async function call<T>(
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${api.baseUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

function present(mac: string, chip: string, portPath: string): ReportDevicesRequest['present'][number] {
  return { identity: { mac, chip }, attachment: { portPath, usbSerial: `SER-${mac.slice(-5)}` } };
}

beforeAll(async () => {
  api = await startTestApi();
  const store = new TokenStore(api.api.infra.database.prisma);
  for (const role of Object.keys(t) as Array<keyof typeof t>)
    t[role] = (await store.create({ name: `${role}-1`, role })).secret;
  for (const name of ['rack-1', 'rack-2']) {
    agentTokens[name] = (await store.create({ name, role: 'agent', agentName: name })).secret;
    const r = await call<{ agentId: string }>('POST', '/agents/register', agentTokens[name], {
      name,
      hostname: name,
      version: '1',
      maxParallel: 4,
    });
    agents[name] = r.body.agentId;
  }
  await call('POST', `/agents/${agents['rack-1']}/devices`, agentTokens['rack-1'], {
    present: [
      present('10:00:00:00:00:01', 'esp32', '/dev/ttyUSB0'),
      present('10:00:00:00:00:02', 'esp32', '/dev/ttyUSB1'),
      present('10:00:00:00:00:03', 'esp32c3', '/dev/ttyACM0'),
    ],
    gone: [],
    complete: true,
  });
  await call('POST', `/agents/${agents['rack-2']}/devices`, agentTokens['rack-2'], {
    present: [
      present('20:00:00:00:00:01', 'esp32s3', '/dev/ttyACM0'),
      present('20:00:00:00:00:02', 'esp32', '/dev/ttyUSB0'),
    ],
    gone: [],
    complete: true,
  });
  const prisma = api.api.infra.database.prisma;
  await prisma.device.update({
    where: { mac: '10:00:00:00:00:01' },
    data: { pool: 'line-a', tags: ['wroom', 'v2'], label: 'Bench left' },
  });
  await prisma.device.update({
    where: { mac: '10:00:00:00:00:02' },
    data: { pool: 'line-a', tags: ['wroom'] },
  });
  await prisma.device.update({ where: { mac: '20:00:00:00:00:02' }, data: { state: 'busy', tags: ['v2'] } });
});
afterAll(async () => {
  await api?.close();
});

const macs = (p: Page<DeviceDetailView>) => p.items.map((d) => d.mac);

describe('GET /devices', () => {
  it('lists every device with its current attachment and a total', async () => {
    const { status, body } = await call<Page<DeviceDetailView>>('GET', '/devices', t.viewer);
    expect(status).toBe(200);
    expect(body.total).toBe(5);
    expect(macs(body)).toEqual([
      '10:00:00:00:00:01',
      '10:00:00:00:00:02',
      '10:00:00:00:00:03',
      '20:00:00:00:00:01',
      '20:00:00:00:00:02',
    ]);
    expect(body.items[0].attachment).toMatchObject({
      agentName: 'rack-1',
      portPath: '/dev/ttyUSB0',
      usbSerial: 'SER-00:01',
    });
  });

  it('filters by chip, pool, every tag, state, agent and MAC or label text', async () => {
    const q = async (query: string) =>
      macs((await call<Page<DeviceDetailView>>('GET', `/devices?${query}`, t.viewer)).body);
    expect(await q('chip=ESP32')).toEqual(['10:00:00:00:00:01', '10:00:00:00:00:02', '20:00:00:00:00:02']);
    expect(await q('pool=line-a&tag=wroom&tag=v2')).toEqual(['10:00:00:00:00:01']);
    expect(await q('tag=v2')).toEqual(['10:00:00:00:00:01', '20:00:00:00:00:02']);
    expect(await q('state=busy')).toEqual(['20:00:00:00:00:02']);
    expect(await q('state=idle,busy&agent=rack-2')).toEqual(['20:00:00:00:00:01', '20:00:00:00:00:02']);
    expect(await q(`agent=${agents['rack-1']}&chip=esp32c3`)).toEqual(['10:00:00:00:00:03']);
    expect(await q('search=20-00-00-00-00-01')).toEqual(['20:00:00:00:00:01']);
    expect(await q('search=0003')).toEqual(['10:00:00:00:00:03']);
    expect(await q('search=bench')).toEqual(['10:00:00:00:00:01']);
  });

  it('sorts and pages', async () => {
    const first = (await call<Page<DeviceDetailView>>('GET', '/devices?sort=-mac&limit=2', t.viewer)).body;
    expect(first).toMatchObject({ total: 5, limit: 2, offset: 0 });
    expect(macs(first)).toEqual(['20:00:00:00:00:02', '20:00:00:00:00:01']);
    const third = (await call<Page<DeviceDetailView>>('GET', '/devices?sort=-mac&limit=2&offset=4', t.viewer))
      .body;
    expect(macs(third)).toEqual(['10:00:00:00:00:01']);
    const byLabel = (await call<Page<DeviceDetailView>>('GET', '/devices?sort=label', t.viewer)).body;
    expect(byLabel.items[0].label).toBe('Bench left');
    // The page bounds hold for the list and the history routes alike.
    expect((await call('GET', '/devices?limit=500', t.viewer)).status).toBe(200);
    const tooMany = await call<{ code: string; message: string }>('GET', '/devices?limit=501', t.viewer);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.code).toBe('VALIDATION_FAILED');
    expect(tooMany.body.message).toMatch(/limit/);
    const badOffset = await call('GET', '/devices/10:00:00:00:00:01/runs?offset=-1', t.viewer);
    expect(badOffset.status).toBe(400);
  });

  it('refuses a bad filter with VALIDATION_FAILED', async () => {
    const bad = await call<ProblemBody>('GET', '/devices?state=sleeping', t.viewer);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/state must be one of: idle, busy, offline, quarantined/);
    expect((await call<ProblemBody>('GET', '/devices?sort=colour', t.viewer)).status).toBe(400);
  });
});

describe('one device', () => {
  it('is found by id and by any MAC spelling', async () => {
    const byMac = await call<DeviceDetailView>('GET', '/devices/10-00-00-00-00-01', t.viewer);
    expect(byMac.status).toBe(200);
    expect(byMac.body).toMatchObject({
      mac: '10:00:00:00:00:01',
      pool: 'line-a',
      counts: { runs: 0, attachments: 1 },
    });
    for (const key of [byMac.body.id, '100000000001', '10:00:00:00:00:01', '1000.0000.0001'])
      expect((await call<DeviceDetailView>('GET', `/devices/${key}`, t.viewer)).body.id).toBe(byMac.body.id);
  });

  it('answers 404 for an unknown device, saying what was looked up', async () => {
    const unknown = await call<ProblemBody>('GET', '/devices/de:ad:be:ef:00:00', t.viewer);
    expect(unknown).toMatchObject({ status: 404, body: { code: 'NOT_FOUND' } });
    expect(unknown.body.message).toMatch(/de:ad:be:ef:00:00/);
    const nonsense = await call<ProblemBody>('GET', '/devices/tuesday', t.viewer);
    expect(nonsense.status).toBe(404);
    expect(nonsense.body.message).toMatch(/neither a device id nor a MAC/);
    expect(
      (await call<ProblemBody>('PATCH', '/devices/de:ad:be:ef:00:00', t.operator, { label: 'x' })).status,
    ).toBe(404);
  });

  it('lists the attachment history after a move, newest first', async () => {
    // Unplugged from rack-1 (its port reported empty), plugged into rack-2.
    await call('POST', `/agents/${agents['rack-1']}/devices`, agentTokens['rack-1'], {
      present: [],
      gone: ['/dev/ttyACM0'],
      complete: false,
    });
    await call('POST', `/agents/${agents['rack-2']}/devices`, agentTokens['rack-2'], {
      present: [present('10:00:00:00:00:03', 'esp32c3', '/dev/ttyACM3')],
      gone: [],
      complete: false,
    });
    const { body } = await call<
      Page<{ agentName: string; portPath: string; current: boolean; detachedAt: string | null }>
    >('GET', '/devices/10:00:00:00:00:03/attachments', t.viewer);
    expect(body.total).toBe(2);
    expect(body.items.map((a) => [a.agentName, a.portPath, a.current])).toEqual([
      ['rack-2', '/dev/ttyACM3', true],
      ['rack-1', '/dev/ttyACM0', false],
    ]);
  });

  it('lists runs newest first with firmware and error', async () => {
    const prisma = api.api.infra.database.prisma;
    const device = await prisma.device.findUniqueOrThrow({ where: { mac: '10:00:00:00:00:02' } });
    const fw = await prisma.firmware.create({
      data: {
        sha256: 'e'.repeat(64),
        name: 'blink',
        version: '1.0',
        chip: 'esp32',
        kind: 'parts',
        totalBytes: 10,
      },
    });
    const job = await prisma.job.create({
      data: { firmwareId: fw.id, targetKind: 'device', targetDeviceId: device.id, requestedBy: 'ci-1' },
    });
    const base = Date.now();
    for (let i = 0; i < 3; i++)
      await prisma.run.create({
        data: {
          jobId: job.id,
          slot: 1,
          attempt: i + 1,
          deviceId: device.id,
          status: i < 2 ? 'failed' : 'succeeded',
          errorCode: i < 2 ? 'NO_SYNC' : null,
          queuedAt: new Date(base + i * 1000),
        },
      });
    const { body } = await call<
      Page<{ attempt: number; status: string; errorCode: string | null; firmware: { name: string } }>
    >('GET', '/devices/10:00:00:00:00:02/runs?limit=2', t.viewer);
    expect(body.total).toBe(3);
    expect(body.items.map((r) => [r.attempt, r.status, r.errorCode, r.firmware.name])).toEqual([
      [3, 'succeeded', null, 'blink'],
      [2, 'failed', 'NO_SYNC', 'blink'],
    ]);
    expect(
      (await call<DeviceDetailView>('GET', '/devices/10:00:00:00:00:02', t.viewer)).body.counts,
    ).toMatchObject({
      runs: 3,
      succeeded: 1,
      failed: 2,
    });
  });
});

describe('editing', () => {
  it('changes pool, tags, label, notes and a normalised reset sequence', async () => {
    const res = await call<DeviceDetailView & { notes: string }>(
      'PATCH',
      '/devices/20:00:00:00:00:01',
      t.operator,
      {
        pool: 'line-b',
        tags: ['s3', 'usb', 's3'],
        label: 'Top shelf',
        notes: 'needs a powered hub',
        resetSequence: 'D0|R1|W100|D1|R0|W50|D0',
      },
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      pool: 'line-b',
      tags: ['s3', 'usb'],
      label: 'Top shelf',
      notes: 'needs a powered hub',
    });
    expect(res.body.resetSequence).toMatch(/^D0\|R1\|W100/);
    const cleared = await call<DeviceDetailView>('PATCH', '/devices/20:00:00:00:00:01', t.operator, {
      pool: null,
      resetSequence: null,
    });
    expect(cleared.body).toMatchObject({ pool: null, resetSequence: null, label: 'Top shelf' });
  });

  it('refuses a malformed reset sequence with a message that shows the notation', async () => {
    const before = await api.api.infra.database.prisma.device.findUniqueOrThrow({
      where: { mac: '20:00:00:00:00:01' },
    });
    const res = await call<ProblemBody>('PATCH', '/devices/20:00:00:00:00:01', t.operator, {
      resetSequence: 'D0|X1|W100',
      label: 'changed',
    });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.details?.[0].field).toBe('resetSequence');
    expect(res.body.message).toMatch(/X1/);
    expect(res.body.message).toMatch(/D0\|R1\|W100/);
    const after = await api.api.infra.database.prisma.device.findUniqueOrThrow({
      where: { mac: '20:00:00:00:00:01' },
    });
    expect(after.label).toBe(before.label);
  });

  it('refuses unknown fields and bad tags', async () => {
    const res = await call<ProblemBody>('PATCH', '/devices/20:00:00:00:00:01', t.operator, { chip: 'esp32' });
    expect(res.status).toBe(400);
    expect(res.body.message).toMatch(/chip should not exist/);
    expect(
      (await call<ProblemBody>('PATCH', '/devices/20:00:00:00:00:01', t.operator, { tags: ['has space'] }))
        .status,
    ).toBe(400);
  });

  it('quarantines with a reason, refuses while flashing, and releases', async () => {
    const q = await call<DeviceDetailView>('POST', '/devices/10:00:00:00:00:01/quarantine', t.operator, {
      reason: 'flash errors at 0x10000',
    });
    expect(q.status).toBe(200);
    expect(q.body).toMatchObject({ state: 'quarantined', quarantineReason: 'flash errors at 0x10000' });
    const idle = await call<Page<DeviceDetailView>>('GET', '/devices?state=quarantined', t.viewer);
    expect(macs(idle.body)).toEqual(['10:00:00:00:00:01']);
    const busy = await call<ProblemBody>('POST', '/devices/20:00:00:00:00:02/quarantine', t.operator, {
      reason: 'x',
    });
    expect(busy.status).toBe(409);
    expect(busy.body.message).toMatch(/is flashing/);
    expect(
      (await call<ProblemBody>('POST', '/devices/10:00:00:00:00:01/quarantine', t.operator, { reason: '' }))
        .status,
    ).toBe(400);
    const released = await call<DeviceDetailView & { consecutiveFailures: number }>(
      'POST',
      '/devices/10:00:00:00:00:01/release',
      t.operator,
    );
    expect(released.body).toMatchObject({ state: 'idle', quarantineReason: null, consecutiveFailures: 0 });
  });

  it('leaves editing to operators and admins', async () => {
    for (const token of [t.viewer, t.ci, t.agent]) {
      const res = await call<ProblemBody>('PATCH', '/devices/10:00:00:00:00:01', token, { label: 'nope' });
      expect(res.status).toBe(403);
      expect(res.body.message).toMatch(/needs one of: admin, operator/);
    }
    expect((await call<ProblemBody>('GET', '/devices', t.agent)).status).toBe(403);
    expect((await call<ProblemBody>('GET', '/devices', '')).status).toBe(401);
  });
});

/**
 * The data model against a real PostgreSQL server: every model written and
 * read back, the constraints that keep the farm honest, cascade rules, and
 * a drift check that fails when schema.prisma changes without a migration.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient, Prisma } from '../../apps/api/src/db/generated/prisma/client.js';
import { Migrator } from '../../apps/api/src/db/migrator.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

let database: TestDatabase;
let prisma: PrismaClient;

beforeAll(async () => {
  database = await createTestDatabase();
  prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: database.url }) });
});

afterAll(async () => {
  await prisma.$disconnect();
  await database.drop();
});

function uniqueViolation(error: unknown): string | undefined {
  return error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002'
    ? error.code
    : undefined;
}

async function seedFarm(suffix: string) {
  const agent = await prisma.agent.create({
    data: { name: `host-${suffix}`, hostname: `host-${suffix}`, version: '0.1.0' },
  });
  const device = await prisma.device.create({
    data: {
      mac: `24:0a:c4:00:00:${suffix}`,
      chip: 'esp32',
      chipRevision: 301,
      chipDescription: 'ESP32-D0WD-V3 (revision v3.1)',
      features: ['WiFi', 'BT', 'Dual Core'],
      crystalMhz: 40,
      flashJedecId: 0xc84016,
      flashSizeBytes: 4 * 1024 * 1024,
      pool: 'line-1',
      tags: ['qa', 'rev3'],
    },
  });
  const attachment = await prisma.attachment.create({
    data: {
      deviceId: device.id,
      agentId: agent.id,
      portPath: '/dev/ttyUSB0',
      usbVid: 0x10c4,
      usbPid: 0xea60,
      usbSerial: 'A1',
      bridge: 'cp210x',
    },
  });
  const firmware = await prisma.firmware.create({
    data: {
      sha256: `sha-${suffix}`.padEnd(64, '0'),
      name: 'blink',
      version: '1.0.0',
      chip: 'esp32',
      kind: 'parts',
      totalBytes: 3 * 4096,
      parts: {
        create: [
          {
            offset: 0x1000,
            size: 4096,
            sha256: 'a'.repeat(64),
            md5: 'a'.repeat(32),
            role: 'bootloader',
            fileName: 'bootloader.bin',
          },
          {
            offset: 0x8000,
            size: 4096,
            sha256: 'b'.repeat(64),
            md5: 'b'.repeat(32),
            role: 'partition_table',
            fileName: 'partitions.bin',
          },
          {
            offset: 0x10000,
            size: 4096,
            sha256: 'c'.repeat(64),
            md5: 'c'.repeat(32),
            role: 'app',
            fileName: 'blink.bin',
          },
        ],
      },
    },
  });
  const job = await prisma.job.create({
    data: {
      firmwareId: firmware.id,
      targetKind: 'selector',
      selector: { chip: 'esp32', pool: 'line-1' },
      count: 1,
      requestedBy: 'ci',
    },
  });
  const run = await prisma.run.create({
    data: {
      jobId: job.id,
      slot: 0,
      deviceId: device.id,
      agentId: agent.id,
      status: 'running',
      stage: 'write',
    },
  });
  await prisma.runLogLine.createMany({
    data: [1, 2, 3].map((seq) => ({
      runId: run.id,
      seq,
      ts: new Date(),
      level: 'info' as const,
      stage: 'write',
      text: `line ${seq}`,
    })),
  });
  return { agent, device, attachment, firmware, job, run };
}

describe('data model on PostgreSQL', () => {
  it('stores and reads back every model with its relations', async () => {
    const { device, job, run } = await seedFarm('01');
    await prisma.apiToken.create({
      data: { name: 'ci-main', role: 'ci', tokenHash: 'h'.repeat(64), prefix: 'ff_ab12' },
    });

    const loaded = await prisma.device.findUniqueOrThrow({
      where: { mac: device.mac },
      include: {
        attachments: { include: { agent: true } },
        runs: { include: { logLines: { orderBy: { seq: 'asc' } } } },
      },
    });
    expect(loaded.chip).toBe('esp32');
    expect(loaded.features).toEqual(['WiFi', 'BT', 'Dual Core']);
    expect(loaded.tags).toEqual(['qa', 'rev3']);
    expect(loaded.state).toBe('idle');
    expect(loaded.attachments[0]?.agent.name).toBe('host-01');
    expect(loaded.runs[0]?.logLines.map((l) => l.text)).toEqual(['line 1', 'line 2', 'line 3']);

    const fullJob = await prisma.job.findUniqueOrThrow({
      where: { id: job.id },
      include: { firmware: { include: { parts: true } }, runs: true },
    });
    expect(fullJob.firmware.parts.map((p) => p.role).sort()).toEqual([
      'app',
      'bootloader',
      'partition_table',
    ]);
    expect(fullJob.runs.map((r) => r.id)).toEqual([run.id]);
    expect(fullJob.selector).toEqual({ chip: 'esp32', pool: 'line-1' });

    const token = await prisma.apiToken.findUniqueOrThrow({ where: { tokenHash: 'h'.repeat(64) } });
    expect(token.role).toBe('ci');
    expect(token.revokedAt).toBeNull();
  });

  it('finds boards by tag through the GIN-indexed array column', async () => {
    await seedFarm('02');
    const tagged = await prisma.device.findMany({
      where: { tags: { hasEvery: ['qa', 'rev3'] }, chip: 'esp32' },
    });
    expect(tagged.map((d) => d.mac)).toContain('24:0a:c4:00:00:02');
    const none = await prisma.device.findMany({ where: { tags: { has: 'no-such-tag' } } });
    expect(none).toEqual([]);
  });

  it('refuses a second device with the same MAC', async () => {
    await prisma.device.create({ data: { mac: '24:0a:c4:00:00:aa', chip: 'esp32' } });
    const second = prisma.device.create({ data: { mac: '24:0a:c4:00:00:aa', chip: 'esp32s3' } });
    await expect(second.catch(uniqueViolation)).resolves.toBe('P2002');
  });

  it('refuses to bind one run to two devices, and a log line stored twice', async () => {
    const { run, device } = await seedFarm('03');
    await prisma.device.update({ where: { id: device.id }, data: { state: 'busy', currentRunId: run.id } });
    const other = await prisma.device.create({ data: { mac: '24:0a:c4:00:00:bb', chip: 'esp32' } });
    const doubleBind = prisma.device.update({ where: { id: other.id }, data: { currentRunId: run.id } });
    await expect(doubleBind.catch(uniqueViolation)).resolves.toBe('P2002');
    const duplicateLine = prisma.runLogLine.create({
      data: { runId: run.id, seq: 2, ts: new Date(), level: 'info', text: 'again' },
    });
    await expect(duplicateLine.catch(uniqueViolation)).resolves.toBe('P2002');
  });

  it('refuses a reused idempotency key in one scope (token) and a second attempt row with the same number', async () => {
    const { job, firmware } = await seedFarm('04');
    const scope = 'token:0190a000-0000-7000-8000-000000000001';
    await prisma.job.update({
      where: { id: job.id },
      data: { idempotencyKey: 'pipeline-77-step-3', idempotencyScope: scope },
    });
    const keyed = (idempotencyScope: string) =>
      prisma.job.create({
        data: {
          firmwareId: firmware.id,
          targetKind: 'all',
          requestedBy: 'ci',
          idempotencyKey: 'pipeline-77-step-3',
          idempotencyScope,
        },
      });
    await expect(keyed(scope).catch(uniqueViolation)).resolves.toBe('P2002');
    // Another token's same key is another job.
    await expect(keyed('token:0190a000-0000-7000-8000-000000000002')).resolves.toMatchObject({
      idempotencyKey: 'pipeline-77-step-3',
    });
    const sameAttempt = prisma.run.create({ data: { jobId: job.id, slot: 0, attempt: 1 } });
    await expect(sameAttempt.catch(uniqueViolation)).resolves.toBe('P2002');
    await expect(prisma.run.create({ data: { jobId: job.id, slot: 0, attempt: 2 } })).resolves.toMatchObject({
      attempt: 2,
    });
  });

  it('cascades and restricts deletes the way the history needs', async () => {
    const { device, firmware, job, run, attachment } = await seedFarm('05');
    // Firmware referenced by a job cannot disappear from under its history.
    const deleteFirmware = prisma.firmware.delete({ where: { id: firmware.id } });
    await expect(
      deleteFirmware.catch((e: unknown) => (e instanceof Prisma.PrismaClientKnownRequestError ? e.code : e)),
    ).resolves.toMatch(/^P20(03|14)$/);

    // Removing a device keeps its runs (history) but drops its attachments.
    await prisma.device.delete({ where: { id: device.id } });
    expect(await prisma.attachment.findUnique({ where: { id: attachment.id } })).toBeNull();
    const orphanRun = await prisma.run.findUniqueOrThrow({ where: { id: run.id } });
    expect(orphanRun.deviceId).toBeNull();

    // Removing a job removes its runs and their log lines; then the firmware can go, with its parts.
    await prisma.job.delete({ where: { id: job.id } });
    expect(await prisma.run.count({ where: { id: run.id } })).toBe(0);
    expect(await prisma.runLogLine.count({ where: { runId: run.id } })).toBe(0);
    await prisma.firmware.delete({ where: { id: firmware.id } });
    expect(await prisma.firmwarePart.count({ where: { firmwareId: firmware.id } })).toBe(0);
  });

  it('has applied every migration and the migrations match schema.prisma (no drift)', async () => {
    const migrator = await Migrator.forPostgres(database.url);
    try {
      const status = await migrator.status();
      expect(status).toMatchObject({ pending: [], failed: [], edited: [], unknown: [], upToDate: true });
      // Non-empty SQL here means schema.prisma changed without `npm run db:migrate:dev -- --name ...`.
      expect(await migrator.drift()).toBe('');
    } finally {
      await migrator.close();
    }
  });
});

/**
 * Production campaigns. A campaign turns boards into units and units into
 * one-device jobs, so flashing, retries, cancellation and live logs are the
 * jobs' own; the campaign adds "each board once" (a unique (campaign, device)
 * row), live counters, and a traceability record per unit.
 *
 * A periodic pass (every replica runs it; the unique row and the jobs'
 * idempotency keys make concurrent passes harmless) discovers new units,
 * starts a job for each pending unit, and closes units whose job ended.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { z } from 'zod';
import {
  ApiErrorCode,
  type CampaignCounters,
  type CampaignRequest,
  type CampaignUnitsQuery,
  type CampaignView,
  type DeviceSelector,
  type Page,
  type RetriedUnitsView,
  type StationNextView,
  type StationOperatorView,
  type CampaignCsvView,
  type UnitRecord,
} from '#contracts';
import { ApiError } from '../common/api-error.js';
import { page } from '../common/page.js';
import { recordId } from '../common/record-id.js';
import { deviceSelectorWhere } from '../devices/device-lookup.js';
import { Prisma, type PrismaClient } from '../db/generated/prisma/client.js';
import type { Campaign, CampaignUnit } from '../db/generated/prisma/client.js';
import { PRISMA } from '../infra/tokens.js';
import { JobsService } from '../jobs/jobs.service.js';
import { Dispatcher } from '../scheduler/dispatcher.js';
import { UnitRegionsSource } from '../scheduler/unit-regions-source.js';
import { bootPatternError, normaliseSelector, parseNewJob } from '../jobs/job-request.js';
import { isTerminalJob } from '../runs/job-status.js';
import { transitionCampaign, transitionUnit } from '../state/campaign-state.js';
import { checkSerialRecipe, SerialAllocator } from './serial-allocator.js';
import { CsvRows } from './csv-rows.js';
import { checkUnitData, UNIT_DATA_EXHAUSTED, unitDataOf } from './unit-data.js';
import { unitRegionsFor } from './unit-dispatch.js';
import { buildUnitRecord, emptyUnitDataFields } from './unit-record.js';
import { WebhooksService } from '../webhooks/webhooks.service.js';

/** What each control action asks of a campaign: its new status and the statuses it may come from. */
const CONTROL: Record<
  'pause' | 'resume' | 'stop',
  { status: Campaign['status']; from: Campaign['status'][] }
> = {
  pause: { status: 'paused', from: ['running'] },
  resume: { status: 'running', from: ['paused'] },
  stop: { status: 'stopped', from: ['running', 'paused'] },
};

/** How often the campaign pass runs: a board plugged into a station starts flashing within this. */
export const CAMPAIGN_TICK_MS = 500;
/** Units started per campaign per pass, so one huge pool does not stall the pass. */
const LAUNCH_BATCH = 200;
/** The window of the recent units-per-hour counter. */
const RECENT_WINDOW_MS = 15 * 60_000;
/** Largest page of units. */
export const MAX_UNIT_PAGE = 1000;

type FirmwareFacts = { id: string; name: string; version: string | null; sha256: string; chip: string };

@Injectable()
export class CampaignsService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('campaigns');
  private timer?: NodeJS.Timeout;
  private passing?: Promise<void>;
  private readonly firmware = new Map<string, FirmwareFacts>();
  /** Passes this replica completed (flashfarm_campaign_passes_total). */
  passes = 0;

  constructor(
    @Inject(PRISMA) private readonly prisma: PrismaClient,
    private readonly jobs: JobsService,
    private readonly dispatcher: Dispatcher,
    private readonly serials: SerialAllocator,
    private readonly webhooks: WebhooksService,
    private readonly csvRows: CsvRows,
    private readonly unitRegions: UnitRegionsSource,
  ) {}

  /**
   * POST /stations/:id/next: a new cycle on the station's fixture slots now (an operator's button
   * where the fixture has no signal of its own). Every online agent is asked; an agent without that
   * slot ignores it, and the unit it finds (or the failure) arrives as any cycle does.
   */
  async nextUnit(id: string, slot: string | undefined, operator?: string): Promise<StationNextView> {
    const campaign = await this.find(id);
    if (campaign.mode !== 'station' || campaign.status !== 'running')
      throw new ApiError(
        ApiErrorCode.CAMPAIGN_STATE,
        `Campaign ${id} is a ${campaign.status} ${campaign.mode} campaign; "next unit" needs a running station campaign.`,
      );
    if (operator !== undefined && operator !== campaign.stationOperator)
      await this.prisma.campaign.update({ where: { id: campaign.id }, data: { stationOperator: operator } });
    const agents = await this.prisma.agent.findMany({ where: { status: 'online' }, select: { id: true } });
    for (const agent of agents)
      await this.dispatcher.control(agent.id, { type: 'fixture-next', portPath: slot ?? null });
    this.logger.log(`campaign ${id}: next unit on ${slot ?? 'every slot'} (${agents.length} agent(s))`);
    return { campaignId: id, slot: slot ?? null, agents: agents.length };
  }

  /** POST /stations/:id/operator: the name recorded on the station's following units. */
  async setOperator(id: string, operator: string): Promise<StationOperatorView> {
    const campaign = await this.find(id);
    if (campaign.mode !== 'station')
      throw new ApiError(
        ApiErrorCode.CAMPAIGN_STATE,
        `Campaign ${id} is a ${campaign.mode} campaign; an operator name is set on a station-mode campaign.`,
      );
    await this.prisma.campaign.update({ where: { id: campaign.id }, data: { stationOperator: operator } });
    this.logger.log(`campaign ${id}: operator at the station is now "${operator}"`);
    return { campaignId: campaign.id, operator };
  }

  /** POST /campaigns/:id/csv */
  async uploadCsv(id: string, text: string): Promise<CampaignCsvView> {
    const campaign = await this.find(id);
    // A completed campaign takes rows too: its units that ran out of data are retried with retry-failed.
    if (campaign.status === 'stopped')
      throw new ApiError(
        ApiErrorCode.CAMPAIGN_STATE,
        `Campaign ${id} is stopped; CSV rows are uploaded to a running, paused or completed campaign.`,
      );
    const firmware = await this.prisma.firmware.findUnique({
      where: { id: campaign.firmwareId },
      select: { metadata: true },
    });
    const metadata = (firmware?.metadata ?? {}) as { partitions?: unknown };
    return this.csvRows.upload(
      { id: campaign.id, unitData: unitDataOf(campaign.unitData), partitions: metadata.partitions },
      text,
    );
  }

  onModuleInit(): void {
    // Run payloads built by the scheduler carry each unit's own NVS data.
    this.unitRegions.use((run) => unitRegionsFor(this.prisma, run));
    this.timer = setInterval(() => {
      if (this.passing) return;
      this.passing = this.pass()
        .catch((error: unknown) =>
          this.logger.warn(`campaign pass failed: ${error instanceof Error ? error.message : String(error)}`),
        )
        .finally(() => (this.passing = undefined));
    }, CAMPAIGN_TICK_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.passing;
  }

  /** POST /campaigns */
  async create(b: z.output<typeof CampaignRequest>, operator: string): Promise<CampaignView> {
    // The jobs' own validation decides which options are valid.
    const probe = parseNewJob(
      { firmwareId: b.firmwareId, target: { device: 'probe' }, options: b.options ?? {} },
      undefined,
    );
    if (!probe.ok)
      throw ApiError.validation(
        `Invalid campaign options: ${probe.problems.map((p) => `${p.field} ${p.message}`).join('; ')}`,
        probe.problems,
      );
    const unsafePattern = bootPatternError(probe.job.options);
    if (unsafePattern) throw unsafePattern;
    // The request's own mistakes first (400), before what depends on stored firmware (404, 422).
    if (b.unitData?.serialPattern) checkSerialRecipe(b.unitData.serialPattern, b.unitData.timeZone);
    const firmware = await this.firmwareFacts(b.firmwareId);
    if (b.unitData) {
      const parts = await this.prisma.firmwarePart.findMany({
        where: { firmwareId: firmware.id },
        select: { offset: true, size: true, fileName: true },
      });
      const { metadata } = await this.prisma.firmware.findUniqueOrThrow({
        where: { id: firmware.id },
        select: { metadata: true },
      });
      checkUnitData(b.unitData, { id: firmware.id, metadata, parts });
    }
    const selector = normaliseSelector({ ...b.selector, chip: firmware.chip });
    const campaign = await this.prisma.campaign.create({
      data: {
        name: b.name,
        firmwareId: firmware.id,
        mode: b.mode,
        selector: selector,
        options: (b.options ?? {}) as Prisma.InputJsonValue,
        unitData: b.unitData ?? {},
        createdBy: operator,
      },
    });
    if (campaign.mode === 'pool') {
      const devices = await this.prisma.device.findMany({
        where: { ...deviceFilter(campaign), state: { in: ['idle', 'busy'] } },
        select: { id: true, mac: true },
      });
      await this.prisma.campaignUnit.createMany({
        data: devices.map((d) => ({
          campaignId: campaign.id,
          cycleKey: `device:${d.id}`,
          deviceId: d.id,
          mac: d.mac,
        })),
        skipDuplicates: true,
      });
    }
    this.logger.log(`campaign ${campaign.id} "${campaign.name}" (${campaign.mode}) started by ${operator}`);
    return this.get(campaign.id);
  }

  /** GET /campaigns */
  async list(window: { limit: number; offset: number }): Promise<Page<CampaignView>> {
    const [rows, total] = await Promise.all([
      this.prisma.campaign.findMany({
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        skip: window.offset,
        take: window.limit,
      }),
      this.prisma.campaign.count(),
    ]);
    const items = [];
    for (const c of rows) items.push(await this.view(c));
    return page(items, total, window);
  }

  /** GET /campaigns/:id */
  async get(id: string): Promise<CampaignView> {
    return this.view(await this.find(id));
  }

  /** pause | resume | stop */
  async control(id: string, action: 'pause' | 'resume' | 'stop'): Promise<CampaignView> {
    const { status, from } = CONTROL[action];
    let campaign = await this.find(id);
    // Conditional on the state it was read in: a concurrent control or the pass completing it wins.
    const moved = from.includes(campaign.status)
      ? await transitionCampaign(this.prisma, { id }, status, {
          from: [campaign.status],
          data: status === 'stopped' ? { finishedAt: new Date() } : {},
        })
      : 0;
    if (moved === 0) {
      campaign = await this.find(id);
      throw new ApiError(
        ApiErrorCode.CAMPAIGN_STATE,
        `Campaign ${id} is ${campaign.status}; cannot ${action} it.`,
      );
    }
    if (status === 'stopped') {
      // Units not yet on a board never start; boards mid-flash finish and are recorded.
      await transitionUnit(this.prisma, { campaignId: id, jobId: null }, 'failed', {
        from: ['pending'],
        data: { errorCode: 'CANCELLED', errorMessage: 'campaign stopped before this unit started' },
      });
    }
    return this.get(id);
  }

  /** POST /campaigns/:id/retry-failed: failed units go back to pending (same row: still once per board). */
  async retryFailed(id: string): Promise<RetriedUnitsView> {
    const campaign = await this.find(id);
    if (campaign.status === 'stopped')
      throw new ApiError(ApiErrorCode.CAMPAIGN_STATE, `Campaign ${id} is stopped; resume is not possible.`);
    // A fixture cycle without a board has nothing to flash again: its unit is off the fixture.
    const count = await transitionUnit(this.prisma, { campaignId: id, deviceId: { not: null } }, 'pending', {
      from: ['failed'],
      // The failed attempt's serial stays void; the retry gets a new one.
      data: { jobId: null, runId: null, errorCode: null, errorMessage: null, finishedAt: null, serial: null },
    });
    if (count)
      await transitionCampaign(this.prisma, { id }, 'running', {
        from: ['completed'],
        data: { finishedAt: null },
      });
    return { retried: count, campaign: await this.get(id) };
  }

  /** GET /campaigns/:id/units: records, oldest first. */
  async units(id: string, query: CampaignUnitsQuery): Promise<Page<UnitRecord>> {
    const campaign = await this.find(id);
    const where = { campaignId: id, ...(query.status ? { status: query.status } : {}) };
    const [rows, total] = await Promise.all([
      this.prisma.campaignUnit.findMany({
        where,
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        skip: query.offset,
        take: query.limit,
      }),
      this.prisma.campaignUnit.count({ where }),
    ]);
    return page(await this.records(campaign, rows), total, query);
  }

  /** Every unit's record, in pages, for the exports. */
  async *allRecords(id: string): AsyncGenerator<UnitRecord> {
    const campaign = await this.find(id);
    let cursor: string | undefined;
    for (;;) {
      const rows = await this.prisma.campaignUnit.findMany({
        where: { campaignId: id },
        orderBy: { id: 'asc' },
        take: MAX_UNIT_PAGE,
        ...(cursor ? { skip: 1, cursor: { id: cursor } } : {}),
      });
      for (const r of await this.records(campaign, rows)) yield r;
      if (rows.length < MAX_UNIT_PAGE) return;
      cursor = rows[rows.length - 1].id;
    }
  }

  private async find(id: string): Promise<Campaign> {
    const campaign = await this.prisma.campaign.findUnique({ where: { id: recordId('Campaign', id) } });
    if (!campaign) throw ApiError.notFound('Campaign', id);
    return campaign;
  }

  private async firmwareFacts(id: string): Promise<FirmwareFacts> {
    const cached = this.firmware.get(id);
    if (cached) return cached;
    const fw = await this.prisma.firmware.findUnique({
      where: { id },
      select: { id: true, name: true, version: true, sha256: true, chip: true },
    });
    if (!fw) throw ApiError.notFound('Firmware', id);
    this.firmware.set(id, fw);
    return fw;
  }

  private async counters(campaign: Campaign): Promise<CampaignCounters> {
    const now = new Date();
    const [groups, recent] = await Promise.all([
      this.prisma.campaignUnit.groupBy({
        by: ['status', 'retest'],
        where: { campaignId: campaign.id },
        _count: { _all: true },
      }),
      this.prisma.campaignUnit.count({
        where: {
          campaignId: campaign.id,
          status: { in: ['succeeded', 'failed'] },
          finishedAt: { gte: new Date(now.getTime() - RECENT_WINDOW_MS) },
        },
      }),
    ]);
    const n = (s: CampaignUnit['status'], retest?: boolean) =>
      groups
        .filter((g) => g.status === s && (retest === undefined || g.retest === retest))
        .reduce((sum, g) => sum + g._count._all, 0);
    const end = campaign.finishedAt ?? now;
    // At least a minute, so the first unit does not read as thousands per hour.
    const hours = Math.max(60_000, end.getTime() - campaign.startedAt.getTime()) / 3_600_000;
    const recentHours =
      Math.max(60_000, Math.min(RECENT_WINDOW_MS, end.getTime() - campaign.startedAt.getTime())) / 3_600_000;
    const succeeded = n('succeeded', false);
    const failed = n('failed', false);
    return {
      total: groups.reduce((sum, g) => sum + g._count._all, 0),
      pending: n('pending'),
      inProgress: n('flashing'),
      succeeded,
      failed,
      retests: n('succeeded', true) + n('failed', true),
      yieldPercent: succeeded + failed ? Math.round((succeeded / (succeeded + failed)) * 1000) / 10 : null,
      unitsPerHour: Math.round((succeeded / hours) * 10) / 10,
      unitsPerHourRecent: Math.round((recent / recentHours) * 10) / 10,
    };
  }

  private async view(campaign: Campaign): Promise<CampaignView> {
    const firmware = await this.firmwareFacts(campaign.firmwareId).catch(() => undefined);
    return {
      id: campaign.id,
      name: campaign.name,
      mode: campaign.mode,
      status: campaign.status,
      firmware: firmware ?? { id: campaign.firmwareId },
      selector: campaign.selector as DeviceSelector,
      options: campaign.options as Record<string, unknown>,
      createdBy: campaign.createdBy,
      createdAt: campaign.createdAt.toISOString(),
      startedAt: campaign.startedAt.toISOString(),
      finishedAt: campaign.finishedAt?.toISOString() ?? null,
      counters: await this.counters(campaign),
    };
  }

  /** Records of units: the stored one for finished units, the facts known so far otherwise. */
  private async records(campaign: Campaign, units: CampaignUnit[]): Promise<UnitRecord[]> {
    const firmware = await this.firmwareFacts(campaign.firmwareId);
    const open = units.filter((u) => !isRecord(u.record));
    const devices = new Map(
      (
        await this.prisma.device.findMany({
          where: { id: { in: open.flatMap((u) => (u.deviceId ? [u.deviceId] : [])) } },
        })
      ).map((d) => [d.id, d]),
    );
    return units.map((u) => {
      const stored: unknown = u.record;
      // Records stored before a field existed get its empty value.
      if (isRecord(stored))
        return { ...emptyUnitDataFields(), ...stored, result: u.status, attempts: u.attempts };
      return buildUnitRecord({
        campaign,
        unit: u,
        firmware,
        device: u.deviceId ? devices.get(u.deviceId) : undefined,
      });
    });
  }

  /** One pass over the live campaigns. */
  async pass(): Promise<void> {
    // Stopped campaigns still collect the boards that were mid-flash when they stopped.
    const live = await this.prisma.campaign.findMany({
      where: {
        OR: [{ status: { in: ['running', 'paused'] } }, { units: { some: { status: 'flashing' } } }],
      },
    });
    for (const campaign of live) {
      if (campaign.status === 'running') {
        if (campaign.mode === 'station') await this.discoverStationUnits(campaign);
        await this.launch(campaign);
      }
      await this.collect(campaign);
    }
    this.passes++;
  }

  /**
   * Station mode: each stay of a matching board on a port (an open attachment) is a fixture cycle
   * and becomes a unit, boards already there when the campaign started included; a board this
   * campaign had before is a re-test. Cycles whose unit never reached the bootloader (reported by
   * the agents) become failed units with the reason.
   */
  private async discoverStationUnits(campaign: Campaign): Promise<void> {
    const stays = await this.prisma.attachment.findMany({
      where: {
        detachedAt: null,
        device: { ...deviceFilter(campaign), state: { in: ['idle', 'busy'] } },
      },
      select: { id: true, agentId: true, portPath: true, device: { select: { id: true, mac: true } } },
    });
    if (stays.length) {
      const units = await this.prisma.campaignUnit.findMany({
        where: { campaignId: campaign.id, deviceId: { in: stays.map((a) => a.device.id) } },
        select: { deviceId: true, cycleKey: true },
      });
      const keys = new Set(units.map((u) => u.cycleKey));
      const seen = new Set(units.map((u) => u.deviceId));
      const fresh = stays.filter((a) => !keys.has(`stay:${a.id}`));
      if (fresh.length) {
        const { count } = await this.prisma.campaignUnit.createMany({
          data: fresh.map((a) => ({
            campaignId: campaign.id,
            cycleKey: `stay:${a.id}`,
            deviceId: a.device.id,
            mac: a.device.mac,
            retest: seen.has(a.device.id),
            portPath: a.portPath,
            agentId: a.agentId,
            operatorName: campaign.stationOperator,
          })),
          skipDuplicates: true,
        });
        if (count) this.logger.log(`campaign ${campaign.id}: ${count} new unit(s) at the station`);
      }
    }
    await this.recordFixtureFailures(campaign);
  }

  /** Fixture cycles without a board since the campaign started: a failed unit each, with the reason. */
  private async recordFixtureFailures(campaign: Campaign): Promise<void> {
    const failures = await this.prisma.fixtureFailure.findMany({
      where: { at: { gte: campaign.startedAt } },
      orderBy: { at: 'asc' },
      take: LAUNCH_BATCH,
    });
    if (!failures.length) return;
    const known = new Set(
      (
        await this.prisma.campaignUnit.findMany({
          where: { campaignId: campaign.id, cycleKey: { in: failures.map((f) => `failure:${f.id}`) } },
          select: { cycleKey: true },
        })
      ).map((u) => u.cycleKey),
    );
    for (const f of failures) {
      const cycleKey = `failure:${f.id}`;
      if (known.has(cycleKey)) continue;
      const created = await this.prisma.campaignUnit.createMany({
        data: [
          {
            campaignId: campaign.id,
            cycleKey,
            portPath: f.portPath,
            agentId: f.agentId,
            startedAt: f.at,
            operatorName: campaign.stationOperator,
          },
        ],
        skipDuplicates: true,
      });
      if (!created.count) continue; // another replica's pass took it
      const moved = await transitionUnit(this.prisma, { campaignId: campaign.id, cycleKey }, 'failed', {
        from: ['pending'],
        data: { errorCode: f.code, errorMessage: f.message, finishedAt: f.at },
      });
      if (moved) await this.announceFinished(campaign, cycleKey);
      this.logger.log(
        `campaign ${campaign.id}: a unit on ${f.portPath} did not reach the bootloader (${f.code})`,
      );
    }
  }

  /** Hands a unit closed without a finished job (a failed fixture cycle, a refused start) to the webhook, without waiting for it. */
  private async announceFinished(campaign: Campaign, cycleKey: string): Promise<void> {
    const unit = await this.prisma.campaignUnit.findUnique({
      where: { campaignId_cycleKey: { campaignId: campaign.id, cycleKey } },
    });
    if (!unit) return;
    const [record] = await this.records(campaign, [unit]);
    void this.webhooks.unitFinished(record);
  }

  /** Starts a one-device job for each pending unit. */
  private async launch(campaign: Campaign): Promise<void> {
    const pending = await this.prisma.campaignUnit.findMany({
      where: { campaignId: campaign.id, status: 'pending', jobId: null, deviceId: { not: null } },
      orderBy: { createdAt: 'asc' },
      take: LAUNCH_BATCH,
    });
    const csv = pending.length ? await this.csvRows.wanted(campaign.id, unitDataOf(campaign.unitData)) : 'no';
    for (const unit of pending) {
      const attempt = unit.attempts + 1;
      const parsed = parseNewJob(
        { firmwareId: campaign.firmwareId, target: { device: unit.deviceId! }, options: campaign.options },
        `campaign:${unit.id}:${attempt}`,
      );
      if (!parsed.ok) {
        await this.failUnit(
          campaign,
          unit,
          'INVALID_ARGUMENT',
          parsed.problems.map((p) => `${p.field} ${p.message}`).join('; '),
        );
        continue;
      }
      // The unit's CSV row first: a unit the CSV has no row for fails before a serial is spent on it.
      let row =
        unit.csvRowId && unit.csvRow !== null ? { id: unit.csvRowId, rowNumber: unit.csvRow } : undefined;
      let rowTaken = false;
      // Before the first CSV upload, units whose recipe needs CSV values wait for it.
      if (!row && csv === 'wait') continue;
      if (!row && csv === 'yes') {
        row = await this.csvRows.take(campaign.id, unit);
        if (!row) {
          await this.failUnit(
            campaign,
            unit,
            UNIT_DATA_EXHAUSTED,
            `no CSV row for this unit: ${await this.csvRows.exhaustedReason(campaign.id, unit.mac)}`,
          );
          continue;
        }
        rowTaken = true;
      }
      // Each start gets the next serial (never one handed out before); a unit that already holds one keeps it.
      const recipe = serialRecipe(campaign);
      const serial =
        unit.serial ?? (recipe ? (await this.serials.allocate(campaign.id, recipe, unit.id)).serial : null);
      try {
        const { job } = await this.jobs.create(parsed.job, campaign.createdBy);
        const moved = await transitionUnit(this.prisma, { id: unit.id, jobId: null }, 'flashing', {
          from: ['pending'],
          data: {
            jobId: job.id,
            attempts: attempt,
            startedAt: new Date(),
            serial,
            ...(row ? { csvRowId: row.id, csvRow: row.rowNumber } : {}),
          },
        });
        // Another replica's pass started this unit first: the serial taken here goes on no unit.
        if (!moved && serial && serial !== unit.serial)
          await this.serials.markVoid(serial, 'allocated by a pass that lost the race to start the unit');
        if (!moved && row && rowTaken) await this.releaseRowIfUnused(unit.id, row.id);
      } catch (error) {
        if (serial && serial !== unit.serial) await this.serials.markVoid(serial, 'the unit did not start');
        if (row && rowTaken) await this.releaseRowIfUnused(unit.id, row.id);
        if (error instanceof ApiError && error.status < 500)
          await this.failUnit(campaign, unit, error.code, error.message);
        else throw error;
      }
    }
  }

  /** A row this pass took for a unit another pass started with a row of its own goes back to the free rows. */
  private async releaseRowIfUnused(unitId: string, rowId: string): Promise<void> {
    const now = await this.prisma.campaignUnit.findUnique({
      where: { id: unitId },
      select: { csvRowId: true },
    });
    if (now?.csvRowId !== rowId) await this.csvRows.release(rowId, unitId);
  }

  private async failUnit(
    campaign: Campaign,
    unit: CampaignUnit,
    code: string,
    message: string,
  ): Promise<void> {
    const moved = await transitionUnit(this.prisma, { id: unit.id }, 'failed', {
      from: ['pending'],
      data: { errorCode: code, errorMessage: message, finishedAt: new Date() },
    });
    if (moved) await this.announceFinished(campaign, unit.cycleKey);
  }

  /** Closes units whose job ended, with their record; completes a pool campaign with no unit left. */
  private async collect(campaign: Campaign): Promise<void> {
    const flashing = await this.prisma.campaignUnit.findMany({
      where: { campaignId: campaign.id, status: 'flashing', jobId: { not: null } },
    });
    if (flashing.length) {
      const jobs = await this.prisma.job.findMany({
        where: { id: { in: flashing.map((u) => u.jobId!) } },
        include: { runs: { orderBy: { attempt: 'desc' }, take: 1 } },
      });
      const byId = new Map(jobs.map((j) => [j.id, j]));
      for (const unit of flashing) {
        const job = byId.get(unit.jobId!);
        if (!job) {
          await transitionUnit(this.prisma, { id: unit.id }, 'failed', {
            from: ['flashing'],
            data: {
              errorCode: 'INTERNAL',
              errorMessage: "the unit's job was deleted",
              finishedAt: new Date(),
            },
          });
          continue;
        }
        if (!isTerminalJob(job.status)) continue;
        const run = job.runs[0];
        const record = await this.finalRecord(campaign, unit, job.status, run);
        if (unit.serial) {
          if (record.result === 'succeeded') await this.serials.markUsed(unit.serial);
          else await this.serials.markVoid(unit.serial, `the unit failed: ${record.errorCode ?? 'unknown'}`);
        }
        const moved = await transitionUnit(
          this.prisma,
          { id: unit.id, jobId: job.id },
          record.result === 'succeeded' ? 'succeeded' : 'failed',
          {
            from: ['flashing'],
            data: {
              runId: run?.id ?? null,
              errorCode: record.errorCode,
              errorMessage: record.errorMessage,
              finishedAt: record.finishedAt ? new Date(record.finishedAt) : new Date(),
              record: record as unknown as Prisma.InputJsonValue,
            },
          },
        );
        // Only the pass that closed the unit hands its record to the webhook, and does not wait for it.
        if (moved) void this.webhooks.unitFinished(record);
      }
    }
    if (campaign.mode === 'pool' && campaign.status === 'running') {
      const open = await this.prisma.campaignUnit.count({
        where: { campaignId: campaign.id, status: { in: ['pending', 'flashing'] } },
      });
      if (open === 0)
        await transitionCampaign(this.prisma, { id: campaign.id }, 'completed', {
          from: ['running'],
          data: { finishedAt: new Date() },
        });
    }
  }

  private async finalRecord(
    campaign: Campaign,
    unit: CampaignUnit,
    jobStatus: string,
    run: Prisma.RunGetPayload<object> | undefined,
  ): Promise<UnitRecord> {
    const firmware = await this.firmwareFacts(campaign.firmwareId);
    const device = unit.deviceId
      ? await this.prisma.device.findUnique({ where: { id: unit.deviceId } })
      : null;
    const agent = run?.agentId
      ? await this.prisma.agent.findUnique({ where: { id: run.agentId }, select: { name: true } })
      : null;
    return buildUnitRecord({
      campaign,
      unit,
      firmware,
      device,
      ended: { jobStatus, run: run && { ...run, agentName: agent?.name ?? null }, at: new Date() },
    });
  }
}

/** The campaign's serial recipe, if it allocates serials. */
function serialRecipe(campaign: Campaign): { serialPattern: string; timeZone?: string } | undefined {
  const data = campaign.unitData as { serialPattern?: unknown; timeZone?: unknown } | null;
  if (!data || typeof data.serialPattern !== 'string') return undefined;
  return {
    serialPattern: data.serialPattern,
    ...(typeof data.timeZone === 'string' ? { timeZone: data.timeZone } : {}),
  };
}

function deviceFilter(campaign: Campaign): Prisma.DeviceWhereInput {
  return deviceSelectorWhere(campaign.selector as DeviceSelector);
}

function isRecord(value: unknown): value is UnitRecord {
  return typeof value === 'object' && value !== null && 'unitId' in value;
}

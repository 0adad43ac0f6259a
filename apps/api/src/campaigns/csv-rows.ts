/**
 * A campaign's uploaded CSV of per-unit values, and the handing out of its rows.
 *
 * A CSV with a `mac` column is keyed: each row belongs to the board it names. Without one, rows
 * are taken in order, one per board, by a single `UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)`:
 * api replicas launching units at once each lock a different free row, so no row goes to two
 * boards. A board keeps its row (a retry or a re-test of the same MAC gets the same values).
 *
 * Columns whose header ends in ":secret" (or starts with "secret_", or that the recipe lists) are
 * secret. No value, secret or not, is ever logged or answered: answers name columns and row numbers.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { ApiErrorCode, type CampaignCsvView, type CampaignUnitData } from '#contracts';
import { parseCsv, parseUnitCsv, CsvSyntaxError, UnitDataError } from '#esp';
import { ApiError } from '../common/api-error.js';
import { Prisma, type PrismaClient } from '../db/generated/prisma/client.js';
import { PRISMA } from '../infra/tokens.js';
import { buildNvsImage, csvColumnsOf, nvsPlacement, sampleContext } from './unit-data.js';

/** Header suffix marking a secret column. */
export const SECRET_SUFFIX = ':secret';
/** Most data rows one campaign holds. */
export const MAX_CSV_ROWS = 100_000;

/** A row taken for a unit: which one (never its values). */
export interface TakenRow {
  id: string;
  rowNumber: number;
}

function refused(message: string, field = 'csv'): ApiError {
  return new ApiError(ApiErrorCode.UNIT_DATA_INVALID, message, [{ field, message }]);
}

/** Stores a campaign's CSV rows and hands them out to units, each row to one board only. */
@Injectable()
export class CsvRows {
  private readonly logger = new Logger('campaigns');

  constructor(@Inject(PRISMA) private readonly prisma: PrismaClient) {}

  /** POST /campaigns/:id/csv: checks every row against the recipe, then stores the rows (added after any earlier ones). */
  async upload(
    campaign: { id: string; unitData: CampaignUnitData; partitions: unknown },
    text: string,
  ): Promise<CampaignCsvView> {
    let header: string[];
    try {
      header = (parseCsv(text)[0]?.fields ?? []).map((f) => f.trim());
    } catch (error) {
      if (error instanceof CsvSyntaxError) throw refused(`The CSV ${error.message}.`);
      throw error;
    }
    if (header.length === 0)
      throw refused('The CSV is empty; its first line must name the columns (e.g. mac,wifi_psk:secret).');
    const bare = (name: string) =>
      name.endsWith(SECRET_SUFFIX) ? name.slice(0, -SECRET_SUFFIX.length) : name;
    const declared = new Set(this.declaredSecrets(campaign.unitData));
    const secretHeaders = header.filter(
      (h) => h.endsWith(SECRET_SUFFIX) || declared.has(bare(h)) || h.startsWith('secret_'),
    );
    const keyed = header.includes('mac');
    let csv;
    try {
      csv = parseUnitCsv(text, { keyColumn: keyed ? 'mac' : null, secretColumns: secretHeaders });
    } catch (error) {
      if (error instanceof UnitDataError) throw refused(error.message);
      throw error;
    }
    const columns = header.map(bare);
    const missing = csvColumnsOf(campaign.unitData).filter((c) => !columns.includes(c));
    if (missing.length)
      throw refused(
        `The CSV lacks the column(s) ${missing.map((c) => `"${c}"`).join(', ')} that the campaign's NVS recipe refers to (its columns: ${columns.join(', ')}).`,
      );
    if (csv.rows.length === 0) throw refused('The CSV has a header but no data rows.');
    const rows = csv.rows.map((row) => {
      const values: Record<string, string> = {};
      for (const [name, value] of Object.entries(row.values)) values[bare(name)] = value;
      for (const [name, secret] of Object.entries(row.secrets)) values[bare(name)] = secret.reveal();
      return { line: row.line, mac: row.mac ?? null, values };
    });
    this.checkRowsAgainstRecipe(campaign, rows);
    const existing = await this.checkAgainstStored(campaign.id, rows, keyed);
    const first = (existing._max.rowNumber ?? 0) + 1;
    try {
      await this.prisma.campaignCsvRow.createMany({
        data: rows.map((r, i) => ({
          campaignId: campaign.id,
          rowNumber: first + i,
          mac: r.mac,
          values: r.values,
        })),
      });
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002')
        throw new ApiError(
          ApiErrorCode.CONFLICT,
          'Another CSV upload to this campaign ran at the same time; send this one again.',
        );
      throw error;
    }
    const secretColumns = secretHeaders.map(bare);
    // Column names and counts only: never a value.
    this.logger.log(
      `campaign ${campaign.id}: ${rows.length} CSV row(s) added (${keyed ? 'keyed by mac' : 'taken in order'}; columns ${columns.join(', ')}; secret ${secretColumns.join(', ') || 'none'})`,
    );
    const [total, free] = await Promise.all([
      this.prisma.campaignCsvRow.count({ where: { campaignId: campaign.id } }),
      this.prisma.campaignCsvRow.count({ where: { campaignId: campaign.id, takenAt: null } }),
    ]);
    return {
      campaignId: campaign.id,
      rowsAdded: rows.length,
      rowsTotal: total,
      rowsFree: free,
      columns,
      secretColumns,
      keyedByMac: keyed,
    };
  }

  /**
   * Whether units of the campaign take a CSV row: 'no' (the recipe refers to no column and no rows
   * were uploaded), 'yes', or 'wait' (the recipe needs CSV values and no CSV was uploaded yet: its
   * units stay pending until one is, instead of failing one after the other).
   */
  async wanted(campaignId: string, unitData: CampaignUnitData): Promise<'no' | 'yes' | 'wait'> {
    const uploaded = (await this.prisma.campaignCsvRow.count({ where: { campaignId }, take: 1 })) > 0;
    if (uploaded) return 'yes';
    return csvColumnsOf(unitData).length ? 'wait' : 'no';
  }

  /**
   * The row for a unit: the one it (or its board) already has, the row keyed by its MAC, or the next
   * free one, taken in one statement that skips rows other replicas hold locked. Undefined: none left.
   */
  async take(campaignId: string, unit: { id: string; mac: string | null }): Promise<TakenRow | undefined> {
    const mac = unit.mac?.toLowerCase() ?? null;
    const own = await this.prisma.campaignCsvRow.findFirst({
      where: { campaignId, OR: [{ unitId: unit.id }, ...(mac ? [{ assignedMac: mac }, { mac }] : [])] },
      select: { id: true, rowNumber: true, takenAt: true },
      orderBy: { rowNumber: 'asc' },
    });
    if (own) {
      if (!own.takenAt)
        await this.prisma.campaignCsvRow.updateMany({
          where: { id: own.id, takenAt: null },
          data: { takenAt: new Date(), unitId: unit.id, assignedMac: mac },
        });
      return { id: own.id, rowNumber: own.rowNumber };
    }
    const keyed =
      (await this.prisma.campaignCsvRow.count({ where: { campaignId, mac: { not: null } }, take: 1 })) > 0;
    if (keyed) return undefined; // the CSV has no row for this MAC
    const [row] = await this.prisma.$queryRaw<Array<{ id: string; rowNumber: number }>>`
      UPDATE "CampaignCsvRow" AS r
      SET "takenAt" = now(), "unitId" = ${unit.id}::uuid, "assignedMac" = ${mac}
      FROM (
        SELECT id FROM "CampaignCsvRow"
        WHERE "campaignId" = ${campaignId}::uuid AND "takenAt" IS NULL
        ORDER BY "rowNumber"
        LIMIT 1
        FOR UPDATE SKIP LOCKED
      ) AS free
      WHERE r.id = free.id
      RETURNING r.id, r."rowNumber"`;
    return row ? { id: row.id, rowNumber: Number(row.rowNumber) } : undefined;
  }

  /** Gives back a row a unit took but did not start with (another replica started the unit first). */
  async release(rowId: string, unitId: string): Promise<void> {
    await this.prisma.campaignCsvRow.updateMany({
      where: { id: rowId, unitId, mac: null },
      data: { takenAt: null, unitId: null, assignedMac: null },
    });
  }

  /** Why a unit found no row, in plain words. */
  async exhaustedReason(campaignId: string, mac: string | null): Promise<string> {
    const total = await this.prisma.campaignCsvRow.count({ where: { campaignId } });
    if (total === 0)
      return "the campaign's CSV has not been uploaded (POST /campaigns/:id/csv) and its NVS recipe needs CSV values";
    const keyed =
      (await this.prisma.campaignCsvRow.count({ where: { campaignId, mac: { not: null } }, take: 1 })) > 0;
    if (keyed) return `the campaign's CSV has no row for MAC ${mac ?? '(unknown)'}; add one and upload it`;
    return `all ${total} rows of the campaign's CSV are used; upload more rows`;
  }

  /** A row's values (secret ones included), for the one place that builds the unit's data. */
  async values(rowId: string): Promise<Record<string, string> | undefined> {
    const row = await this.prisma.campaignCsvRow.findUnique({
      where: { id: rowId },
      select: { values: true },
    });
    return row ? (row.values as Record<string, string>) : undefined;
  }

  /** The upload against the rows stored before: the row limit, the same keying, no MAC twice. */
  private async checkAgainstStored(
    campaignId: string,
    rows: ReadonlyArray<{ mac: string | null }>,
    keyed: boolean,
  ): Promise<{ _max: { rowNumber: number | null } }> {
    const campaign = { id: campaignId };

    const existing = await this.prisma.campaignCsvRow.aggregate({
      where: { campaignId: campaign.id },
      _max: { rowNumber: true },
      _count: { _all: true },
    });
    if (existing._count._all + rows.length > MAX_CSV_ROWS)
      throw refused(
        `A campaign holds at most ${MAX_CSV_ROWS} CSV rows; this upload would make ${existing._count._all + rows.length}.`,
      );
    if (existing._count._all > 0) {
      const keyedBefore =
        (await this.prisma.campaignCsvRow.count({ where: { campaignId: campaign.id, mac: { not: null } } })) >
        0;
      if (keyedBefore !== keyed)
        throw refused(
          keyedBefore
            ? "The campaign's CSV rows are keyed by a mac column; this CSV has none. Upload rows with a mac column."
            : "The campaign's CSV rows are taken in order (no mac column); this CSV has a mac column. Upload rows without it.",
        );
      if (keyed) {
        const taken = await this.prisma.campaignCsvRow.findFirst({
          where: { campaignId: campaign.id, mac: { in: rows.map((r) => r.mac!) } },
          select: { mac: true, rowNumber: true },
        });
        if (taken)
          throw refused(
            `MAC ${taken.mac} already has CSV row ${taken.rowNumber} in this campaign; keep one row per unit.`,
          );
      }
    }
    return existing;
  }

  private declaredSecrets(unitData: CampaignUnitData): string[] {
    return unitData.csv?.secretColumns ?? [];
  }

  /** Each row must make a valid partition that fits: found at upload, not when a unit is on the fixture. */
  private checkRowsAgainstRecipe(
    campaign: { unitData: CampaignUnitData; partitions: unknown },
    rows: ReadonlyArray<{ line: number; values: Record<string, string> }>,
  ): void {
    const recipe = campaign.unitData.nvs;
    if (!recipe) return;
    const placement = nvsPlacement(campaign.partitions, recipe.partition);
    if ('problem' in placement) throw refused(placement.problem, 'unitData.nvs.partition');
    rows.forEach((row, i) => {
      try {
        buildNvsImage(recipe, placement, sampleContext(campaign.unitData, row.values));
      } catch (error) {
        if (error instanceof Error)
          throw refused(
            `CSV row ${i + 1} (line ${row.line}): ${error.message.replace(/\.$/, '')}. Fix the row and upload the CSV again; no row was stored.`,
          );
        throw error;
      }
    });
  }
}

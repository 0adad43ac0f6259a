/**
 * Trends, failure rates and yield of ended runs, read from "RunStat" (runs
 * counted per hour and per day by a trigger, see the run_stats_farm_changes
 * migration) so an answer sums at most a few thousand bucket rows instead of
 * scanning a million runs.
 */
import { Inject, Injectable } from '@nestjs/common';
import type {
  BreakdownRow,
  BreakdownView,
  FailureStatsView,
  StatsBreakdownQuery,
  StatsQuery,
  TrendView,
} from '#contracts';
import { Prisma, type PrismaClient } from '../db/generated/prisma/client.js';
import { PRISMA } from '../infra/tokens.js';
import { statsWindow, type StatsWindow } from './stats-window.js';

/** The nil UUID the trigger stores for runs without a board or agent. */
const NONE = '00000000-0000-0000-0000-000000000000';

/** The sums every figure is computed from, as PostgreSQL returns them (bigint sums as strings). */
interface Sums {
  runs: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  timed: number;
  duration_ms: string | null;
  max_duration_ms: number | null;
  bytes: string | null;
}

const SUMS = Prisma.sql`
  SUM(s."runs")::int AS runs,
  COALESCE(SUM(s."runs") FILTER (WHERE s."status" = 'succeeded'), 0)::int AS succeeded,
  COALESCE(SUM(s."runs") FILTER (WHERE s."status" = 'failed'), 0)::int AS failed,
  COALESCE(SUM(s."runs") FILTER (WHERE s."status" = 'cancelled'), 0)::int AS cancelled,
  COALESCE(SUM(s."timedRuns") FILTER (WHERE s."status" = 'succeeded'), 0)::int AS timed,
  SUM(s."durationMs") FILTER (WHERE s."status" = 'succeeded' AND s."timedRuns" > 0)::text AS duration_ms,
  MAX(s."maxDurationMs") FILTER (WHERE s."status" = 'succeeded' AND s."timedRuns" > 0) AS max_duration_ms,
  SUM(s."bytesWritten") FILTER (WHERE s."status" = 'succeeded' AND s."timedRuns" > 0)::text AS bytes`;

/** Mean duration, longest run and throughput of the succeeded runs that were timed. */
function figures(row: Sums) {
  const durationMs = Number(row.duration_ms ?? 0);
  const timed = row.timed > 0 && durationMs >= 0;
  return {
    runs: row.runs,
    succeeded: row.succeeded,
    failed: row.failed,
    cancelled: row.cancelled,
    meanDurationMs: timed ? durationMs / row.timed : null,
    maxDurationMs: timed ? row.max_duration_ms : null,
    throughputBytesPerS: timed && durationMs > 0 ? Number(row.bytes ?? 0) / (durationMs / 1000) : null,
  };
}

const BREAKDOWN_COLUMN = {
  device: Prisma.sql`s."deviceId"::text`,
  agent: Prisma.sql`s."agentId"::text`,
  chip: Prisma.sql`s."chip"`,
  firmware: Prisma.sql`s."firmwareId"::text`,
} as const;

/** Runs of a status in a group (ORDER BY cannot use the select list's aliases inside expressions). */
const sumOf = (status: string) =>
  Prisma.sql`COALESCE(SUM(s."runs") FILTER (WHERE s."status" = ${status}::"RunStatus"), 0)`;
const TIMED_OK = Prisma.sql`FILTER (WHERE s."status" = 'succeeded' AND s."timedRuns" > 0)`;

/** ORDER BY of each breakdown sort: worst first; rows without the figure last. */
const BREAKDOWN_ORDER = {
  runs: Prisma.sql`SUM(s."runs") DESC`,
  failed: Prisma.sql`${sumOf('failed')} DESC, SUM(s."runs") DESC`,
  yield: Prisma.sql`${sumOf('succeeded')}::float8 / NULLIF(${sumOf('succeeded')} + ${sumOf('failed')}, 0) ASC NULLS LAST, SUM(s."runs") DESC`,
  duration: Prisma.sql`SUM(s."durationMs") ${TIMED_OK}::float8 / NULLIF(SUM(s."timedRuns") ${TIMED_OK}, 0) DESC NULLS LAST`,
  throughput: Prisma.sql`SUM(s."bytesWritten") ${TIMED_OK}::float8 / NULLIF(SUM(s."durationMs") ${TIMED_OK}, 0) ASC NULLS LAST`,
} as const;

@Injectable()
export class StatsService {
  constructor(@Inject(PRISMA) private readonly prisma: PrismaClient) {}

  /** GET /stats/trend */
  async trend(query: StatsQuery): Promise<TrendView> {
    const window = statsWindow(query);
    const rows = await this.prisma.$queryRaw<Array<Sums & { bucket: Date }>>`
      SELECT s."bucket" AS bucket, ${SUMS} FROM "RunStat" s
      WHERE ${this.where(window, query)} GROUP BY s."bucket" ORDER BY s."bucket"`;
    return {
      ...this.windowView(window),
      points: rows.map((row) => ({ bucket: row.bucket.toISOString(), ...figures(row) })),
    };
  }

  /** GET /stats/failures */
  async failures(query: StatsQuery): Promise<FailureStatsView> {
    const window = statsWindow(query);
    const where = this.where(window, query);
    const [totals, codes] = await Promise.all([
      this.prisma.$queryRaw<Array<{ runs: number | null; failed: number | null }>>`
        SELECT SUM(s."runs")::int AS runs,
          SUM(s."runs") FILTER (WHERE s."status" = 'failed')::int AS failed
        FROM "RunStat" s WHERE ${where}`,
      this.prisma.$queryRaw<Array<{ code: string; runs: number }>>`
        SELECT s."errorCode" AS code, SUM(s."runs")::int AS runs FROM "RunStat" s
        WHERE ${where} AND s."status" = 'failed' GROUP BY s."errorCode" ORDER BY runs DESC, code`,
    ]);
    const runs = totals[0]?.runs ?? 0;
    return {
      ...this.windowView(window),
      runs,
      failed: totals[0]?.failed ?? 0,
      codes: codes.map((c) => ({
        errorCode: c.code || 'UNKNOWN',
        runs: c.runs,
        rate: runs ? c.runs / runs : 0,
      })),
    };
  }

  /** GET /stats/breakdown */
  async breakdown(query: StatsBreakdownQuery): Promise<BreakdownView> {
    const window = statsWindow(query);
    const rows = await this.prisma.$queryRaw<Array<Sums & { key: string }>>`
      SELECT ${BREAKDOWN_COLUMN[query.by]} AS key, ${SUMS} FROM "RunStat" s
      WHERE ${this.where(window, query)} GROUP BY 1
      ORDER BY ${BREAKDOWN_ORDER[query.sort]}, 1 LIMIT ${query.limit}`;
    const labels = await this.labels(
      query.by,
      rows.map((r) => r.key),
    );
    return {
      ...this.windowView(window),
      by: query.by,
      rows: rows.map((row): BreakdownRow => {
        const key = row.key === NONE ? '' : row.key;
        const judged = row.succeeded + row.failed;
        return {
          key,
          label: labels.get(row.key) ?? (key === '' ? `no ${query.by}` : key),
          ...figures(row),
          yield: judged ? row.succeeded / judged : null,
        };
      }),
    };
  }

  private where(window: StatsWindow, query: StatsQuery): Prisma.Sql {
    const parts = [
      Prisma.sql`s."grain" = ${window.grain}`,
      Prisma.sql`s."bucket" >= ${window.from}`,
      Prisma.sql`s."bucket" < ${window.to}`,
    ];
    if (query.deviceId) parts.push(Prisma.sql`s."deviceId" = ${query.deviceId}::uuid`);
    if (query.agentId) parts.push(Prisma.sql`s."agentId" = ${query.agentId}::uuid`);
    if (query.firmwareId) parts.push(Prisma.sql`s."firmwareId" = ${query.firmwareId}::uuid`);
    if (query.chip) parts.push(Prisma.sql`s."chip" = ${query.chip}`);
    return Prisma.join(parts, ' AND ');
  }

  private windowView(window: StatsWindow) {
    return { from: window.from.toISOString(), to: window.to.toISOString(), grain: window.grain };
  }

  /** People's names for the keys of a breakdown: MAC and label, agent name, firmware name and version. */
  private async labels(by: StatsBreakdownQuery['by'], keys: string[]): Promise<Map<string, string>> {
    const ids = keys.filter((k) => k !== NONE);
    if (by === 'chip' || ids.length === 0) return new Map();
    if (by === 'device') {
      const rows = await this.prisma.device.findMany({
        where: { id: { in: ids } },
        select: { id: true, mac: true, label: true },
      });
      return new Map(rows.map((d) => [d.id, d.label ? `${d.label} (${d.mac})` : d.mac]));
    }
    if (by === 'agent') {
      const rows = await this.prisma.agent.findMany({
        where: { id: { in: ids } },
        select: { id: true, name: true },
      });
      return new Map(rows.map((a) => [a.id, a.name]));
    }
    const rows = await this.prisma.firmware.findMany({
      where: { id: { in: ids } },
      select: { id: true, name: true, version: true },
    });
    return new Map(rows.map((f) => [f.id, f.version ? `${f.name} ${f.version}` : f.name]));
  }
}

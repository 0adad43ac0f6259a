/** The window of a statistics query: its bounds, its bucket width, and the refusals of windows too wide. */
import {
  HOURLY_STATS_UP_TO_HOURS,
  MAX_HOURLY_STATS_DAYS,
  MAX_STATS_WINDOW_DAYS,
  type StatGrain,
  type StatsQuery,
} from '#contracts';
import { ApiError } from '../common/api-error.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** The window when the query names neither end. */
export const DEFAULT_STATS_WINDOW_MS = 7 * DAY_MS;

/** A resolved window: buckets that start at or after `from` and before `to`. */
export interface StatsWindow {
  from: Date;
  to: Date;
  grain: StatGrain;
}

/** The start of the hour or UTC day holding `at`. */
export function bucketStart(at: Date, grain: StatGrain): Date {
  const size = grain === 'hour' ? HOUR_MS : DAY_MS;
  return new Date(Math.floor(at.getTime() / size) * size);
}

/**
 * Resolves the query's window (default: the 7 days before now, hourly up to HOURLY_STATS_UP_TO_HOURS);
 * `from` moves back to the start of its bucket, so the first bucket is whole. 400 for a window that is
 * empty, longer than MAX_STATS_WINDOW_DAYS, or hourly over more than MAX_HOURLY_STATS_DAYS.
 */
export function statsWindow(query: Pick<StatsQuery, 'from' | 'to' | 'grain'>, now = new Date()): StatsWindow {
  const to = query.to ? new Date(query.to) : now;
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - DEFAULT_STATS_WINDOW_MS);
  const span = to.getTime() - from.getTime();
  if (span <= 0)
    throw ApiError.validation(`The window is empty: from (${from.toISOString()}) must be before to.`, [
      { field: 'from', message: 'must be before to' },
    ]);
  if (span > MAX_STATS_WINDOW_DAYS * DAY_MS)
    throw ApiError.validation(
      `The window is ${Math.ceil(span / DAY_MS)} days long; ask for ${MAX_STATS_WINDOW_DAYS} days at most.`,
      [{ field: 'from', message: `at most ${MAX_STATS_WINDOW_DAYS} days before to` }],
    );
  const grain = query.grain ?? (span <= HOURLY_STATS_UP_TO_HOURS * HOUR_MS ? 'hour' : 'day');
  if (grain === 'hour' && span > MAX_HOURLY_STATS_DAYS * DAY_MS)
    throw ApiError.validation(
      `Hourly buckets go up to ${MAX_HOURLY_STATS_DAYS} days; ask for grain=day or a shorter window.`,
      [{ field: 'grain', message: `hour only for windows up to ${MAX_HOURLY_STATS_DAYS} days` }],
    );
  return { from: bucketStart(from, grain), to, grain };
}

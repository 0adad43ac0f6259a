/**
 * Paginated lists: every list route answers a Page and takes limit/offset
 * within the same bounds, so clients page through any of them alike.
 */
import { z } from 'zod';

/** Items per page when the client does not say. */
export const DEFAULT_PAGE_LIMIT = 50;

/** A page of a list: the items, the total matching the filters, and the window asked for. */
export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** The schema of a page of `item`s. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z
    .object({
      items: z.array(item),
      total: z.number().int().min(0).describe('Items matching the filters, over all pages'),
      limit: z.number().int().min(1),
      offset: z.number().int().min(0),
    })
    .strict();
}

/** Largest offset a list takes: past it there is nothing to page to, and the database's row offsets end. */
export const MAX_PAGE_OFFSET = 2 ** 31;

/** limit (1..maxLimit, default 50) and offset (0..2^31, default 0) query parameters; extend it with a list's filters. */
export function pageQuery(maxLimit: number) {
  return z.object({
    limit: z.coerce
      .number({ message: 'limit must be a whole number' })
      .int('limit must be a whole number')
      .min(1, 'limit must be at least 1')
      .max(maxLimit, `limit must be at most ${maxLimit}`)
      .default(DEFAULT_PAGE_LIMIT),
    offset: z.coerce
      .number({ message: 'offset must be a whole number' })
      .int('offset must be a whole number')
      .min(0, 'offset must be 0 or more')
      .max(MAX_PAGE_OFFSET, `offset must be at most ${MAX_PAGE_OFFSET}`)
      .default(0),
  });
}

/** Page sizes of the list routes. */
export const MAX_PAGE_LIMIT = {
  jobs: 200,
  devices: 500,
  deviceHistory: 500,
  firmware: 200,
  campaigns: 1000,
  campaignUnits: 1000,
  farmEvents: 500,
} as const;

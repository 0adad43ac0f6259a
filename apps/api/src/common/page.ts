import type { Page } from '#contracts';

/** The Page answer of a list route: the items of the window asked for and the total over all pages. */
export function page<T>(items: T[], total: number, window: { limit: number; offset: number }): Page<T> {
  return { items, total, limit: window.limit, offset: window.offset };
}

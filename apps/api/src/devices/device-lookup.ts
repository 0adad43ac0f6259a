/**
 * How the api finds boards: one board by id or MAC (the contracts' one grammar, for every route
 * that names a board), and the boards a selector matches.
 */
import { ApiErrorCode, parseDeviceKey, type DeviceSelector } from '#contracts';
import { ApiError } from '../common/api-error.js';
import type { Prisma } from '../db/generated/prisma/client.js';

/** The unique `where` of the board a text names (UUID, or MAC in any spelling); 404 when it is neither. */
export function deviceWhereUnique(idOrMac: string): { id: string } | { mac: string } {
  const key = parseDeviceKey(idOrMac);
  if (!key)
    throw new ApiError(
      ApiErrorCode.NOT_FOUND,
      `"${idOrMac.trim()}" is neither a device id nor a MAC address (aa:bb:cc:dd:ee:ff).`,
    );
  return key;
}

/** The boards a selector matches: its chip, its pool, every one of its tags. */
export function deviceSelectorWhere(selector: DeviceSelector): Prisma.DeviceWhereInput {
  return {
    ...(selector.chip ? { chip: selector.chip } : {}),
    ...(selector.pool ? { pool: selector.pool } : {}),
    ...(selector.tags?.length ? { tags: { hasEvery: selector.tags } } : {}),
  };
}

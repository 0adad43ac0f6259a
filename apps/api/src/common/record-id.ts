import { isUuid } from '#contracts';
import { ApiError } from './api-error.js';

/**
 * The id of a record named in a path, checked before it reaches the database: every record id is
 * a UUID (the columns are uuid-typed, so PostgreSQL would refuse anything else with an error, not
 * an answer). A text that is no UUID names nothing: 404, like an unknown id.
 */
export function recordId(what: string, id: string): string {
  if (!isUuid(id)) throw ApiError.notFound(what, id);
  return id;
}

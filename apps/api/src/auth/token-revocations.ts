/**
 * Revoking a token tells every api replica at once, so each ends the event streams that token
 * opened (the guard checks a token only when a request starts; a stream is one request that lasts
 * for hours). The message is a hint that makes it immediate: each replica also re-reads the tokens
 * of its open streams every few seconds (events/stream-credentials.ts), which catches a revocation
 * made straight on the database (`flashfarm token revoke`), a message lost while Redis was away,
 * and tokens that expire.
 */
import type { RedisDbScope } from '#contracts';

/** Pub/sub channel carrying the id of each revoked token to every api replica (named like the fan-out channel). */
export function tokenRevokedChannel(redis: RedisDbScope): string {
  return `ff:${redis.options.db ?? 0}:tokens:revoked`;
}

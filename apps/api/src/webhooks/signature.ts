/**
 * The signature of a webhook delivery: HMAC-SHA256, keyed with the hook's
 * secret, of "<timestamp>.<body>". The timestamp is signed with the body so a
 * captured delivery cannot be replayed later under a fresh timestamp; the
 * receiver compares in constant time and refuses old timestamps.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The X-Flashfarm-Signature value of a body sent at `timestamp` (ms since the epoch, as sent). */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** What verifyWebhook checks. */
export interface SignedDelivery {
  secret: string;
  /** X-Flashfarm-Timestamp as received. */
  timestamp: string | undefined;
  /** X-Flashfarm-Signature as received. */
  signature: string | undefined;
  /** The raw body, byte for byte as received (a re-serialised JSON object does not verify). */
  body: string;
  /** Oldest acceptable delivery, in ms before `now` (default 5 minutes). */
  toleranceMs?: number;
  now?: number;
}

/** True when the signature is the secret's for this body and timestamp, and the timestamp is recent. */
export function verifyWebhook(d: SignedDelivery): boolean {
  if (!d.timestamp || !d.signature || !/^\d{1,16}$/.test(d.timestamp)) return false;
  const age = (d.now ?? Date.now()) - Number(d.timestamp);
  if (Math.abs(age) > (d.toleranceMs ?? 5 * 60_000)) return false;
  const expected = Buffer.from(signWebhook(d.secret, d.timestamp, d.body));
  const given = Buffer.from(d.signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

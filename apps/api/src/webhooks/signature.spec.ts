import { createHmac } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { signWebhook, verifyWebhook } from './signature.js';

const SECRET = 'label-printer-secret-0123';
const BODY = '{"unitId":"0190f2c4-0000-7000-8000-000000000001","result":"succeeded"}';
const NOW = 1_780_000_000_000;
const TS = String(NOW - 1_000);

describe('webhook signatures', () => {
  it('is the hex HMAC-SHA256 of "<timestamp>.<body>" keyed with the secret', () => {
    // Computed independently of signWebhook, as a receiver in any language would.
    const hex = createHmac('sha256', SECRET).update(`${TS}.${BODY}`).digest('hex');
    expect(signWebhook(SECRET, TS, BODY)).toBe(`sha256=${hex}`);
    // A fixed vector, from `printf '0.The quick brown fox' | openssl dgst -sha256 -hmac key`.
    expect(signWebhook('key', '0', 'The quick brown fox')).toBe(
      'sha256=10c3ae5bdd0fd5c9ad60a05ea4051bb529622def626c0d64295951b2039454ed',
    );
  });

  it('verifies its own signature', () => {
    const signature = signWebhook(SECRET, TS, BODY);
    expect(verifyWebhook({ secret: SECRET, timestamp: TS, signature, body: BODY, now: NOW })).toBe(true);
  });

  it('refuses another secret, a changed body, a moved timestamp, a stale one and garbage', () => {
    const signature = signWebhook(SECRET, TS, BODY);
    const base = { secret: SECRET, timestamp: TS, signature, body: BODY, now: NOW };
    expect(verifyWebhook({ ...base, secret: `${SECRET}x` })).toBe(false);
    expect(verifyWebhook({ ...base, body: BODY.replace('succeeded', 'failed') })).toBe(false);
    expect(verifyWebhook({ ...base, timestamp: String(NOW) })).toBe(false);
    expect(verifyWebhook({ ...base, now: NOW + 10 * 60_000 })).toBe(false);
    expect(verifyWebhook({ ...base, signature: undefined })).toBe(false);
    expect(verifyWebhook({ ...base, timestamp: 'yesterday' })).toBe(false);
    expect(verifyWebhook({ ...base, signature: 'sha256=00' })).toBe(false);
    expect(verifyWebhook({ ...base, signature: signature.toUpperCase() })).toBe(false);
  });
});

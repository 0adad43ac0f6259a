import crypto from 'node:crypto';

/** Every generated secret starts with this, so leaked tokens are easy to recognise and scan for. */
export const TOKEN_SECRET_PREFIX = 'ff_';
/** Random bytes per secret (256 bits). */
export const TOKEN_SECRET_BYTES = 32;
/** Characters kept in the clear (stored and listed) so people can tell tokens apart. */
export const TOKEN_DISPLAY_PREFIX_CHARS = 10;

/** A new random secret: `ff_` + base64url of 32 random bytes. */
export function generateTokenSecret(): string {
  return TOKEN_SECRET_PREFIX + crypto.randomBytes(TOKEN_SECRET_BYTES).toString('base64url');
}

/** What is stored instead of the secret: its SHA-256, hex. */
export function hashTokenSecret(secret: string): string {
  return crypto.createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** The short, non-secret prefix shown in listings. */
export function displayPrefix(secret: string): string {
  return secret.slice(0, TOKEN_DISPLAY_PREFIX_CHARS);
}

/**
 * How ids are written: records are named by UUIDs, boards also by their MAC
 * in any of the spellings people type (AA-BB-CC-DD-EE-FF, aa:bb:…,
 * aabbccddeeff, aabb.ccdd.eeff), stored as lowercase aa:bb:cc:dd:ee:ff. One
 * grammar for every route, every client and the agent.
 */
import { z } from 'zod';

// Both cases spelled out (no flag), so the pattern means the same as a JSON-Schema pattern.
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const SEPARATED_MAC_RE = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;
const BARE_MAC_RE = /^[0-9a-f]{12}$/i;
const DOTTED_MAC_RE = /^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i;

/** The UUID grammar as a JSON-Schema/OpenAPI pattern (any version, any case). */
export const UUID_PATTERN = UUID_RE.source;

/** A record id (UUID) in a view or a request. */
export const Uuid = z.string().regex(UUID_RE, 'must be a UUID');

/** True when the text is a UUID (the form of every record id). */
export function isUuid(text: string): boolean {
  return UUID_RE.test(text);
}

/** The canonical form (aa:bb:cc:dd:ee:ff), or undefined when the text is not a 48-bit MAC. */
export function canonicalMac(input: string): string | undefined {
  const t = input.trim();
  if (!SEPARATED_MAC_RE.test(t) && !BARE_MAC_RE.test(t) && !DOTTED_MAC_RE.test(t)) return undefined;
  const hex = t.replace(/[:.-]/g, '').toLowerCase();
  return hex.match(/../g)!.join(':');
}

/** How a board is named in a request: by its record id or by its MAC (canonical form). */
export type DeviceKey = { id: string } | { mac: string };

/** The device a text names (a UUID, or a MAC in any accepted spelling); undefined when it is neither. */
export function parseDeviceKey(text: string): DeviceKey | undefined {
  const key = text.trim();
  if (isUuid(key)) return { id: key };
  const mac = canonicalMac(key);
  return mac ? { mac } : undefined;
}

/**
 * MAC addresses as people type them (AA-BB-CC-DD-EE-FF, aa:bb:..., aabbccddeeff,
 * aabb.ccdd.eeff) and as the farm stores them: lowercase, colon-separated.
 */

const SEPARATED_RE = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;
const BARE_RE = /^[0-9a-f]{12}$/i;
const DOTTED_RE = /^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i;

/** The canonical form (aa:bb:cc:dd:ee:ff), or undefined when the text is not a 48-bit MAC. */
export function canonicalMac(input: string): string | undefined {
  const t = input.trim();
  if (!SEPARATED_RE.test(t) && !BARE_RE.test(t) && !DOTTED_RE.test(t)) return undefined;
  const hex = t.replace(/[:.-]/g, '').toLowerCase();
  return hex.match(/../g)!.join(':');
}

/** True when the text looks like a MAC in any accepted form. */
export function looksLikeMac(input: string): boolean {
  return canonicalMac(input) !== undefined;
}

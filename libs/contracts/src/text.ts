/**
 * Text the farm can store: every string a request carries ends up in
 * PostgreSQL (labels, names, filters, keys) or in a log, and PostgreSQL's text
 * and jsonb types cannot hold U+0000; a lone UTF-16 surrogate (a JSON escape
 * like "\ud800") is not a character at all, and bytes that are not UTF-8 were
 * never text. Such input is refused at the edge (400 INVALID_TEXT) instead of
 * failing deep inside a query as a 500.
 */

/** Why a text cannot be stored, as a stable code. */
export type UnsafeTextCode = 'NUL_CHARACTER' | 'LONE_SURROGATE' | 'INVALID_UTF8';

/** What is wrong with one string of a request and where it is. */
export interface UnsafeText {
  /** Where: `body.notes`, `query.search`, `path`, `form.name`. */
  field: string;
  code: UnsafeTextCode;
  message: string;
}

const WHAT: Record<UnsafeTextCode, string> = {
  NUL_CHARACTER: 'holds a NUL character (U+0000), which no text field can store; remove it',
  LONE_SURROGATE:
    'holds a lone UTF-16 surrogate (an escape like \\ud800 without its pair), which is not a character; send valid Unicode',
  INVALID_UTF8: 'holds bytes that are not UTF-8; send text encoded as UTF-8',
};

/** The problem of one string at `field`, worded for a person. */
export function unsafeText(field: string, code: UnsafeTextCode): UnsafeText {
  return { field, code, message: `${field} ${WHAT[code]}.` };
}

// Without the u flag a pattern sees UTF-16 code units: a high surrogate not followed by a low one, or a
// low one not preceded by a high one (String.prototype.isWellFormed is ES2024, past our library target).
const LONE_SURROGATE_RE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `text` cannot be stored (NUL or lone surrogate), or undefined when it can. */
export function unsafeTextCode(text: string): UnsafeTextCode | undefined {
  if (text.includes('\u0000')) return 'NUL_CHARACTER';
  if (LONE_SURROGATE_RE.test(text)) return 'LONE_SURROGATE';
  return undefined;
}

/** Most strings and containers one value is searched through (a 1 MB JSON body holds far fewer). */
const MAX_VISITS = 1_000_000;

/**
 * The first string (value or object key) inside a parsed JSON or form value
 * that cannot be stored, with its path under `root`. Iterative, so a deeply
 * nested body cannot exhaust the stack.
 */
export function findUnsafeText(value: unknown, root: string): UnsafeText | undefined {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path: root }];
  for (let visits = 0; stack.length && visits < MAX_VISITS; visits++) {
    const { value: v, path } = stack.pop()!;
    if (typeof v === 'string') {
      const code = unsafeTextCode(v);
      if (code) return unsafeText(path, code);
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i] as unknown, path: `${path}[${i}]` });
    } else if (v !== null && typeof v === 'object') {
      for (const [key, child] of Object.entries(v)) {
        const code = unsafeTextCode(key);
        if (code) return unsafeText(`${path} (a key)`, code);
        stack.push({ value: child, path: `${path}.${key}` });
      }
    }
  }
  return undefined;
}

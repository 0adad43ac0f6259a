/**
 * Boot-check patterns come from whoever may submit a job, and run on the
 * agents against whatever the board prints. A backtracking engine (JavaScript's
 * RegExp) takes exponential time on patterns like `(.*\s?)*!`: one job could
 * stall an agent and every board on it. So a pattern is compiled by RE2JS (a
 * pure-JavaScript port of RE2: matching time linear in the text, whatever the
 * pattern), and the api also refuses the shapes that are catastrophic for a
 * backtracking engine (a repeated group that repeats inside), which keeps
 * agents of earlier versions and any other JavaScript reader of the pattern
 * safe. A pattern must mean the same to both engines: RE2 syntax that
 * JavaScript also parses (no backreferences, no lookaround).
 */
import { RE2JS } from 're2js';

/** Longest boot-check pattern: enough for any real boot banner, short enough to read. */
export const MAX_BOOT_PATTERN_CHARS = 500;

/** A compiled boot-check pattern (RE2JS: linear-time matching). */
export type BootPattern = RE2JS;

/** Compiles a pattern that bootPatternProblem() accepted; throws on one it refuses. */
export function compileBootPattern(pattern: string): BootPattern {
  const problem = bootPatternProblem(pattern);
  if (problem) throw new Error(`boot-check pattern refused: ${problem}`);
  return RE2JS.compile(pattern);
}

/** Why a boot-check pattern is refused (worded to follow "the pattern"), or undefined when it is safe. */
export function bootPatternProblem(pattern: string): string | undefined {
  if (pattern.length === 0) return 'is empty';
  if (pattern.length > MAX_BOOT_PATTERN_CHARS)
    return `is ${pattern.length} characters; at most ${MAX_BOOT_PATTERN_CHARS} are allowed`;
  try {
    RE2JS.compile(pattern);
  } catch (error) {
    return `is not a regular expression RE2 accepts (${(error as Error).message}); RE2 has no backreferences or lookaround`;
  }
  try {
    new RegExp(pattern);
  } catch (error) {
    return `is not a JavaScript regular expression (${(error as Error).message})`;
  }
  const nested = nestedRepetition(pattern);
  if (nested)
    return `repeats a group that itself repeats (${nested}): a backtracking regular expression engine takes exponential time on it; write it without the nested repetition (for "(.*\\s?)*!" write ".*!")`;
  return undefined;
}

interface Frame {
  start: number;
  /** Something inside the group repeats (*, +, {n,m} with m > 1). */
  repeats: boolean;
}

/** The length of a repetition operator at `i` and whether it repeats more than once, or undefined. */
function quantifierAt(p: string, i: number): { length: number; repeats: boolean } | undefined {
  const c = p[i];
  if (c === '*' || c === '+') return { length: 1, repeats: true };
  if (c === '?') return { length: 1, repeats: false };
  if (c !== '{') return undefined;
  const m = /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i));
  if (!m) return undefined;
  const max = m[2] === undefined ? Number(m[1]) : m[3] === '' ? Infinity : Number(m[3]);
  return { length: m[0].length, repeats: max > 1 };
}

/** The end (index after ']') of the character class starting at `i`. */
function classEnd(p: string, i: number): number {
  let j = i + 1;
  if (p[j] === '^') j++;
  if (p[j] === ']') j++;
  while (j < p.length && p[j] !== ']') j += p[j] === '\\' ? 2 : 1;
  return j + 1;
}

/**
 * The first repeated group with repetition inside ("star height" above one), as the text of that
 * group, or undefined. The pattern already compiled, so groups and classes are balanced.
 */
function nestedRepetition(p: string): string | undefined {
  const stack: Frame[] = [{ start: 0, repeats: false }];
  // The atom a quantifier would apply to: where it starts and whether it repeats inside.
  let atom: { start: number; repeats: boolean } | undefined;
  let i = 0;
  while (i < p.length) {
    const c = p[i];
    const q = quantifierAt(p, i);
    if (q && atom) {
      if (q.repeats && atom.repeats) return p.slice(atom.start, i + q.length);
      if (q.repeats) stack[stack.length - 1].repeats = true;
      // A lazy or possessive mark after the operator belongs to it.
      i += q.length + (p[i + q.length] === '?' || p[i + q.length] === '+' ? 1 : 0);
      atom = undefined;
      continue;
    }
    if (c === '(') {
      stack.push({ start: i, repeats: false });
      atom = undefined;
      // Skip the group's prefix ((?:, (?P<name>, (?i)) so its characters are not atoms.
      const prefix = /^\((\?(P?<[^>]*>|[a-zA-Z-]*:?|:))?/.exec(p.slice(i));
      i += prefix ? prefix[0].length : 1;
      continue;
    }
    if (c === ')') {
      const frame = stack.length > 1 ? stack.pop()! : stack[0];
      if (frame.repeats) stack[stack.length - 1].repeats = true;
      atom = { start: frame.start, repeats: frame.repeats };
      i++;
      continue;
    }
    const end = c === '[' ? classEnd(p, i) : c === '\\' ? i + 2 : i + 1;
    atom = c === '|' ? undefined : { start: i, repeats: false };
    i = end;
  }
  return undefined;
}

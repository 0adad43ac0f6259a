/** JUnit XML for CI systems: one testsuite per job, one testcase per board (the slot's last attempt). */

/** One board's outcome, as the report needs it. */
export interface JunitCase {
  name: string;
  classname: string;
  timeSeconds: number;
  /** Absent when the run succeeded. */
  failure?: { code: string; message: string };
  /** True for runs that never ran (cancelled before a board took them). */
  skipped?: boolean;
  systemOut: string;
}

/** What the report covers. */
export interface JunitSuite {
  name: string;
  timestamp: string;
  timeSeconds: number;
  cases: JunitCase[];
}

// XML 1.0 forbids most control characters even as references; board logs can contain them.
// eslint-disable-next-line no-control-regex
const INVALID_XML_CHARS = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** Escapes text for an XML attribute or element. */
export function xmlEscape(text: string): string {
  return text
    .replace(INVALID_XML_CHARS, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/** Renders the report. */
export function renderJunit(suite: JunitSuite): string {
  const failures = suite.cases.filter((c) => c.failure).length;
  const skipped = suite.cases.filter((c) => c.skipped && !c.failure).length;
  const counts = `tests="${suite.cases.length}" failures="${failures}" errors="0" skipped="${skipped}"`;
  const time = (s: number) => s.toFixed(3);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="flashfarm" ${counts} time="${time(suite.timeSeconds)}">`,
    `  <testsuite name="${xmlEscape(suite.name)}" ${counts} time="${time(suite.timeSeconds)}" timestamp="${xmlEscape(suite.timestamp)}">`,
  ];
  for (const c of suite.cases) {
    lines.push(
      `    <testcase name="${xmlEscape(c.name)}" classname="${xmlEscape(c.classname)}" time="${time(c.timeSeconds)}">`,
    );
    if (c.failure)
      lines.push(
        `      <failure message="${xmlEscape(`${c.failure.code}: ${c.failure.message}`)}" type="${xmlEscape(c.failure.code)}">${xmlEscape(`${c.failure.code}: ${c.failure.message}`)}</failure>`,
      );
    else if (c.skipped) lines.push('      <skipped/>');
    lines.push(`      <system-out>${xmlEscape(c.systemOut)}</system-out>`, '    </testcase>');
  }
  lines.push('  </testsuite>', '</testsuites>', '');
  return lines.join('\n');
}

/**
 * State is written only by the transition functions: this reads every source
 * file of the api and fails on a write of Device.state, Run.status,
 * Campaign.status or CampaignUnit.status anywhere else — a Prisma create,
 * update or upsert whose data names the field, or raw SQL that sets it.
 */
import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';

const API_SRC = path.resolve(import.meta.dirname, '..');
/** The only files allowed to write state: the transition functions. */
const TRANSITION_FILES = ['state/device-state.ts', 'state/run-state.ts', 'state/campaign-state.ts'];

/** Prisma delegate → the state field of its model. */
const STATE_FIELD: Record<string, string> = {
  device: 'state',
  run: 'status',
  campaign: 'status',
  campaignUnit: 'status',
};
/** SQL table → the state column of its model. */
const STATE_COLUMN: Record<string, string> = {
  Device: 'state',
  Run: 'status',
  Campaign: 'status',
  CampaignUnit: 'status',
};

const WRITE_CALL =
  /\.(device|run|campaign|campaignUnit)\.(create|createMany|createManyAndReturn|update|updateMany|updateManyAndReturn|upsert)\(/g;
const SQL_WRITE = /\b(UPDATE|INSERT\s+INTO)\s+"(Device|Run|Campaign|CampaignUnit)"([^`;]*)/gi;

/** The text between the bracket at `open` and its partner (strings and template literals skipped). */
function balanced(text: string, open: number): string {
  const pairs: Record<string, string> = { '(': ')', '{': '}', '[': ']' };
  const stack: string[] = [];
  let quote: string | undefined;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') quote = c;
    else if (pairs[c]) stack.push(pairs[c]);
    else if (c === stack[stack.length - 1]) {
      stack.pop();
      if (stack.length === 0) return text.slice(open, i + 1);
    }
  }
  return text.slice(open);
}

/** The argument of a write call with its filters (where, select, include, orderBy) cut out. */
function writtenPart(args: string): string {
  let out = args;
  for (const key of ['where', 'select', 'include', 'orderBy', 'cursor']) {
    for (;;) {
      const m = new RegExp(`\\b${key}\\s*:\\s*`).exec(out);
      if (!m) break;
      const start = m.index + m[0].length;
      const block = out[start] === '{' || out[start] === '[' ? balanced(out, start) : '';
      out = out.slice(0, m.index) + out.slice(start + block.length);
    }
  }
  return out;
}

/** Each write of a state field in `source`, as "delegate.method" or the SQL statement's start. */
function stateWrites(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(WRITE_CALL)) {
    const field = STATE_FIELD[m[1]];
    const args = writtenPart(balanced(source, m.index + m[0].length - 1));
    // A key `field:`, or the shorthand `{ field }` / `field,` in an object literal.
    if (new RegExp(`(^|[{,\\s])${field}\\s*(:|,|\\})`).test(args)) found.push(`${m[1]}.${m[2]}`);
  }
  for (const m of source.matchAll(SQL_WRITE)) {
    const column = STATE_COLUMN[m[2]];
    if (new RegExp(`"?${column}"?\\s*(=|,|\\))`, 'i').test(m[3])) found.push(`${m[1]} "${m[2]}"`);
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : sourceFiles(full);
    return e.name.endsWith('.ts') && !e.name.endsWith('.spec.ts') ? [full] : [];
  });
}

describe('state writes', () => {
  it('finds writes of state in every form the api could use', () => {
    expect(stateWrites(`await tx.device.updateMany({ where: { id }, data: { state: 'busy' } });`)).toEqual([
      'device.updateMany',
    ]);
    expect(stateWrites(`this.prisma.run.update({ where: { id }, data: { status, finishedAt } })`)).toEqual([
      'run.update',
    ]);
    expect(stateWrites(`db.campaignUnit.create({ data: { campaignId, status: 'pending' } })`)).toEqual([
      'campaignUnit.create',
    ]);
    expect(
      stateWrites(`tx.device.update({ where: { id }, data: { ...(x ? { state: 'idle' as const } : {}) } })`),
    ).toEqual(['device.update']);
    expect(stateWrites('tx.$executeRaw`UPDATE "Run" SET "status" = \'failed\' WHERE id = ${id}`')).toEqual([
      'UPDATE "Run"',
    ]);
    expect(stateWrites('tx.$queryRaw`UPDATE "Device" AS d SET state = \'offline\'`')).toEqual([
      'UPDATE "Device"',
    ]);
  });

  it('does not mistake filters, reads or other fields for writes', () => {
    expect(stateWrites(`tx.run.updateMany({ where: { status: 'running' }, data: { portPath } })`)).toEqual(
      [],
    );
    expect(stateWrites(`prisma.device.findMany({ where: { state: 'idle' } })`)).toEqual([]);
    expect(stateWrites(`tx.job.update({ where: { id }, data: { status: 'running' } })`)).toEqual([]);
    expect(
      stateWrites('tx.$executeRaw`UPDATE "Run" SET "lastLogSeq" = 3 WHERE "status" <> \'failed\'`'),
    ).toEqual([]);
  });

  it('the transition functions are where state is written', () => {
    for (const file of TRANSITION_FILES)
      expect([file, stateWrites(fs.readFileSync(path.join(API_SRC, file), 'utf8')).length > 0]).toEqual([
        file,
        true,
      ]);
  });

  it('happen nowhere else in apps/api/src', () => {
    const files = sourceFiles(API_SRC);
    expect(files.length).toBeGreaterThan(50);
    const offenders = files
      .filter((f) => !TRANSITION_FILES.includes(path.relative(API_SRC, f).split(path.sep).join('/')))
      .flatMap((f) =>
        stateWrites(fs.readFileSync(f, 'utf8')).map((w) => `${path.relative(API_SRC, f)}: ${w}`),
      );
    expect(offenders).toEqual([]);
  });
});

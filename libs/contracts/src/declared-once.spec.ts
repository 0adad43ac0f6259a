/**
 * HTTP views and requests are declared in libs/contracts and nowhere else:
 * a copy elsewhere (in the api, the CLI, the dashboard, the agent, a test)
 * drifts from the answer it describes without breaking any type check. This
 * test reads every TypeScript file outside libs/contracts and fails on a type
 * or interface that redeclares a contract name or is named like a view,
 * request or page.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const CONTRACTS = path.join(ROOT, 'libs/contracts/src');
// The places that speak HTTP; the libs below the contract (esp, sim, serial, runtime) have their
// own domain types, and the protocol tests speak serial.
const SCANNED = ['apps', 'test/support', 'test/integration', 'test/e2e', 'test/browser', 'bench', 'scripts'];

/** Names that say "a shape of the HTTP contract". */
const CONTRACT_LIKE = [
  /View$/,
  /Page$/,
  /Dto$/,
  /^Problem(Body|Detail)?$/,
  /Snapshot$/,
  /(Request|Response)(Body)?$/,
  /^(Device|Job|Run|Firmware|Campaign|Unit|Agent|Token|Attachment)(Detail|Row|Summary|Record)?$/,
];

/** Declarations whose names look like the contract's but are not HTTP shapes, each with the reason. */
const NOT_HTTP_SHAPES: Record<string, string> = {
  'apps/api/src/auth/roles.ts AuthenticatedRequest': 'the express request with the caller attached',
};

function files(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory())
      return ['node_modules', 'generated', 'dist'].includes(entry.name) || full === CONTRACTS
        ? []
        : files(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every type and interface declared at the top level of a file. */
function declarations(file: string): string[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  return source.statements.flatMap((statement) =>
    ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement) ? [statement.name.text] : [],
  );
}

/** The type names libs/contracts exports. */
function contractNames(): Set<string> {
  return new Set(
    files(CONTRACTS)
      .filter((f) => !f.endsWith('.spec.ts'))
      .flatMap(exportedNames),
  );
}

function exportedNames(file: string): string[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false);
  return source.statements.flatMap((statement) => {
    const exported = ts.canHaveModifiers(statement)
      ? ts.getModifiers(statement)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)
      : false;
    if (!exported) return [];
    if (ts.isInterfaceDeclaration(statement) || ts.isTypeAliasDeclaration(statement))
      return [statement.name.text];
    if (ts.isVariableStatement(statement))
      return statement.declarationList.declarations.flatMap((d) =>
        ts.isIdentifier(d.name) ? [d.name.text] : [],
      );
    return [];
  });
}

describe('HTTP views and requests', () => {
  const contract = contractNames();
  const scanned = SCANNED.flatMap((dir) => files(path.join(ROOT, dir)));

  it('are declared in libs/contracts only', () => {
    const copies = scanned.flatMap((file) => {
      const where = path.relative(ROOT, file);
      return declarations(file)
        .filter((name) => contract.has(name) || CONTRACT_LIKE.some((re) => re.test(name)))
        .filter((name) => !NOT_HTTP_SHAPES[`${where} ${name}`])
        .map((name) => `${where}: ${name}`);
    });
    expect(copies).toEqual([]);
  });

  it('reads the files it checks and knows the contract names', () => {
    // Guards the test itself: a scan that found nothing would pass on nothing.
    expect(scanned.length).toBeGreaterThan(100);
    expect(scanned.some((f) => f.endsWith('apps/dashboard/src/devices.ts'))).toBe(true);
    for (const name of ['JobView', 'DeviceView', 'Page', 'ProblemBody', 'RunSnapshot', 'UnitRecord'])
      expect(contract.has(name)).toBe(true);
  });
});

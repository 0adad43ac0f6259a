/**
 * The api's folders depend on each other one way. A loop between two folders
 * means neither can be read, tested or changed without the other; this test
 * finds every such loop from the import statements (static and dynamic) of
 * every source file under apps/api/src.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import ts from 'typescript';

const SRC = import.meta.dirname;

/**
 * The run pipeline, bottom first: each folder may import the ones before it, never one after it
 * (events fans out and streams; runs record what agents report; the scheduler binds and
 * dispatches runs; jobs create them; campaigns create jobs). docs/ARCHITECTURE.md explains it.
 */
const PIPELINE = ['events', 'runs', 'scheduler', 'jobs', 'campaigns'];

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'generated' ? [] : sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

/** folder → folder → the files whose imports make that edge. */
function folderGraph(): Map<string, Map<string, string[]>> {
  const graph = new Map<string, Map<string, string[]>>();
  for (const file of sourceFiles(SRC)) {
    const from = path.relative(SRC, file).split(path.sep)[0];
    if (from.endsWith('.ts')) continue; // files at the root (main.ts, app.module.ts) compose everything
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = path.relative(SRC, path.resolve(path.dirname(file), fileName));
      const to = target.split(path.sep)[0];
      if (target.startsWith('..') || to === from || to.endsWith('.js')) continue;
      const edges = graph.get(from) ?? new Map<string, string[]>();
      edges.set(to, [...(edges.get(to) ?? []), path.relative(SRC, file)]);
      graph.set(from, edges);
    }
  }
  return graph;
}

/** Every set of folders that reach each other (Tarjan's strongly connected components of size > 1). */
function loops(graph: Map<string, Map<string, string[]>>): string[][] {
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (node: string): void => {
    indexOf.set(node, index);
    low.set(node, index++);
    stack.push(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (!indexOf.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (stack.includes(next)) low.set(node, Math.min(low.get(node)!, indexOf.get(next)!));
    }
    if (low.get(node) === indexOf.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!indexOf.has(node)) visit(node);
  return found;
}

describe('folders of apps/api/src', () => {
  const graph = folderGraph();

  it('import each other without loops', () => {
    const described = loops(graph).map((component) =>
      component
        .flatMap((from) =>
          [...(graph.get(from)?.entries() ?? [])]
            .filter(([to]) => component.includes(to))
            .map(([to, files]) => `${from} → ${to} (${files.join(', ')})`),
        )
        .join('; '),
    );
    expect(described).toEqual([]);
  });

  it('follow the run pipeline one way: events, runs, scheduler, jobs, campaigns', () => {
    const upward: string[] = [];
    PIPELINE.forEach((from, i) => {
      for (const [to, files] of graph.get(from) ?? [])
        if (PIPELINE.indexOf(to) > i) upward.push(`${from} → ${to} (${files.join(', ')})`);
    });
    expect(upward).toEqual([]);
  });

  it('finds the edges it checks', () => {
    // The scan itself must see imports, or the two tests above would pass on nothing.
    expect(graph.get('runs')?.has('events')).toBe(true);
    expect(graph.get('jobs')?.has('scheduler')).toBe(true);
  });
});

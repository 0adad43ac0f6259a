/**
 * Performs the Dockerfile's stages as plain commands in a scratch directory,
 * for a machine without a Docker engine: the context copied with
 * .dockerignore's rules, each stage in its own directory standing for the
 * image's root, COPY and RUN done in order, and the runtime stage's CMD and
 * HEALTHCHECK read back for the test to run. It understands the subset of
 * instructions our Dockerfile uses (the Dockerfile says so) and refuses any
 * other, so the two cannot drift apart silently.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/** One stage as performed: its stand-in root and what its image would run. */
export interface PerformedStage {
  name: string;
  /** The directory standing for the image's `/`. */
  root: string;
  /** The WORKDIR, inside root. */
  workdir: string;
  env: Record<string, string>;
  user?: string;
  cmd?: string[];
  healthcheck?: string[];
}

/** The result of performing every stage; the last one is the image. */
export interface PerformedBuild {
  stages: PerformedStage[];
  image: PerformedStage;
  /** Wall time of each RUN, for the test's log. */
  timings: Array<{ step: string; ms: number }>;
}

/** RUN lines of the runtime stage that only prepare directories; done here inside the stand-in root. */
const RUNTIME_DIRECTORY_STEPS: Record<string, (root: string) => void> = {
  'mkdir -p /data && chown node:node /data': (root) =>
    fs.mkdirSync(path.join(root, 'data'), { recursive: true }),
};

/** Docker's .dockerignore rules (Go filepath.Match with `**`, `!` exceptions, last match wins). */
export function dockerignore(contextDir: string): (relPath: string) => boolean {
  const file = path.join(contextDir, '.dockerignore');
  const rules = (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = path.posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''));
      let re = '';
      for (let i = 0; i < pattern.length; i++) {
        if (pattern.startsWith('**/', i)) {
          re += '(?:.*/)?';
          i += 2;
        } else if (pattern.startsWith('**', i)) {
          re += '.*';
          i += 1;
        } else if (pattern[i] === '*') re += '[^/]*';
        else if (pattern[i] === '?') re += '[^/]';
        else re += pattern[i].replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { negate, re: new RegExp(`^${re}$`) };
    });
  return (relPath) => {
    // A rule that matches a parent directory excludes everything under it.
    const parts = relPath.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (prefixes.some((p) => rule.re.test(p))) excluded = !rule.negate;
    return excluded;
  };
}

/** Copies the build context (what `docker build .` would send) into dest. */
export function copyContext(contextDir: string, dest: string): number {
  const ignored = dockerignore(contextDir);
  let files = 0;
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(contextDir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (ignored(child)) continue;
      if (entry.isDirectory()) {
        fs.mkdirSync(path.join(dest, child), { recursive: true });
        walk(child);
      } else if (entry.isFile()) {
        fs.copyFileSync(path.join(contextDir, child), path.join(dest, child));
        files++;
      }
    }
  };
  fs.mkdirSync(dest, { recursive: true });
  walk('');
  return files;
}

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile lines: comments dropped, continuations joined. */
export function parseDockerfile(text: string): Instruction[] {
  const joined = text.replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const space = l.search(/\s/);
      return { keyword: l.slice(0, space).toUpperCase(), args: l.slice(space + 1).trim() };
    });
}

function run(command: string, cwd: string, env: Record<string, string>): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`RUN ${command} exited ${code}:\n${output.slice(-4000)}`)),
    );
  });
}

/** The environment a RUN sees: the machine's PATH and npm cache, none of the test runner's settings. */
function baseEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (
      v === undefined ||
      k.startsWith('npm_') ||
      k.startsWith('JEST') ||
      k === 'NODE_OPTIONS' ||
      k === 'NODE_ENV'
    )
      continue;
    env[k] = v;
  }
  return env;
}

/** Performs every stage of `<contextDir>/Dockerfile` under workDir. */
export async function performDockerfile(contextDir: string, workDir: string): Promise<PerformedBuild> {
  const context = path.join(workDir, 'context');
  copyContext(contextDir, context);
  const stages: PerformedStage[] = [];
  const timings: PerformedBuild['timings'] = [];
  let stage: PerformedStage | undefined;
  const inStage = (p: string, s: PerformedStage) =>
    path.join(s.root, path.posix.isAbsolute(p) ? p : path.posix.join(path.relative(s.root, s.workdir), p));

  for (const { keyword, args: rest } of parseDockerfile(
    fs.readFileSync(path.join(contextDir, 'Dockerfile'), 'utf8'),
  )) {
    // The base image's Node is the machine's own here (ARG only names the image).
    if (keyword === 'ARG') continue;
    if (keyword === 'FROM') {
      const name = /\bAS\s+(\S+)$/i.exec(rest)?.[1] ?? `stage${stages.length}`;
      const root = path.join(workDir, name);
      fs.mkdirSync(root, { recursive: true });
      stage = { name, root, workdir: root, env: {} };
      stages.push(stage);
      continue;
    }
    if (!stage) throw new Error(`${keyword} before FROM`);
    const s = stage;
    switch (keyword) {
      case 'WORKDIR':
        s.workdir = path.join(s.root, rest);
        fs.mkdirSync(s.workdir, { recursive: true });
        break;
      case 'ENV': {
        const m = /^(\S+?)=(.*)$/.exec(rest);
        if (!m) throw new Error(`ENV ${rest}: only KEY=value is understood`);
        s.env[m[1]] = m[2];
        break;
      }
      case 'COPY': {
        const words = rest.split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const paths = words.filter((w) => !w.startsWith('--'));
        const dest = paths.pop()!;
        for (const src of paths) {
          const source = from
            ? inStage(src, stages.find((x) => x.name === from) ?? fail(`no stage ${from}`))
            : path.join(context, src);
          const target = inStage(dest, s);
          if (!fs.existsSync(source)) throw new Error(`COPY ${src}: not in the ${from ?? 'context'}`);
          if (fs.statSync(source).isDirectory()) {
            // A directory's contents go into dest. From an earlier stage a move is enough: that stage is done.
            if (from && !fs.existsSync(target)) fs.renameSync(source, target);
            else fs.cpSync(source, target, { recursive: true });
          } else {
            const intoDir = dest.endsWith('/') || dest === '.';
            fs.mkdirSync(intoDir ? target : path.dirname(target), { recursive: true });
            fs.copyFileSync(source, intoDir ? path.join(target, path.basename(src)) : target);
          }
        }
        break;
      }
      case 'RUN': {
        if (s !== stages[0] && rest in RUNTIME_DIRECTORY_STEPS) {
          RUNTIME_DIRECTORY_STEPS[rest](s.root);
          break;
        }
        if (s !== stages[0]) throw new Error(`RUN ${rest}: the runtime stage may only prepare directories`);
        const started = Date.now();
        await run(rest, s.workdir, { ...baseEnv(), ...s.env });
        timings.push({ step: rest, ms: Date.now() - started });
        break;
      }
      case 'USER':
        s.user = rest;
        break;
      case 'EXPOSE':
        break;
      case 'HEALTHCHECK':
        s.healthcheck = JSON.parse(rest.slice(rest.indexOf('CMD') + 3).trim()) as string[];
        break;
      case 'CMD':
        s.cmd = JSON.parse(rest) as string[];
        break;
      default:
        throw new Error(
          `Dockerfile instruction ${keyword} is not performed by this test: extend dockerfile-steps.ts`,
        );
    }
  }
  const image = stages[stages.length - 1];
  if (!image) throw new Error('Dockerfile has no stage');
  return { stages, image, timings };
}

function fail(message: string): never {
  throw new Error(message);
}

/**
 * `flashfarm submit --wait` as a CI job runs it: the real command (bin/flashfarm.js,
 * a child process) against a running farm (api on PostgreSQL + Redis, agent,
 * simulated boards behind RFC 2217). Success exits 0 with a valid JUnit file
 * and the boards' logs; the failure paths are in cli-errors.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildFirmwareSet } from '#esp';
import { startDemoFarm, type DemoFarm } from '../../scripts/demo.js';
import { FarmExitCode } from '../../apps/cli/src/commands/index.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestRedisUrl } from '../support/redis.js';
import { REPO_ROOT } from '../support/processes.js';
import { pollUntil } from '../support/poll.js';

let farm: DemoFarm;
let database: TestDatabase;
let work: string;

/** Runs bin/flashfarm.js to its end. */
function flashfarm(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/flashfarm.js', ...args], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        NODE_OPTIONS: '',
        FLASHFARM_URL: farm.url,
        FLASHFARM_TOKEN: farm.adminToken,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`flashfarm ${args.join(' ')} still running after ${timeoutMs} ms:\n${stdout}\n${stderr}`),
      );
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Writes an ESP-IDF-like build directory (flasher_args.json + files) for a chip. */
function writeBuildDir(chip: 'esp32' | 'esp32c3', version: string): string {
  const dir = path.join(work, `build-${chip}-${version}`);
  fs.mkdirSync(path.join(dir, 'bootloader'), { recursive: true });
  const files: Record<string, string> = {};
  for (const part of buildFirmwareSet({ chip, projectName: 'ci-app', version })) {
    const rel = part.name === 'bootloader.bin' ? 'bootloader/bootloader.bin' : part.name!;
    fs.writeFileSync(path.join(dir, rel), part.data);
    files[`0x${part.offset.toString(16)}`] = rel;
  }
  fs.writeFileSync(
    path.join(dir, 'flasher_args.json'),
    JSON.stringify({ flash_files: files, flash_settings: {}, extra_esptool_args: { chip } }),
  );
  return dir;
}

/** A minimal, strict XML reader: elements, attributes and text (what JUnit uses); throws on malformed input. */
interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}
function parseXml(xml: string): XmlElement {
  const decode = (s: string) =>
    s.replace(
      /&(lt|gt|amp|quot|apos);/g,
      (_, e: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[e]!,
    );
  let i = xml.startsWith('<?xml') ? xml.indexOf('?>') + 2 : 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    if (lt < 0) {
      if (xml.slice(i).trim()) throw new Error('text after the root element');
      break;
    }
    const text = xml.slice(i, lt);
    if (/[<>]/.test(text) || /&(?!(lt|gt|amp|quot|apos);)/.test(text))
      throw new Error(`bad text: ${text.slice(0, 40)}`);
    if (stack.length) stack[stack.length - 1].text += decode(text);
    else if (text.trim()) throw new Error('text outside the root element');
    const gt = xml.indexOf('>', lt);
    const tag = xml.slice(lt + 1, gt);
    i = gt + 1;
    if (tag.startsWith('/')) {
      const open = stack.pop();
      if (!open || open.name !== tag.slice(1)) throw new Error(`</${tag.slice(1)}> closes <${open?.name}>`);
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const m = /^([A-Za-z_][\w.-]*)((?:\s+[\w.-]+="[^"<]*")*)\s*\/?$/.exec(tag);
    if (!m) throw new Error(`malformed tag <${tag.slice(0, 60)}>`);
    const el: XmlElement = { name: m[1], attrs: {}, children: [], text: '' };
    for (const a of m[2].matchAll(/([\w.-]+)="([^"]*)"/g)) el.attrs[a[1]] = decode(a[2]);
    if (stack.length) stack[stack.length - 1].children.push(el);
    else if (root) throw new Error('two root elements');
    else root = el;
    if (!selfClosing) stack.push(el);
  }
  if (stack.length || !root) throw new Error('unclosed elements');
  return root;
}

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'flashfarm-cli-e2e-'));
  database = await createTestDatabase();
  farm = await startDemoFarm({
    env: {
      DATABASE_URL: database.url,
      REDIS_URL: await createTestRedisUrl(),
      FLASHFARM_PORT: '0',
      FLASHFARM_HOST: '127.0.0.1',
      FLASHFARM_DATA_DIR: work,
      FLASHFARM_AGENT_NAME: 'cli-e2e-agent',
    },
    boards: [
      { chip: 'esp32', name: 'cli-esp32-a', pool: 'ci' },
      { chip: 'esp32', name: 'cli-esp32-b', pool: 'ci' },
      { chip: 'esp32c3', name: 'cli-c3', pool: 'lab' },
    ],
    timeScale: 0.05,
  });
  expect(farm.devices).toHaveLength(3);
}, 60_000);

afterAll(async () => {
  await farm?.stop();
  await database?.drop();
});

describe('flashfarm submit --wait', () => {
  it('flashes every matching board, streams the logs, exits 0 and writes a valid JUnit report', async () => {
    const junit = path.join(work, 'report', 'junit.xml');
    const result = await flashfarm([
      'submit',
      writeBuildDir('esp32', '1.0.0'),
      '--select',
      'chip=esp32,pool=ci',
      '--count',
      '2',
      '--wait',
      '--junit',
      junit,
    ]);
    expect(result.stderr).toContain('Uploading ESP-IDF build');
    expect(result.code).toBe(FarmExitCode.OK);
    // Live log lines are prefixed with the board's MAC.
    const macs = farm.boards.filter((b) => b.spec.chip === 'esp32').map((b) => b.board.mac);
    for (const mac of macs) expect(result.stdout).toContain(`[${mac}]`);
    expect(result.stdout).toMatch(/Job \S+ succeeded/);

    const root = parseXml(fs.readFileSync(junit, 'utf8'));
    expect(root.name).toBe('testsuites');
    expect(root.attrs).toMatchObject({ tests: '2', failures: '0', errors: '0' });
    expect(root.children).toHaveLength(1);
    const suite = root.children[0];
    expect(suite.name).toBe('testsuite');
    expect(suite.attrs.tests).toBe('2');
    const cases = suite.children.filter((c) => c.name === 'testcase');
    expect(cases).toHaveLength(2);
    for (const c of cases) {
      expect(c.children.some((x) => x.name === 'failure')).toBe(false);
      const out = c.children.find((x) => x.name === 'system-out');
      expect(out?.text).toMatch(/hard reset|succeeded/);
      expect(macs.some((m) => c.attrs.name.includes(m))).toBe(true);
    }
  }, 90_000);

  it('creates a ci token through the api, submits without --wait, and follows the run log to its end', async () => {
    const created = await flashfarm(['token', 'create', '--name', 'cli-ci', '--role', 'ci']);
    expect(created.code).toBe(0);
    const ciToken = created.stdout.trim();
    expect(ciToken).toMatch(/^ff_/);
    const submitted = await flashfarm(
      ['submit', writeBuildDir('esp32', '4.0.0'), '--select', 'chip=esp32', '--count', '1'],
      {
        FLASHFARM_TOKEN: ciToken,
      },
    );
    expect(submitted.code).toBe(0);
    const jobId = submitted.stdout.trim();
    const runId = await pollUntil(
      async () => {
        const job = await farm.client.request<{ slots: Array<{ latest: { id: string; status: string } }> }>(
          'GET',
          `/jobs/${jobId}`,
        );
        return job.slots[0].latest.id;
      },
      { what: 'the job to have a run' },
    );
    const followed = await flashfarm(['logs', runId, '--follow'], { FLASHFARM_TOKEN: ciToken });
    expect(followed.code).toBe(0);
    expect(followed.stdout).toMatch(/INFO +succeeded: \d+ bytes written/);
    expect(followed.stderr).toContain(`run ${runId} succeeded`);
  }, 60_000);

  it('lists devices and prints a run log', async () => {
    const devices = await flashfarm(['devices', '--chip', 'esp32']);
    expect(devices.code).toBe(0);
    expect(devices.stdout).toContain('2 of 2 device(s)');
    const jobs = await farm.client.request<{ items: Array<{ id: string; status: string }> }>(
      'GET',
      '/jobs?status=succeeded&limit=1',
    );
    const job = await flashfarm(['jobs', jobs.items[0].id, '--json']);
    const runId = (JSON.parse(job.stdout) as { slots: Array<{ latest: { id: string } }> }).slots[0].latest.id;
    const logs = await flashfarm(['logs', runId]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain('[write]');
  }, 60_000);
});

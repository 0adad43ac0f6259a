/**
 * The farm client's failure paths, each with its own exit code, through the
 * real command (bin/flashfarm.js, a child process) against a running farm: an
 * image for another chip, no board before --timeout, a bad token, a role that
 * may not, an unreachable api, bad arguments.
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

describe('flashfarm client failures', () => {
  it('refuses an image built for another chip with the firmware-rejected exit code and no job', async () => {
    const before = (await farm.client.request<{ total: number }>('GET', '/jobs?limit=1')).total;
    const wrongChip = await flashfarm([
      'submit',
      writeBuildDir('esp32c3', '1.0.0'),
      '--select',
      'chip=esp32',
      '--wait',
    ]);
    expect(wrongChip.code).toBe(FarmExitCode.FIRMWARE_REJECTED);
    expect(wrongChip.stderr).toMatch(/FIRMWARE_INVALID|CHIP_MISMATCH/);
    // A valid C3 image sent to one ESP32 board by MAC: the job is refused (CHIP_MISMATCH).
    const esp32 = farm.boards.find((b) => b.spec.chip === 'esp32')!.board.mac;
    const onDevice = await flashfarm([
      'submit',
      writeBuildDir('esp32c3', '1.0.1'),
      '--device',
      esp32,
      '--wait',
    ]);
    expect(onDevice.code).toBe(FarmExitCode.FIRMWARE_REJECTED);
    expect(onDevice.stderr).toContain('CHIP_MISMATCH');
    expect((await farm.client.request<{ total: number }>('GET', '/jobs?limit=1')).total).toBe(before);
  }, 60_000);

  it('cancels and exits "no board" when no board matches before --timeout, with a failing JUnit case', async () => {
    const junit = path.join(work, 'no-board.xml');
    const result = await flashfarm([
      'submit',
      writeBuildDir('esp32c3', '2.0.0'),
      '--select',
      'chip=esp32c3,pool=nowhere',
      '--wait',
      '--timeout',
      '2',
      '--junit',
      junit,
    ]);
    expect(result.code).toBe(FarmExitCode.NO_BOARD);
    expect(result.stderr).toContain('no board took the work within 2 s');
    const suite = parseXml(fs.readFileSync(junit, 'utf8')).children[0];
    expect(suite.attrs).toMatchObject({ tests: '1', failures: '1' });
    const failure = suite.children[0].children.find((c) => c.name === 'failure');
    expect(failure?.attrs.message).toMatch(/^CANCELLED: /);
  }, 60_000);

  it('names the token problem (exit 6), the unreachable URL (exit 5) and usage errors (exit 2)', async () => {
    const revoked = await flashfarm(['devices'], { FLASHFARM_TOKEN: 'ff_not-a-real-token-000000000000' });
    expect(revoked.code).toBe(FarmExitCode.AUTH);
    expect(revoked.stderr).toContain('FLASHFARM_TOKEN is missing or revoked');

    const viewer = await farm.client.request<{ secret: string }>('POST', '/tokens', {
      body: { json: { name: 'cli-viewer', role: 'viewer' } },
    });
    const forbidden = await flashfarm(['cancel', '01a1ff7b-0000-7000-8000-000000000000'], {
      FLASHFARM_TOKEN: viewer.secret,
    });
    expect(forbidden.code).toBe(FarmExitCode.AUTH);
    expect(forbidden.stderr).toContain('403');

    const down = await flashfarm(['jobs'], { FLASHFARM_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(FarmExitCode.INFRASTRUCTURE);
    expect(down.stderr).toContain('http://127.0.0.1:9');

    const usage = await flashfarm([
      'submit',
      'missing.bin',
      '--count',
      '2',
      '--all',
      '--select',
      'chip=esp32',
    ]);
    expect(usage.code).toBe(FarmExitCode.USAGE);
  }, 60_000);
});

/**
 * A running farm for the CLI e2e suites (api on PostgreSQL + Redis, agent,
 * simulated boards behind RFC 2217), with the real command (bin/flashfarm.js
 * as a child process) aimed at it, ESP-IDF-like build directories to submit,
 * and a strict reader for the JUnit files the command writes.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { buildFirmwareSet } from '#esp';
import type { DemoBoardSpec, DemoFarm } from '../../../scripts/demo.js';
import { startTestDemoFarm } from '../../support/demo-farm.js';
import { REPO_ROOT } from '../../support/processes.js';

/** Two ESP32 boards share a pool so `--count 2` can fill it; the C3 sits apart for chip mismatches. */
export const CLI_FARM_BOARDS: readonly DemoBoardSpec[] = [
  { chip: 'esp32', name: 'cli-esp32-a', pool: 'ci' },
  { chip: 'esp32', name: 'cli-esp32-b', pool: 'ci' },
  { chip: 'esp32c3', name: 'cli-c3', pool: 'lab' },
];

/** How a bin/flashfarm.js run ended. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A running CLI farm. */
export interface CliFarm {
  farm: DemoFarm;
  /** The farm's data directory; build directories and reports go here too. */
  work: string;
  /** Runs bin/flashfarm.js to its end, as the admin unless `env` says otherwise. */
  flashfarm(args: string[], env?: Record<string, string>, timeoutMs?: number): Promise<CliResult>;
  /** Writes an ESP-IDF-like build directory (flasher_args.json + files) for a chip. */
  writeBuildDir(chip: 'esp32' | 'esp32c3', version: string): string;
  /** Stops the farm, drops its database and removes its data directory. */
  close(): Promise<void>;
}

/** Starts the farm on a fresh database and Redis database. */
export async function startCliFarm(): Promise<CliFarm> {
  const { farm, work, close } = await startTestDemoFarm('cli-e2e-agent', {
    boards: CLI_FARM_BOARDS,
    timeScale: 0.05,
  });

  const flashfarm = (args: string[], env: Record<string, string> = {}, timeoutMs = 60_000) =>
    new Promise<CliResult>((resolve, reject) => {
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

  const writeBuildDir = (chip: 'esp32' | 'esp32c3', version: string): string => {
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
  };

  return { farm, work, flashfarm, writeBuildDir, close };
}

/** An XML element: what a JUnit report is made of. */
export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

/**
 * A minimal, strict XML reader (elements, attributes, text): it throws on
 * malformed input, so a JUnit file a CI server would refuse fails the test.
 */
export function parseXml(xml: string): XmlElement {
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

/** The flasher CLI end to end against a simulated board (files on disk, exit codes, output). */
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFirmwareSet, md5Hex, type Transport } from '#esp';
import { SimTransport } from '#serial';
import { SimBoard } from '#sim';
import { runFlasherCli } from '../../apps/cli/src/flasher/run.js';

let board: SimBoard;
let dir: string;
beforeEach(async () => {
  board = new SimBoard({ chip: 'esp32c3', name: 'cli-board', timeScale: 0 });
  dir = await mkdtemp(join(tmpdir(), 'flasher-cli-'));
});
afterEach(async () => {
  board.dispose();
  await rm(dir, { recursive: true, force: true });
});

function io(isTTY = false): { out: { write(t: string): void; isTTY: boolean }; text: () => string } {
  let buf = '';
  return { out: { write: (t: string) => void (buf += t), isTTY }, text: () => buf };
}

async function open(url: string): Promise<Transport> {
  expect(url).toBe('sim://cli-board');
  const t = new SimTransport(board);
  await t.open(115200);
  return t;
}

describe('flashfarm flash | read | erase | info', () => {
  it('flashes files given as offset/file pairs, then skips them when unchanged', async () => {
    const parts = buildFirmwareSet({
      chip: 'esp32c3',
      projectName: 'cli',
      version: '3.1.0',
      payloadBytes: 32 * 1024,
    });
    const args: string[] = [];
    for (const p of parts) {
      const file = join(dir, p.name!);
      await writeFile(file, p.data);
      args.push(`0x${p.offset.toString(16)}`, file);
    }
    const stdout = io();
    const stderr = io(true);
    expect(
      await runFlasherCli(['flash', 'sim://cli-board', ...args], {
        openTransport: open,
        stdout: stdout.out,
        stderr: stderr.out,
      }),
    ).toBe(0);
    for (const p of parts) expect(md5Hex(board.flash.read(p.offset, p.data.length))).toBe(md5Hex(p.data));
    expect(stdout.text()).toMatch(/ESP32-C3 .*wrote \d+ bytes/);
    expect(stderr.text()).toMatch(/\r\[#+\.*\]/); // the TTY progress bar

    const json = io();
    const plain = io(false);
    expect(
      await runFlasherCli(['flash', 'sim://cli-board', ...args, '--skip-unchanged', '--json'], {
        openTransport: open,
        stdout: json.out,
        stderr: plain.out,
      }),
    ).toBe(0);
    const result = JSON.parse(json.text()) as { bytesWritten: number; regions: Array<{ status: string }> };
    expect(result.bytesWritten).toBe(0);
    expect(result.regions.map((r) => r.status)).toEqual(['skipped', 'skipped', 'skipped']);
    expect(plain.text()).not.toMatch(/\r/); // no bar without a TTY
  });

  it('reads flash to a file, erases a region, and prints chip info', async () => {
    const data = new Uint8Array(0x2000).map((_, i) => (i * 3) & 0xff);
    board.flash.program(0x30000, data);
    const file = join(dir, 'backup.bin');
    expect(
      await runFlasherCli(['read', 'sim://cli-board', '0x30000', '8k', file], {
        openTransport: open,
        stdout: io().out,
        stderr: io().out,
      }),
    ).toBe(0);
    expect(md5Hex(new Uint8Array(await readFile(file)))).toBe(md5Hex(data));

    expect(
      await runFlasherCli(['erase', 'sim://cli-board', '--region', '0x30000', '0x1000'], {
        openTransport: open,
        stdout: io().out,
        stderr: io().out,
      }),
    ).toBe(0);
    expect(board.flash.read(0x30000, 0x1000).every((b) => b === 0xff)).toBe(true);
    expect(board.flash.read(0x31000, 1)[0]).toBe(data[0x1000]);

    const out = io();
    expect(
      await runFlasherCli(['info', 'sim://cli-board'], {
        openTransport: open,
        stdout: out.out,
        stderr: io().out,
      }),
    ).toBe(0);
    expect(out.text()).toContain(`MAC:       ${board.mac}`);
    expect(out.text()).toMatch(/Chip:\s+ESP32-C3/);
  });

  it('exits 3 with advice when the board does not enter download mode', async () => {
    board.setFaults({ io0NotWired: true });
    const err = io();
    const code = await runFlasherCli(['info', 'sim://cli-board', '--connect-attempts', '2'], {
      openTransport: open,
      stdout: io().out,
      stderr: err.out,
    });
    expect(code).toBe(3);
    expect(err.text()).toMatch(/error \[WRONG_BOOT_MODE\].*hold BOOT/);
  });

  it('prints an error once, and each command its own help', async () => {
    board.setFaults({ io0NotWired: true });
    const err = io();
    await runFlasherCli(['info', 'sim://cli-board', '--connect-attempts', '1'], {
      openTransport: open,
      stdout: io().out,
      stderr: err.out,
    });
    expect(err.text().split('not entering download mode').length - 1).toBe(1);
    const helps: string[] = [];
    for (const command of ['flash', 'erase', 'read', 'info']) {
      const out = io();
      expect(
        await runFlasherCli([command, '--help'], { openTransport: open, stdout: out.out, stderr: io().out }),
      ).toBe(0);
      expect(out.text()).toMatch(new RegExp(`^Usage: flashfarm ${command} <port>`));
      helps.push(out.text());
    }
    expect(new Set(helps).size).toBe(4);
  });
});

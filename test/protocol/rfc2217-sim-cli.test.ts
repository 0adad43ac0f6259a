import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlashErrorCode } from '#contracts';
import { openTransport, type TransportError } from '#serial';
import { pollUntil } from '../support/poll.js';
import { holdFor } from '../support/stimulus.js';
import { startDelayProxy } from './support/delay-proxy.js';
import { freePort, simCliRuns } from './support/sim-cli.js';

// `flashfarm sim`: boards behind RFC 2217 servers, a listing, clean stop.

const start = simCliRuns();

describe('flashfarm sim', () => {
  it('starts one board per chip on consecutive ports, lists them, serves them, and stops cleanly', async () => {
    const base = await freePort();
    const run = start([
      '--chips',
      'esp32,esp32s3,esp32c3',
      '--base-port',
      String(base),
      '--time-scale',
      '0.01',
    ]);
    const { boards } = await run.ready;
    expect(boards.map((slot) => slot.port)).toEqual([base, base + 1, base + 2]);
    const table = run.stdout();
    expect(table).toMatch(/^ADDRESS\s+NAME\s+CHIP\s+MAC\s+FLASH/);
    for (const { board, url } of boards) {
      expect(table).toContain(`${url}  `);
      expect(table).toContain(board.mac);
    }
    expect(table).toContain('ESP32-S3');

    // A board is really behind the address: DTR/RTS from a client reach its reset circuit.
    const transport = await openTransport(boards[0].url, { baudRate: 115_200 });
    boards[0].board.clearConsole();
    await transport.setSignals({ dtr: false, rts: true }); // EN low
    await transport.setSignals({ dtr: true, rts: false }); // EN rises with IO0 low: download mode
    await boards[0].board.waitForConsole(/waiting for download/, 5_000);
    await transport.close();

    await expect(run.stop()).resolves.toBe(0);
    const err = await openTransport(boards[0].url, { baudRate: 115_200 }).then(
      () => undefined,
      (e: unknown) => e as TransportError,
    );
    expect(err?.code).toBe(FlashErrorCode.PORT_NOT_FOUND);
  });

  it('prints one line of JSON with --json (boards and the control endpoint) and takes --count/--chip', async () => {
    const run = start(['--count', '2', '--chip', 'esp32c3', '--base-port', '0', '--json']);
    await run.ready;
    expect(run.stdout().trimEnd().split('\n')).toHaveLength(1);
    const listing = JSON.parse(run.stdout()) as {
      boards: Array<{ url: string; name: string; chip: string; mac: string; flashSizeBytes: number }>;
      control: { url: string; token: string };
    };
    const rows = listing.boards;
    expect(listing.control.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(listing.control.token.length).toBeGreaterThanOrEqual(16);
    expect(rows.map((row) => row.name)).toEqual(['esp32c3-1', 'esp32c3-2']);
    expect(rows[0].url).toMatch(/^rfc2217:\/\/127\.0\.0\.1:\d+$/);
    expect(rows[0].mac).not.toBe(rows[1].mac);
    expect(rows[0].flashSizeBytes).toBeGreaterThan(0);
  });

  it('reads a YAML fleet file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'flashfarm-fleet-'));
    try {
      const file = join(dir, 'fleet.yaml');
      await writeFile(
        file,
        'basePort: 0\nboards:\n  - chip: esp32\n    name: line-a\n    flashSize: 8MB\n    mac: "24:0a:c4:12:34:56"\n  - chip: esp8266\n',
      );
      const run = start(['--fleet', file, '--json']);
      const { boards } = await run.ready;
      expect(boards.map(({ board }) => board.name)).toEqual(['line-a', 'esp8266-1']);
      expect(boards[0].board.mac).toBe('24:0a:c4:12:34:56');
      expect(boards[0].board.info.flashSizeBytes).toBe(8 * 1024 * 1024);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects an unknown chip naming the valid ones (exit 2)', async () => {
    const run = start(['--chips', 'esp32,esp33']);
    await expect(run.exit).resolves.toBe(2);
    expect(run.stderr()).toMatch(/unknown chip "esp33"; valid chips: esp8266, esp32, .*esp32c6/);
  });

  it('says when a port is in use and starts nothing (exit 1)', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as AddressInfo).port;
    try {
      const run = start(['--count', '1', '--base-port', String(taken)]);
      await expect(run.exit).resolves.toBe(1);
      expect(run.stderr()).toMatch(new RegExp(`port ${taken} on 127.0.0.1 is already in use`));
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  it('as a process, stops cleanly on SIGINT and SIGTERM (exit 0, ports released)', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const port = await freePort();
      const bin = new URL('../../bin/flashfarm.js', import.meta.url).pathname;
      const child = spawn(process.execPath, [bin, 'sim', '--count', '1', '--base-port', String(port)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      await pollUntil(() => output.includes('Ctrl-C'), {
        timeoutMs: 15_000,
        intervalMs: 20,
        what: 'the simulator to be ready',
      });
      expect(output).toContain(`rfc2217://127.0.0.1:${port}`);
      child.kill(signal);
      await expect(exited).resolves.toBe(0);
      const err = await openTransport(`rfc2217://127.0.0.1:${port}`, { baudRate: 115_200 }).then(
        () => undefined,
        (e: unknown) => e as TransportError,
      );
      expect(err?.message).toMatch(/connection refused/);
    }
  }, 40_000);

  it('prints usage for --help and rejects unknown options', async () => {
    const help = start(['--help']);
    await expect(help.exit).resolves.toBe(0);
    expect(help.stdout()).toMatch(/Usage: flashfarm sim/);
    const bad = start(['--frobnicate']);
    await expect(bad.exit).resolves.toBe(2);
    expect(bad.stderr()).toMatch(/frobnicate/);
  });

  it('resets locally by default, as esp_rfc2217_server does, and passes line changes through with --reset-mode pass-through', async () => {
    // esptool's ClassicReset, one SET-CONTROL per call over a link that takes 25 ms each way:
    // the gap between EN rising and IO0 falling outlasts the board's EN delay, so passed
    // through, the chip samples IO0 high and boots its app; reset locally, it reaches the loader.
    const classicResetOverSlowLink = async (url: string): Promise<void> => {
      const proxy = await startDelayProxy(Number(new URL(url.replace('rfc2217', 'http')).port), 25);
      const transport = await openTransport(`rfc2217://127.0.0.1:${(proxy.address() as AddressInfo).port}`, {
        baudRate: 115_200,
      });
      try {
        await transport.setSignals({ dtr: false });
        await transport.setSignals({ rts: true });
        await holdFor(100);
        await transport.setSignals({ dtr: true });
        await transport.setSignals({ rts: false });
        await holdFor(50);
        await transport.setSignals({ dtr: false });
      } finally {
        await transport.close();
        await new Promise<void>((resolve) => proxy.close(() => resolve()));
      }
    };
    const lastBoot = (console: string): string => console.split('rst:').at(-1) ?? '';

    const local = start(['--chip', 'esp32', '--base-port', '0', '--no-control']);
    const [localSlot] = (await local.ready).boards;
    localSlot.board.clearConsole();
    await classicResetOverSlowLink(localSlot.url);
    await localSlot.board.waitForConsole(/waiting for download/, 5_000);
    expect(lastBoot(localSlot.board.console)).toContain('DOWNLOAD_BOOT');

    const passed = start([
      '--chip',
      'esp32',
      '--base-port',
      '0',
      '--no-control',
      '--reset-mode',
      'pass-through',
    ]);
    const [passedSlot] = (await passed.ready).boards;
    passedSlot.board.clearConsole();
    await classicResetOverSlowLink(passedSlot.url);
    await pollUntil(() => /boot:0x/.test(lastBoot(passedSlot.board.console)), {
      timeoutMs: 5_000,
      what: 'the board to boot after the reset',
    });
    expect(lastBoot(passedSlot.board.console)).toContain('SPI_FAST_FLASH_BOOT');
    expect(passedSlot.board.mode).not.toBe('rom');
  });

  it('refuses an unknown --reset-mode and names the accepted ones', async () => {
    const run = start(['--reset-mode', 'ser2net']);
    await expect(run.exit).resolves.toBe(2);
    expect(run.stderr()).toContain('--reset-mode must be one of local, pass-through (got ser2net)');
  });
});

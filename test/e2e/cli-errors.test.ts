/**
 * The farm client's failure paths, each with its own exit code, through the
 * real command (bin/flashfarm.js, a child process) against a running farm: an
 * image for another chip, no board before --timeout, a bad token, a role that
 * may not, an unreachable api, bad arguments.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { FarmExitCode } from '../../apps/cli/src/commands/index.js';
import { parseXml, startCliFarm, type CliFarm } from './support/cli-farm.js';

let cli: CliFarm;

beforeAll(async () => {
  cli = await startCliFarm();
  expect(cli.farm.devices).toHaveLength(3);
}, 60_000);

afterAll(async () => {
  await cli?.close();
});

describe('flashfarm client failures', () => {
  it('refuses an image built for another chip with the firmware-rejected exit code and no job', async () => {
    const before = (await cli.farm.client.request<{ total: number }>('GET', '/jobs?limit=1')).total;
    const wrongChip = await cli.flashfarm([
      'submit',
      cli.writeBuildDir('esp32c3', '1.0.0'),
      '--select',
      'chip=esp32',
      '--wait',
    ]);
    expect(wrongChip.code).toBe(FarmExitCode.FIRMWARE_REJECTED);
    expect(wrongChip.stderr).toMatch(/FIRMWARE_INVALID|CHIP_MISMATCH/);
    // A valid C3 image sent to one ESP32 board by MAC: the job is refused (CHIP_MISMATCH).
    const esp32 = cli.farm.boards.find((b) => b.spec.chip === 'esp32')!.board.mac;
    const onDevice = await cli.flashfarm([
      'submit',
      cli.writeBuildDir('esp32c3', '1.0.1'),
      '--device',
      esp32,
      '--wait',
    ]);
    expect(onDevice.code).toBe(FarmExitCode.FIRMWARE_REJECTED);
    expect(onDevice.stderr).toContain('CHIP_MISMATCH');
    expect((await cli.farm.client.request<{ total: number }>('GET', '/jobs?limit=1')).total).toBe(before);
  }, 60_000);

  it('refuses a selector no registered board matches (exit 3, NO_MATCHING_DEVICE) and says what exists', async () => {
    const before = (await cli.farm.client.request<{ total: number }>('GET', '/jobs?limit=1')).total;
    const result = await cli.flashfarm([
      'submit',
      cli.writeBuildDir('esp32c3', '2.0.0'),
      '--select',
      'chip=esp32c3,pool=nowhere',
      '--wait',
    ]);
    expect(result.code).toBe(FarmExitCode.FIRMWARE_REJECTED);
    expect(result.stderr).toContain('NO_MATCHING_DEVICE');
    expect(result.stderr).toContain('target.selector: registered esp32c3 boards by pool: lab 1');
    expect((await cli.farm.client.request<{ total: number }>('GET', '/jobs?limit=1')).total).toBe(before);
  }, 60_000);

  it('says what it waits for, then cancels and exits "no board" when no board is free before --timeout, with a failing JUnit case', async () => {
    // The only C3 is quarantined: the job is accepted (the board may be released) but nothing can take it.
    const c3 = cli.farm.boards.find((b) => b.spec.chip === 'esp32c3')!.board.mac;
    await cli.farm.client.request('POST', `/devices/${c3}/quarantine`, {
      body: { json: { reason: 'cli-errors: no board free' } },
    });
    try {
      const junit = path.join(cli.work, 'no-board.xml');
      const result = await cli.flashfarm([
        'submit',
        cli.writeBuildDir('esp32c3', '2.0.1'),
        '--select',
        'chip=esp32c3',
        '--wait',
        '--timeout',
        '5',
        '--junit',
        junit,
      ]);
      expect(result.code).toBe(FarmExitCode.NO_BOARD);
      expect(result.stderr).toMatch(
        /waiting for a board: 1 of 1 match \(chip esp32c3\), none free; 1 slot\(s\) waiting/,
      );
      expect(result.stderr).toContain('no board took the work within 5 s');
      const suite = parseXml(fs.readFileSync(junit, 'utf8')).children[0];
      expect(suite.attrs).toMatchObject({ tests: '1', failures: '1' });
      const failure = suite.children[0].children.find((c) => c.name === 'failure');
      expect(failure?.attrs.message).toMatch(/^CANCELLED: /);
    } finally {
      await cli.farm.client.request('POST', `/devices/${c3}/release`, { body: { json: {} } });
    }
  }, 60_000);

  it('names the token problem (exit 6), the unreachable URL (exit 5) and usage errors (exit 2)', async () => {
    const revoked = await cli.flashfarm(['devices'], { FLASHFARM_TOKEN: 'ff_not-a-real-token-000000000000' });
    expect(revoked.code).toBe(FarmExitCode.AUTH);
    expect(revoked.stderr).toContain('FLASHFARM_TOKEN is missing or revoked');

    const viewer = await cli.farm.client.request<{ secret: string }>('POST', '/tokens', {
      body: { json: { name: 'cli-viewer', role: 'viewer' } },
    });
    const forbidden = await cli.flashfarm(['cancel', '01a1ff7b-0000-7000-8000-000000000000'], {
      FLASHFARM_TOKEN: viewer.secret,
    });
    expect(forbidden.code).toBe(FarmExitCode.AUTH);
    expect(forbidden.stderr).toContain('403');

    const down = await cli.flashfarm(['jobs'], { FLASHFARM_URL: 'http://127.0.0.1:9' });
    expect(down.code).toBe(FarmExitCode.INFRASTRUCTURE);
    expect(down.stderr).toContain('http://127.0.0.1:9');

    const usage = await cli.flashfarm([
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

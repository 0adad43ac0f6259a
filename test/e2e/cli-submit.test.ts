/**
 * `flashfarm submit --wait` as a CI job runs it: the real command (bin/flashfarm.js,
 * a child process) against a running farm (api on PostgreSQL + Redis, agent,
 * simulated boards behind RFC 2217). Success exits 0 with a valid JUnit file
 * and the boards' logs; the failure paths are in cli-errors.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { FarmExitCode } from '../../apps/cli/src/commands/index.js';
import { pollUntil } from '../support/poll.js';
import { parseXml, startCliFarm, type CliFarm } from './support/cli-farm.js';

let cli: CliFarm;

beforeAll(async () => {
  cli = await startCliFarm();
  expect(cli.farm.devices).toHaveLength(3);
}, 60_000);

afterAll(async () => {
  await cli?.close();
});

describe('flashfarm submit --wait', () => {
  it('flashes every matching board, streams the logs, exits 0 and writes a valid JUnit report', async () => {
    const junit = path.join(cli.work, 'report', 'junit.xml');
    const result = await cli.flashfarm([
      'submit',
      cli.writeBuildDir('esp32', '1.0.0'),
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
    const macs = cli.farm.boards.filter((b) => b.spec.chip === 'esp32').map((b) => b.board.mac);
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
    const created = await cli.flashfarm(['token', 'create', '--name', 'cli-ci', '--role', 'ci']);
    expect(created.code).toBe(0);
    const ciToken = created.stdout.trim();
    expect(ciToken).toMatch(/^ff_/);
    const submitted = await cli.flashfarm(
      ['submit', cli.writeBuildDir('esp32', '4.0.0'), '--select', 'chip=esp32', '--count', '1'],
      {
        FLASHFARM_TOKEN: ciToken,
      },
    );
    expect(submitted.code).toBe(0);
    const jobId = submitted.stdout.trim();
    const runId = await pollUntil(
      async () => {
        const job = await cli.farm.client.request<{
          slots: Array<{ latest: { id: string; status: string } }>;
        }>('GET', `/jobs/${jobId}`);
        return job.slots[0].latest.id;
      },
      { what: 'the job to have a run' },
    );
    const followed = await cli.flashfarm(['logs', runId, '--follow'], { FLASHFARM_TOKEN: ciToken });
    expect(followed.code).toBe(0);
    expect(followed.stdout).toMatch(/INFO +succeeded: \d+ bytes written/);
    expect(followed.stderr).toContain(`run ${runId} succeeded`);
  }, 60_000);

  it('lists devices and prints a run log', async () => {
    const devices = await cli.flashfarm(['devices', '--chip', 'esp32']);
    expect(devices.code).toBe(0);
    expect(devices.stdout).toContain('2 of 2 device(s)');
    const jobs = await cli.farm.client.request<{ items: Array<{ id: string; status: string }> }>(
      'GET',
      '/jobs?status=succeeded&limit=1',
    );
    const job = await cli.flashfarm(['jobs', jobs.items[0].id, '--json']);
    const runId = (JSON.parse(job.stdout) as { slots: Array<{ latest: { id: string } }> }).slots[0].latest.id;
    const logs = await cli.flashfarm(['logs', runId]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain('[write]');
  }, 60_000);
});

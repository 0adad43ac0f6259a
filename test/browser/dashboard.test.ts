/**
 * The QA dashboard in a real browser (Debian's chromium through playwright-core)
 * on a running farm: api on PostgreSQL + Redis, an agent, simulated boards
 * behind RFC 2217. Log in, start a job from the form, watch every board's bar
 * reach 100 %, read a run's log, filter the devices. Screenshots go to
 * test-output/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { DemoFarm } from '../../scripts/demo.js';
import { startTestDemoFarm, type TestDemoFarm } from '../support/demo-farm.js';
import { REPO_ROOT } from '../support/processes.js';
import { pollUntil } from '../support/poll.js';
import { scratchDir } from '../support/scratch.js';
import { holdFor } from '../support/stimulus.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.join(REPO_ROOT, 'test-output', 'screenshots');

let farm: DemoFarm;
let testFarm: TestDemoFarm | undefined;
let browser: BrowserContext;
let page: Page;
const pageErrors: string[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`);
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  testFarm = await startTestDemoFarm('browser-agent', {
    boards: [
      { chip: 'esp32', name: 'qa-esp32-1', pool: 'line-1', tags: ['usb-c'] },
      { chip: 'esp32', name: 'qa-esp32-2', pool: 'line-1' },
      { chip: 'esp32', name: 'qa-esp32-3', pool: 'line-1' },
      { chip: 'esp32c3', name: 'qa-c3-1', pool: 'lab' },
      { chip: 'esp32s3', name: 'qa-s3-1', pool: 'lab' },
    ],
    timeScale: 0.2,
  });
  farm = testFarm.farm;
  await farm.uploadFirmware('esp32', '3.1.0');
  // A fresh profile directory per run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(scratchDir('flashfarm-chromium'), {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 800 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(message.text());
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await testFarm?.close();
});

describe('dashboard', () => {
  it('asks for a token, refuses a wrong one, and signs in with the right one', async () => {
    await page.goto(`${farm.url}/`);
    await page.waitForSelector('#login-form');
    await shot('01-login');
    await page.fill('#token', 'ff_wrong-token-0000000000000000');
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#login-form .error');
    await page.fill('#token', farm.adminToken);
    await page.click('#login-form button[type=submit]');
    await page.waitForSelector('#devices-table tbody tr');
    expect(await page.locator('#devices-table tbody tr').count()).toBe(5);
    expect(await page.textContent('#devices-total')).toContain('5 device(s)');
    await shot('02-devices');
    // Only the expected 401 of the wrong token may have been logged.
    expect(pageErrors.filter((e) => !e.includes('401'))).toEqual([]);
  });

  it('starts a job from the form and shows every board reach 100 %', async () => {
    await page.click('a[data-nav=new-job]');
    await page.waitForSelector('#new-job-form');
    await page.selectOption('#job-kind', 'all');
    await page.fill('#job-pool', 'line-1');
    await page.fill('#job-boot-check', 'Calling app_main\\(\\)');
    await shot('03-new-job');
    await page.click('#new-job-form button[type=submit]');
    await page.waitForSelector('#job-runs tbody tr');
    expect(await page.locator('#job-runs tbody tr').count()).toBe(3);
    await page.waitForFunction(
      () => document.querySelector('#job-status [data-status]')?.getAttribute('data-status') === 'running',
      undefined,
      { timeout: 20_000 },
    );
    await shot('04-job-running');
    await page.waitForFunction(
      () => document.querySelector('#job-status [data-status]')?.getAttribute('data-status') === 'succeeded',
      undefined,
      { timeout: 60_000 },
    );
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('#job-runs [role=progressbar]')].every(
          (b) => b.getAttribute('aria-valuenow') === '100',
        ),
      undefined,
      { timeout: 10_000 },
    );
    await page.waitForFunction(() => document.querySelector('#job-counts')?.textContent === '3 succeeded');
    expect(await page.isHidden('#cancel-job')).toBe(true);
    const statuses = await page.locator('#job-runs tbody [data-status]').allTextContents();
    expect(statuses).toEqual(['succeeded', 'succeeded', 'succeeded']);
    await shot('05-job-done');
  }, 90_000);

  it("opens a run's full log with stages, timings and verified regions", async () => {
    await page.locator('#job-runs a.run-link').first().click();
    await page.waitForSelector('#run-log');
    await page
      .waitForFunction(
        () => (document.querySelector('#run-log')?.textContent ?? '').includes('[result] succeeded'),
        undefined,
        {
          timeout: 10_000,
        },
      )
      .catch(async (error: unknown) => {
        await shot('06-run-log-failed');
        throw error;
      });
    const log = (await page.textContent('#run-log')) ?? '';
    expect(log).toContain('[write]');
    expect(log).toMatch(/\[verify\] app at 0x10000: verified/);
    expect(log).toContain('[boot-check] the app printed');
    await page.waitForSelector('#run-regions tbody tr');
    expect(await page.locator('#run-regions [data-status=verified]').count()).toBe(3);
    expect(await page.locator('#run-timings tbody tr').count()).toBeGreaterThan(0);
    await shot('06-run-log');
  });

  it('starts a pool campaign from the form and shows its live counters and unit records', async () => {
    await page.click('a[data-nav=campaigns]');
    await page.waitForSelector('#new-campaign-form');
    await page.fill('#campaign-name', 'line-1 batch');
    await page.selectOption('#campaign-mode', 'pool');
    await page.fill('#campaign-pool', 'line-1');
    await page.click('#new-campaign-form button[type=submit]');
    await page.waitForSelector('#count-done');
    await page.waitForFunction(
      () => document.querySelector('#count-done strong')?.textContent === '3',
      undefined,
      {
        timeout: 60_000,
      },
    );
    await page.waitForFunction(() => document.querySelectorAll('#units-table tbody tr').length === 3);
    expect(await page.locator('#units-table [data-status=succeeded]').count()).toBe(3);
    expect(await page.textContent('#count-failed strong')).toBe('0');
    await shot('09-campaign');
  }, 90_000);

  it('filters and searches the devices table (server-side) and follows a board console', async () => {
    await page.click('a[data-nav=devices]');
    await page.waitForSelector('#devices-table tbody tr');
    await page.selectOption('select[name=chip]', 'esp32');
    await page.waitForFunction(() => document.querySelectorAll('#devices-table tbody tr').length === 3);
    expect(await page.textContent('#devices-total')).toContain('3 device(s)');
    const mac = farm.boards.find((b) => b.spec.name === 'qa-esp32-2')!.board.mac;
    await page.fill('input[name=search]', mac.slice(-5));
    await page.click('#device-filters button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('#devices-table tbody tr').length === 1);
    expect(await page.textContent('#devices-table tbody')).toContain(mac);
    await shot('07-devices-filtered');
    await page.click(`#devices-table a:has-text("${mac}")`);
    await page.waitForSelector('#device-runs tbody tr');
    expect(await page.locator('#device-runs tbody tr').count()).toBe(2);
    // The live console: switched on at the agent, then the board is reset (EN pressed) and its boot log appears.
    await page.click('#console-toggle');
    await page.waitForFunction(() =>
      (document.querySelector('#console-state')?.textContent ?? '').startsWith('● live'),
    );
    const board = farm.boards.find((b) => b.spec.name === 'qa-esp32-2')!.board;
    await pollUntil(
      async () => {
        board.pressButton('en', true);
        await holdFor(20); // the EN press
        board.pressButton('en', false);
        return page
          .waitForFunction(
            () => (document.querySelector('#console-log')?.textContent ?? '').includes('Calling app_main()'),
            undefined,
            { timeout: 2_000 },
          )
          .then(() => true)
          .catch(() => false);
      },
      { timeoutMs: 20_000, what: 'the boot log in the live console' },
    );
    await shot('08-device');
    expect(pageErrors.filter((e) => !e.includes('401'))).toEqual([]);
  });
});

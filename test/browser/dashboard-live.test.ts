/**
 * The dashboard kept live by the farm stream, in Debian's chromium on a
 * running farm (api on PostgreSQL + Redis, an agent, simulated boards behind
 * RFC 2217): a board's page going idle → busy → idle while a run goes, a job
 * page showing the erase stage, firmware uploaded through the form, a board
 * quarantined and released from its page, the trend charts over seeded runs,
 * and a viewer offered no action. No page may log a console error.
 * Screenshots go to test-output/screenshots/live-*.png.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { FirmwareView, JobView } from '#contracts';
import type { DemoFarm } from '../../scripts/demo.js';
import { startTestDemoFarm, type TestDemoFarm } from '../support/demo-farm.js';
import { REPO_ROOT } from '../support/processes.js';
import { scratchDir } from '../support/scratch.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.join(REPO_ROOT, 'test-output', 'screenshots');
const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'esp_idf_blink_esp32s2.bin');

let farm: DemoFarm;
let testFarm: TestDemoFarm | undefined;
let browser: BrowserContext;
let page: Page;
let firmware: FirmwareView;
const consoleErrors: string[] = [];

async function shot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: path.join(SCREENSHOTS, `live-${name}.png`), fullPage: true });
}

function watch(p: Page): Page {
  p.on('pageerror', (error) => consoleErrors.push(`${p.url()}: ${error.message}`));
  p.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(`${p.url()}: ${message.text()}`);
  });
  return p;
}

async function apiCall<T>(
  method: string,
  route: string,
  body?: unknown,
  token = farm.adminToken,
): Promise<T> {
  const response = await fetch(`${farm.url}${route}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  if (!response.ok) throw new Error(`${method} ${route}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

async function signIn(p: Page, token: string): Promise<void> {
  await p.goto(`${farm.url}/#/devices`);
  await p.waitForSelector('#login-form');
  await p.fill('#token', token);
  await p.click('#login-form button[type=submit]');
  await p.waitForSelector('#devices-table tbody tr');
  await p.waitForSelector('#live-state[data-state=live]');
}

function deviceIdOf(name: string): Promise<string> {
  const mac = farm.boards.find((b) => b.spec.name === name)!.board.mac;
  return apiCall<{ id: string }>('GET', `/devices/${mac}`).then((d) => d.id);
}

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`);
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  testFarm = await startTestDemoFarm('live-agent', {
    boards: [
      { chip: 'esp32', name: 'live-esp32-1', pool: 'bench' },
      { chip: 'esp32', name: 'live-esp32-2', pool: 'bench' },
      { chip: 'esp32c3', name: 'live-c3-1', pool: 'lab' },
    ],
    timeScale: 0.2,
  });
  farm = testFarm.farm;
  firmware = await farm.uploadFirmware('esp32', '2.0.0');
  browser = await chromium.launchPersistentContext(scratchDir('flashfarm-chromium-live'), {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 720 },
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
  page = watch(browser.pages()[0] ?? (await browser.newPage()));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await testFarm?.close();
});

describe('live dashboard', () => {
  it('signs in, names the token and its role, and keeps the token for a second tab', async () => {
    await signIn(page, farm.adminToken);
    expect(await page.textContent('#whoami-role')).toBe('admin');
    expect(await page.textContent('#live-state')).toContain('live');
    // The chip filter offers what the api supports, not a chip it cannot flash.
    const chips = await page.locator('select[name=chip] option').allTextContents();
    expect(chips).toContain('esp32c3');
    expect(chips).not.toContain('esp32c5');
    const second = watch(await browser.newPage());
    await second.goto(`${farm.url}/#/agents`);
    await second.waitForSelector('[data-agent]');
    expect(await second.isVisible('#login-form')).toBe(false);
    expect(await second.textContent('[data-agent] h2')).toBe('live-agent');
    await shot(second, '01-agents');
    await second.close();
  }, 60_000);

  it("shows a board's page go idle → busy → idle while a run goes, without reloading", async () => {
    const id = await deviceIdOf('live-esp32-1');
    await page.goto(`${farm.url}/#/devices/${id}`);
    await page.waitForSelector('#device-state [data-status=idle]');
    // Every state the page shows, in order, as the stream changes it.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seenStates: string[] }).seenStates = seen;
      const note = () => {
        const s = document.querySelector('#device-state [data-status]')?.getAttribute('data-status');
        if (s && seen.at(-1) !== s) seen.push(s);
      };
      note();
      new MutationObserver(note).observe(document.getElementById('app')!, { subtree: true, childList: true });
    });
    const job = await apiCall<JobView>('POST', '/jobs', { firmwareId: firmware.id, target: { device: id } });
    await page.waitForSelector('#device-state [data-status=busy]', { timeout: 30_000 });
    await shot(page, '02-device-busy');
    await page.waitForSelector('#device-state [data-status=idle]', { timeout: 60_000 });
    const seen = await page.evaluate(() => (window as unknown as { seenStates: string[] }).seenStates);
    expect(seen).toEqual(['idle', 'busy', 'idle']);
    await page.waitForFunction(() => document.querySelectorAll('#device-runs tbody tr').length === 1);
    expect(await page.textContent('#device-runs tbody')).toMatch(/\d+(\.\d+)? s/);
    expect(await page.textContent('#device-runs tbody')).toMatch(/B\/s/);
    expect((await apiCall<JobView>('GET', `/jobs/${job.id}`)).status).toBe('succeeded');
    await shot(page, '03-device-idle-again');
  }, 90_000);

  it('shows the erase stage and progress on the job page while a board erases', async () => {
    await page.click('a[data-nav=new-job]');
    await page.waitForSelector('#new-job-form');
    await page.fill('#job-pool', 'bench');
    await page.check('input[name=eraseAll]');
    await page.click('#new-job-form button[type=submit]');
    await page.waitForSelector('#job-runs tbody tr');
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seenStages: string[] }).seenStages = seen;
      const note = () => {
        for (const td of document.querySelectorAll<HTMLElement>('#job-runs td[data-stage]'))
          if (seen.at(-1) !== td.dataset.stage) seen.push(td.dataset.stage!);
      };
      new MutationObserver(note).observe(document.getElementById('job-runs')!, {
        subtree: true,
        childList: true,
        characterData: true,
        attributes: true,
      });
    });
    await page.waitForFunction(
      () => (window as unknown as { seenStages: string[] }).seenStages.includes('erase'),
      undefined,
      { timeout: 30_000 },
    );
    await shot(page, '04-job-erase');
    // The working slot's log is shown inline, live: lines arrive while the board is still at work.
    expect(await page.textContent('#slot-log-title')).toBe('Log of slot 0, attempt 1');
    await page.waitForFunction(
      () => (document.getElementById('slot-log')?.textContent ?? '').includes('[erase]'),
      undefined,
      {
        timeout: 30_000,
      },
    );
    expect(await page.getAttribute('#job-runs button.slot-log', 'aria-pressed')).toBe('true');
    await page.waitForFunction(
      () => document.querySelector('#job-status [data-status]')?.getAttribute('data-status') === 'succeeded',
      undefined,
      { timeout: 90_000 },
    );
    const stages = await page.evaluate(() => (window as unknown as { seenStages: string[] }).seenStages);
    expect(stages.indexOf('erase')).toBeLessThan(stages.lastIndexOf('write'));
    expect(await page.textContent('#job-firmware-name')).toBe(`${firmware.name} 2.0.0`);
    expect(await page.locator('#job-runs td.attempt').first().textContent()).toBe('#1');
    await page.waitForFunction(
      () =>
        /\[result\] succeeded: \d+ bytes written/.test(
          document.getElementById('slot-log')?.textContent ?? '',
        ),
      undefined,
      { timeout: 30_000 },
    );
    await shot(page, '05-job-done');
  }, 150_000);

  it('uploads firmware through the form and shows its parts and the jobs that used it', async () => {
    await page.click('a[data-nav=firmware]');
    await page.waitForSelector('#firmware-table');
    expect(await page.textContent('#firmware-table')).toContain(firmware.name);
    await page.setInputFiles('#fw-file', FIXTURE);
    await page.fill('#fw-name', 'blink-form');
    await page.fill('#fw-version', '9.9.9');
    await page.fill('#fw-offset', '0x10000');
    await page.click('#firmware-upload button[type=submit]');
    await page.waitForSelector('#firmware-parts tbody tr', { timeout: 20_000 });
    expect(await page.textContent('h1')).toBe('Firmware blink-form 9.9.9');
    expect(await page.textContent('#firmware-parts')).toContain('0x10000');
    await shot(page, '06-firmware-uploaded');
    await page.goto(`${farm.url}/#/firmware/${firmware.id}`);
    await page.waitForSelector('#firmware-jobs tbody tr');
    expect(await page.locator('#firmware-jobs tbody tr').count()).toBe(2);
  }, 60_000);

  it('quarantines a board from its page and releases it again', async () => {
    const id = await deviceIdOf('live-c3-1');
    await page.goto(`${farm.url}/#/devices/${id}`);
    await page.waitForSelector('#device-actions');
    await page.click('#device-actions summary');
    await page.fill('#quarantine-reason', 'cracked USB connector');
    await page.click('#device-quarantine button[type=submit]');
    await page.waitForSelector('#device-state [data-status=quarantined]');
    expect(await page.textContent('#device-state')).toContain('cracked USB connector');
    const stored = await apiCall<{ state: string; quarantineReason: string }>('GET', `/devices/${id}`);
    expect(stored).toMatchObject({ state: 'quarantined', quarantineReason: 'cracked USB connector' });
    await shot(page, '07-device-quarantined');
    // The redraws that followed (the answer, then the board's live event) left the panel open.
    expect(await page.locator('#device-actions').evaluate((el) => (el as HTMLDetailsElement).open)).toBe(
      true,
    );
    await page.click('#device-release');
    await page.waitForSelector('#device-state [data-status=idle]');
    expect((await apiCall<{ state: string }>('GET', `/devices/${id}`)).state).toBe('idle');
  }, 60_000);

  it('draws the trend charts over seeded runs', async () => {
    // Seeded history: 30 ended runs over the last five days on one board, a third failing with NO_SYNC.
    const prisma = farm.api.infra.database.prisma;
    const deviceId = await deviceIdOf('live-esp32-2');
    const job = await apiCall<{ items: JobView[] }>('GET', `/jobs?firmwareId=${firmware.id}&limit=1`);
    for (let i = 0; i < 30; i++) {
      const finished = new Date(Date.now() - (i % 5) * 86_400_000 - 3_600_000);
      const failed = i % 3 === 0;
      await prisma.$executeRaw`
        INSERT INTO "Run" ("id", "jobId", "slot", "attempt", "deviceId", "status", "errorCode", "bytesWritten",
          "queuedAt", "startedAt", "finishedAt")
        VALUES (gen_random_uuid(), ${job.items[0].id}::uuid, ${1000 + i}, 1, ${deviceId}::uuid,
          ${failed ? 'failed' : 'succeeded'}::"RunStatus", ${failed ? 'NO_SYNC' : null}, 1048576,
          ${finished}, ${new Date(finished.getTime() - (4000 + i * 100))}, ${finished})`;
    }
    await page.click('a[data-nav=trends]');
    await page.waitForSelector('#trend-duration .chart-line');
    expect(await page.locator('#trend-duration .chart-dot').count()).toBeGreaterThanOrEqual(5);
    expect(await page.locator('#trend-throughput .chart-dot').count()).toBeGreaterThanOrEqual(5);
    expect(await page.getAttribute('#trend-failures', 'aria-label')).toContain('NO_SYNC');
    expect(await page.locator('#trend-yield rect').count()).toBeGreaterThan(0);
    await shot(page, '08-trends');
    await page.selectOption('#trend-by', 'device');
    await page.waitForFunction(() =>
      (document.querySelector('#trend-yield')?.getAttribute('aria-label') ?? '').includes('%'),
    );
    await shot(page, '09-trends-by-device');
  }, 60_000);

  it('offers a viewer no action, and works at 800 px', async () => {
    const viewer = await apiCall<{ secret: string }>('POST', '/tokens', {
      name: 'qa-viewer',
      role: 'viewer',
    });
    const context = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
    try {
      const p = watch(await context.newPage({ viewport: { width: 800, height: 720 } }));
      await signIn(p, viewer.secret);
      expect(await p.textContent('#whoami-role')).toBe('viewer');
      expect(await p.isVisible('a[data-nav=new-job]')).toBe(false);
      const id = await deviceIdOf('live-esp32-1');
      await p.goto(`${farm.url}/#/devices/${id}`);
      await p.waitForSelector('#device-state');
      expect(await p.locator('#device-actions').count()).toBe(0);
      await p.goto(`${farm.url}/#/jobs`);
      await p.waitForSelector('#jobs-table');
      expect(await p.locator('a:visible:has-text("New job")').count()).toBe(0);
      await p.click('#jobs-table tbody tr a');
      await p.waitForSelector('#job-runs tbody tr');
      expect(await p.isVisible('#cancel-job')).toBe(false);
      await p.goto(`${farm.url}/#/firmware`);
      await p.waitForSelector('#firmware-table');
      expect(await p.locator('#firmware-upload').count()).toBe(0);
      await p.goto(`${farm.url}/#/campaigns`);
      await p.waitForSelector('h1');
      expect(await p.locator('#new-campaign-form').count()).toBe(0);
      await p.goto(`${farm.url}/#/devices`);
      await p.waitForSelector('#devices-table tbody tr');
      // Usable at 800 px: the page itself does not scroll sideways.
      expect(await p.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(800);
      await shot(p, '10-viewer-800px');
    } finally {
      await context.close();
    }
  }, 60_000);

  it('keeps every text at a contrast of at least 4.5:1 on every page', async () => {
    const deviceId = await deviceIdOf('live-esp32-1');
    const jobs = await apiCall<{ items: JobView[] }>('GET', '/jobs?limit=1');
    const job = await apiCall<JobView>('GET', `/jobs/${jobs.items[0].id}`);
    const pages: Array<[string, string]> = [
      ['#/devices', '#devices-table tbody tr'],
      [`#/devices/${deviceId}`, '#device-state'],
      ['#/jobs', '#jobs-table tbody tr'],
      [`#/jobs/${job.id}`, '#slot-log-card'],
      [`#/runs/${job.slots[0].latest.id}`, '#run-card'],
      ['#/jobs/new', '#new-job-form'],
      ['#/firmware', '#firmware-table'],
      [`#/firmware/${firmware.id}`, '#firmware-parts'],
      ['#/agents', '[data-agent]'],
      ['#/campaigns', 'h1'],
      ['#/trends', '#trend-duration'],
    ];
    const failures: string[] = [];
    for (const [route, ready] of pages) {
      await page.goto(`${farm.url}/${route}`);
      await page.waitForSelector(ready);
      // Every element with text of its own, its colour against the backgrounds it is drawn over.
      const found = await page.evaluate(() => {
        const parse = (css: string): number[] | undefined => {
          const m = /^rgba?\(([\d.]+),? ([\d.]+),? ([\d.]+)(?:,? (?:\/ )?([\d.]+))?\)$/.exec(css);
          return m
            ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])]
            : undefined;
        };
        const over = (top: number[], bottom: number[]) =>
          [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat(1);
        const luminance = (c: number[]) => {
          const [r, g, b] = c.slice(0, 3).map((v) => {
            const s = v / 255;
            return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
          });
          return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        const out: string[] = [];
        for (const el of document.querySelectorAll<HTMLElement>('#app *, header *, nav *')) {
          const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent!.trim());
          if (!own || el.closest('svg') || !el.getClientRects().length) continue;
          if ((el as HTMLButtonElement).disabled) continue; // inactive controls are exempt (WCAG 1.4.3)
          const style = getComputedStyle(el);
          if (style.visibility === 'hidden') continue;
          const layers: number[][] = [];
          let skip = false;
          for (let at: Element | null = el; at; at = at.parentElement) {
            const s = getComputedStyle(at);
            if (s.backgroundImage !== 'none') skip = true;
            const bg = parse(s.backgroundColor);
            if (bg && bg[3] > 0) layers.push(bg);
            if (bg && bg[3] === 1) break;
          }
          if (skip) continue;
          const background = layers.reduceRight((acc, layer) => over(layer, acc), [255, 255, 255, 1]);
          const fg = parse(style.color);
          if (!fg) {
            out.push(
              `${el.tagName} "${el.textContent.trim().slice(0, 30)}": colour ${style.color} not understood`,
            );
            continue;
          }
          const [a, b] = [luminance(over(fg, background)), luminance(background)];
          const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
          if (ratio < 4.5)
            out.push(
              `${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}": ${ratio.toFixed(2)}:1 (${style.color} on rgb(${background.slice(0, 3).map(Math.round).join(', ')}))`,
            );
        }
        return out;
      });
      failures.push(...found.map((f) => `${route}: ${f}`));
    }
    expect(failures).toEqual([]);
  }, 90_000);

  it('logged no console error on any page', () => {
    expect(consoleErrors).toEqual([]);
  });
});

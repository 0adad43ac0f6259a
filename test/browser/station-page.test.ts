/**
 * The operator station page in Debian's chromium, on a running farm (api on
 * PostgreSQL + Redis, an agent, simulated units behind RFC 2217 fixture slots):
 * a 10-unit station run over two probe-triggered slots, one unit held out of
 * download mode. After each unit ends the page shows that unit's PASS or FAIL
 * (with its serial and MAC, the failure in plain words), the counters and the
 * yield, without being reloaded; a reload and a network blip mid-run change
 * nothing; Space presses "Next unit". No console error on the way.
 * Screenshots go to test-output/screenshots/station-*.png.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { CampaignView, Page as ApiPage, UnitRecord } from '#contracts';
import type { DemoBoard, DemoFarm } from '../../scripts/demo.js';
import { startTestDemoFarm, type TestDemoFarm } from '../support/demo-farm.js';
import { pollUntil } from '../support/poll.js';
import { REPO_ROOT } from '../support/processes.js';
import { scratchDir } from '../support/scratch.js';
import { holdFor } from '../support/stimulus.js';

const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS = path.join(REPO_ROOT, 'test-output', 'screenshots');
/** Units in the run; the one at FAILING_UNIT cannot enter the bootloader (IO0 not wired by the fixture). */
const UNITS = 10;
const FAILING_UNIT = 3;
/** The unit after which the page is reloaded, and the one after which the network drops for a moment. */
const RELOAD_AFTER = 5;
const BLIP_AFTER = 7;
/** Between taking a unit out of its slot and putting the next one in: the agent sees the slot empty. */
const SWAP_GAP_MS = 500;

let farm: DemoFarm;
let testFarm: TestDemoFarm | undefined;
let browser: BrowserContext;
let page: Page;
let firmwareId: string;
const consoleErrors: string[] = [];
/** While the test holds the network down. */
let blip = false;

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `station-${name}.png`), fullPage: true });
}

async function units(campaignId: string): Promise<UnitRecord[]> {
  return (await farm.client.request<ApiPage<UnitRecord>>('GET', `/campaigns/${campaignId}/units?limit=100`))
    .items;
}

async function takeOut(b: DemoBoard): Promise<void> {
  await b.server.close();
  b.board.dispose();
  farm.boards.splice(farm.boards.indexOf(b), 1);
}

/**
 * Texts of the station page whose contrast with the background behind them is under 4.5:1 (WCAG AA),
 * computed from the rendered colours (the nearest ancestor with an opaque background).
 */
function lowContrast(): Promise<string[]> {
  return page.evaluate(() => {
    const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number);
    const lum = ([r, g, b]: number[]) => {
      const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (el: Element | null): number[] => {
      for (; el; el = el.parentElement) {
        const c = rgb(getComputedStyle(el).backgroundColor);
        if (c.length === 3 || c[3] === 1) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const low: string[] = [];
    for (const el of document.querySelectorAll('.station *')) {
      const own = [...el.childNodes].some((n) => n.nodeType === Node.TEXT_NODE && n.textContent?.trim());
      if (!own || (el as HTMLElement).offsetParent === null) continue;
      const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      if (ratio < 4.5)
        low.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent}": ${ratio.toFixed(2)}`);
    }
    return low;
  });
}

const text = async (selector: string): Promise<string> => ((await page.textContent(selector)) ?? '').trim();

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`);
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  testFarm = await startTestDemoFarm('station-agent', {
    boards: [],
    emptyPorts: 2,
    timeScale: 0.05,
    // Both slots are probe-triggered fixtures: polled at a bounded rate (not the 30 s back-off of an
    // empty plain port), so a unit put in is found within a fraction of a second.
    agentEnv: (urls) => ({
      FLASHFARM_AGENT_FIXTURES: urls.map((u) => `${u}=probe`).join(','),
      FLASHFARM_AGENT_FIXTURE_POLL_MS: '300',
    }),
  });
  farm = testFarm.farm;
  firmwareId = (await farm.uploadFirmware('esp32', '3.1.0')).id;
  browser = await chromium.launchPersistentContext(scratchDir('flashfarm-chromium-station'), {
    executablePath: CHROMIUM,
    viewport: { width: 1280, height: 900 },
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
  page.on('pageerror', (error) => consoleErrors.push(`${page.url()}: ${error.message}`));
  page.on('console', (message) => {
    // During the network blip the test causes, chromium itself logs the cut stream and each refused
    // reconnection ("Failed to load resource: net::ERR_…"); anything else is the page's error.
    const blipNoise = blip && /^Failed to load resource: net::ERR_/.test(message.text());
    if (message.type() === 'error' && !blipNoise) consoleErrors.push(`${page.url()}: ${message.text()}`);
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await testFarm?.close();
});

describe('operator station page', () => {
  it('follows a 10-unit station run: each unit’s PASS/FAIL, the counters and the yield, through a reload and a network blip', async () => {
    const campaign = await farm.client.request<CampaignView>('POST', '/campaigns', {
      body: {
        json: {
          name: 'line-1 station',
          firmwareId,
          mode: 'station',
          unitData: { serialPattern: 'FF-{yyww}-{seq:06}' },
        },
      },
    });
    // The station screen is one click from the campaign's page.
    await page.goto(`${farm.url}/#/campaigns/${campaign.id}`);
    await page.waitForSelector('#login-form');
    await page.fill('#token', farm.adminToken);
    await page.click('#login-form button[type=submit]');
    await page.click('#station-link');
    expect(page.url()).toContain(`#/stations/${campaign.id}`);
    await page.waitForSelector('#station-verdict[data-result=none]');
    await page.waitForSelector('#station-live[data-state=live]');
    expect(await text('#station-passed strong')).toBe('0');
    expect(await text('#station-yield strong')).toBe('–');
    // The name typed (Enter ends the field) is the station's operator from now on: the api has it.
    const announced = page.waitForResponse(
      (r) => r.url().endsWith(`/stations/${campaign.id}/operator`) && r.request().method() === 'POST',
    );
    await page.fill('#station-operator', 'Dana');
    await page.press('#station-operator', 'Enter');
    expect((await announced).status()).toBe(200);
    await shot('01-waiting');

    const slots = farm.emptyPorts;
    const under: Array<DemoBoard | undefined> = slots.map(() => undefined);
    let passed = 0;
    let failed = 0;
    for (let i = 0; i < UNITS; i++) {
      const s = i % slots.length;
      const previous = under[s];
      if (previous) {
        await takeOut(previous);
        await holdFor(SWAP_GAP_MS);
      }
      const failing = i === FAILING_UNIT;
      under[s] = await farm.addBoard(
        {
          chip: 'esp32',
          name: `station-unit-${i}`,
          ...(failing ? { faults: { io0NotWired: true } } : {}),
        },
        slots[s],
      );
      // The i-th unit record (units are listed oldest first), once it has ended.
      const unit = await pollUntil(
        async () => {
          const all = await units(campaign.id);
          return all.length > i && all[i].result !== 'pending' && all[i].result !== 'flashing'
            ? all[i]
            : undefined;
        },
        { timeoutMs: 60_000, what: `unit ${i} to end` },
      );
      expect({ i, result: unit.result }).toEqual({ i, result: failing ? 'failed' : 'succeeded' });
      if (failing) failed++;
      else passed++;

      // The page shows that unit, its verdict and the counters, by itself.
      await page.waitForSelector(
        `#station-verdict[data-unit="${unit.unitId}"][data-result=${failing ? 'fail' : 'pass'}]`,
        { timeout: 20_000 },
      );
      await page.waitForFunction(
        ([p, f]) =>
          document.querySelector('#station-passed strong')?.textContent === String(p) &&
          document.querySelector('#station-failed strong')?.textContent === String(f),
        [passed, failed] as const,
        { timeout: 20_000 },
      );
      expect(await text('.verdict-word')).toContain(failing ? 'FAIL' : 'PASS');
      if (failing) {
        // In plain words, not the code.
        expect(await text('#verdict-reason')).toMatch(/loader.*boot \(IO0\) pin/);
        expect(await text('#verdict-mac')).toBe('not read');
        await shot('03-fail');
      } else {
        expect(await text('#verdict-mac')).toBe(unit.mac);
        expect(await text('#verdict-serial')).toBe(unit.serial);
        expect(unit.serial).toMatch(/^FF-\d{4}-\d{6}$/);
      }
      if (i === 0) await shot('02-first-pass');
      if (i === 0 || failing) expect(await lowContrast()).toEqual([]);
      // The slot the unit was under shows its state and the unit.
      const tile = page.locator(`[data-slot="rfc2217://127.0.0.1:${slots[s]}"]`);
      expect(await tile.getAttribute('data-state')).toBe(failing ? 'fail' : 'pass');

      if (i === RELOAD_AFTER) {
        await page.reload();
        await page.waitForSelector(`#station-verdict[data-unit="${unit.unitId}"]`);
        await page.waitForSelector('#station-live[data-state=live]');
        // The operator name is kept for the tab.
        expect(await page.inputValue('#station-operator')).toBe('Dana');
        await shot('04-after-reload');
      }
      if (i === BLIP_AFTER) {
        // A network blip: the api's connections drop and, for a moment, the stream cannot come back.
        blip = true;
        await page.route('**/events', (route) => route.abort('internetdisconnected'));
        (farm.api.app.getHttpServer() as Server).closeAllConnections();
        await page.waitForSelector('#station-live[data-state=reconnecting]', { timeout: 20_000 });
        await shot('05-reconnecting');
        await page.unroute('**/events');
        await page.waitForSelector('#station-live[data-state=live]', { timeout: 20_000 });
        blip = false;
      }
    }

    // The run's counters and yield: 9 passed, 1 failed, no re-test, 90 %.
    const view = await farm.client.request<CampaignView>('GET', `/campaigns/${campaign.id}`);
    expect(view.counters).toMatchObject({ succeeded: 9, failed: 1, retests: 0, yieldPercent: 90 });
    expect(await text('#station-passed strong')).toBe('9');
    expect(await text('#station-failed strong')).toBe('1');
    expect(await text('#station-retests strong')).toBe('0');
    expect(await text('#station-yield strong')).toBe('90%');
    // Every unit, started by the fixture's probe rather than the button, names the operator at the page.
    expect(new Set((await units(campaign.id)).map((u) => u.operatorName))).toEqual(new Set(['Dana']));
    expect(Number(await text('#station-rate strong'))).toBeGreaterThan(0);
    expect(await page.locator('[data-slot]').count()).toBe(slots.length);
    // A unit taken out leaves its slot idle (the last unit's verdict stays on the big screen).
    await takeOut(under[0]!);
    under[0] = undefined;
    await page.waitForSelector(`[data-slot="rfc2217://127.0.0.1:${slots[0]}"][data-state=idle]`, {
      timeout: 20_000,
    });
    expect(await page.getAttribute(`[data-slot="rfc2217://127.0.0.1:${slots[1]}"]`, 'data-state')).toBe(
      'pass',
    );
    await shot('06-run-done');

    // Space (outside a field) is "Next unit": the station's slots are probed now.
    await page.locator('h1').click();
    await page.keyboard.press('Space');
    await page.waitForSelector('#station-message :text("Next unit asked of 1 agent")', { timeout: 10_000 });

    // A stopped station offers no button.
    await farm.client.request('POST', `/campaigns/${campaign.id}/stop`);
    await page.waitForSelector('#station-status[data-status=stopped]', { timeout: 20_000 });
    expect(await page.isDisabled('#station-next')).toBe(true);
    for (const b of under) if (b) await takeOut(b);
    expect(consoleErrors).toEqual([]);
  }, 240_000);
});

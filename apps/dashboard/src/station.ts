/**
 * The operator station page (#/stations/:campaignId): a station-mode campaign
 * seen from the line, on a screen across the room. The last unit's verdict
 * fills the screen (PASS / FAIL as a word and a symbol, not by colour alone),
 * with its serial number, MAC and the failure in plain words; below it the
 * counters and each fixture slot's state. It follows the farm stream: every
 * unit inserted or changed publishes the campaign, and the page then reads the
 * campaign and its newest units again (coalesced, never polled on a timer).
 * After a reload it rebuilds itself from the api; after a drop the stream
 * reconnects and tells the page to read everything again.
 */
import type { CampaignView, DeviceView, Page, StationNextView, UnitRecord } from '#contracts';
import { api, ApiRequestError, withQuery } from './api.js';
import { agoEl, errorBox, h, mount } from './dom.js';
import { coalesce, onFarm } from './live.js';
import type { ViewContext } from './main.js';
import { can } from './session.js';

/** How often at most the page reads the api again while units change (a burst of events is one read). */
const REFRESH_MS = 250;
/** The newest units read on each refresh: enough for the last verdict and the state of every slot. */
const RECENT_UNITS = 200;
/** The operator name typed on this page, kept for the browser tab (a reload keeps it, a new shift types its own). */
const OPERATOR_KEY = 'flashfarm.station.operator';

/** The failure reasons an operator reads from across the room: a run's error code in plain words. */
const REASONS: Record<string, string> = {
  NO_SYNC: 'The unit did not answer. Check that it is seated on the pins and powered.',
  WRONG_BOOT_MODE: 'The unit started its app instead of the loader. Check the boot (IO0) pin contact.',
  TIMEOUT: 'The unit stopped answering during the flash. Re-seat it and test again.',
  FRAMING: 'The serial line was noisy. Check the cable and the pin contact.',
  ROM_ERROR: 'The chip refused a command. Set the unit aside for inspection.',
  STUB_ERROR: 'The flasher on the chip reported an error. Test the unit again.',
  FLASH_ERROR: "Writing the unit's flash failed. Set the unit aside: its flash may be faulty.",
  CHIP_MISMATCH: 'Wrong chip: this unit is not the module the firmware is built for.',
  DIGEST_MISMATCH: 'The flash read back differs from the firmware. Set the unit aside.',
  IMAGE_TOO_BIG: "The firmware does not fit this unit's flash: wrong module variant.",
  BAD_IMAGE: 'The firmware file is damaged. Tell the line lead.',
  PORT_BUSY: 'The fixture port is in use by another program. Tell the line lead.',
  PORT_NOT_FOUND: 'The fixture port is missing. Check the fixture cable.',
  DEVICE_GONE: 'The unit was lost during the test: it was removed or lost contact.',
  DEVICE_CHANGED: 'Another unit was put in during the test. Test the unit again.',
  BOOT_CHECK_FAILED: 'The unit was flashed but its app did not start correctly.',
  INVALID_ARGUMENT: 'The station is set up wrongly. Tell the line lead.',
  CANCELLED: 'The test was cancelled.',
  INFRASTRUCTURE: 'The station could not reach the server. Test the unit again.',
  INTERNAL: 'The station hit an internal error. Test the unit again; tell the line lead if it repeats.',
  NO_USABLE_DEVICE: 'No usable board was found for this unit.',
};

/** The failure of a unit in words an operator can act on (the code and the technical message stay on the campaign page). */
export function failureReason(u: Pick<UnitRecord, 'errorCode' | 'errorMessage'>): string {
  if (u.errorCode && REASONS[u.errorCode]) return REASONS[u.errorCode];
  return u.errorMessage ?? 'The unit failed for a reason the station did not name.';
}

/** What a fixture slot is doing, read from the newest unit under it. */
type SlotState = 'idle' | 'flashing' | 'pass' | 'fail';

/**
 * A slot is flashing while its newest unit is not done; once done it shows that unit's PASS / FAIL while
 * the unit is still under it, and idle once the unit has been taken out (its board went offline or is on
 * another port). A unit that never reached the loader has no board to follow: its FAIL stays until the next.
 */
function slotState(
  u: UnitRecord | undefined,
  present: (mac: string, slot: string) => boolean | undefined,
): SlotState {
  if (!u) return 'idle';
  if (u.result === 'pending' || u.result === 'flashing') return 'flashing';
  if (u.mac && u.slot && present(u.mac, u.slot) === false) return 'idle';
  return u.result === 'succeeded' ? 'pass' : 'fail';
}

/** The slot's newest unit of each slot, newest first. */
function latestBySlot(units: UnitRecord[]): Map<string, UnitRecord> {
  const latest = new Map<string, UnitRecord>();
  for (const u of units) if (u.slot && !latest.has(u.slot)) latest.set(u.slot, u);
  return latest;
}

const SLOT_WORDS: Record<SlotState, string> = {
  idle: 'Idle',
  flashing: 'Flashing…',
  pass: 'Pass',
  fail: 'Fail',
};
const SLOT_SYMBOLS: Record<SlotState, string> = { idle: '–', flashing: '↻', pass: '✓', fail: '✗' };

/** A fixture slot's name as an operator reads it: the port without the scheme. */
function slotName(slot: string): string {
  return slot.replace(/^[a-z0-9]+:\/\//i, '');
}

/** The operator name kept for this tab. */
function operatorName(): string {
  return sessionStorage.getItem(OPERATOR_KEY) ?? '';
}

/**
 * "Next unit": asks the station to start a fixture cycle now, naming the operator at the page (the api
 * records the name on this and the following units of the station).
 */
export function requestNextUnit(campaignId: string, operator: string): Promise<StationNextView> {
  return api<StationNextView>(`/stations/${campaignId}/next`, {
    method: 'POST',
    body: operator ? { operator } : {},
  });
}

/**
 * Tells the station who is at it, so units a fixture starts by itself (hot-plug, probe, lid) carry the
 * name too, not only those started with the button.
 */
function announceOperator(campaignId: string, operator: string): Promise<unknown> {
  return api(`/stations/${campaignId}/operator`, { method: 'POST', body: { operator } });
}

/** The newest units of the campaign, newest first. */
async function newestUnits(id: string, total: number, signal: AbortSignal): Promise<UnitRecord[]> {
  const offset = Math.max(0, total - RECENT_UNITS);
  const page = await api<Page<UnitRecord>>(
    withQuery(`/campaigns/${id}/units`, { limit: RECENT_UNITS, offset }),
    { signal },
  );
  return page.items.slice().reverse();
}

function verdictBox(units: UnitRecord[]): HTMLElement {
  const last = units.find((u) => u.result === 'succeeded' || u.result === 'failed');
  if (!last)
    return h(
      'section',
      {
        class: 'verdict verdict-waiting',
        id: 'station-verdict',
        'data-result': 'none',
        'aria-live': 'polite',
      },
      h('div', { class: 'verdict-word' }, 'Waiting'),
      h('p', { class: 'verdict-line' }, 'Put the first unit in the fixture.'),
    );
  const pass = last.result === 'succeeded';
  return h(
    'section',
    {
      class: `verdict ${pass ? 'verdict-pass' : 'verdict-fail'}`,
      id: 'station-verdict',
      'data-result': pass ? 'pass' : 'fail',
      'data-unit': last.unitId,
      'aria-live': 'polite',
      'aria-label': `Last unit: ${pass ? 'pass' : 'fail'}`,
    },
    h(
      'div',
      { class: 'verdict-word' },
      h('span', { 'aria-hidden': 'true' }, pass ? '✓ ' : '✗ '),
      pass ? 'PASS' : 'FAIL',
    ),
    h(
      'dl',
      { class: 'verdict-ids' },
      h('dt', {}, 'Serial'),
      h('dd', { id: 'verdict-serial', class: 'mono' }, last.serial ?? '—'),
      h('dt', {}, 'MAC'),
      h('dd', { id: 'verdict-mac', class: 'mono' }, last.mac ?? 'not read'),
      last.slot ? [h('dt', {}, 'Slot'), h('dd', { class: 'mono' }, slotName(last.slot))] : null,
    ),
    last.retest
      ? h('p', { class: 'verdict-line', id: 'verdict-retest' }, 'Re-test of a unit seen before')
      : null,
    pass ? null : h('p', { class: 'verdict-reason', id: 'verdict-reason' }, failureReason(last)),
    h('p', { class: 'verdict-when' }, 'Finished ', agoEl(last.finishedAt)),
  );
}

function counters(c: CampaignView): HTMLElement {
  const box = (label: string, value: string | number, id: string) =>
    h('div', { class: 'station-counter', id }, h('strong', {}, String(value)), h('span', {}, label));
  const n = c.counters;
  return h(
    'section',
    { class: 'station-counters', 'aria-label': 'Counters' },
    box('passed', n.succeeded, 'station-passed'),
    box('failed', n.failed, 'station-failed'),
    box('re-tests', n.retests, 'station-retests'),
    box('yield', n.yieldPercent === null ? '–' : `${n.yieldPercent}%`, 'station-yield'),
    box('units / hour (15 min)', Math.round(n.unitsPerHourRecent), 'station-rate'),
  );
}

function slots(
  units: UnitRecord[],
  present: (mac: string, slot: string) => boolean | undefined,
): HTMLElement {
  const latest = latestBySlot(units);
  const names = [...latest.keys()].sort();
  return h(
    'section',
    { class: 'station-slots', id: 'station-slots', 'aria-label': 'Fixture slots' },
    names.length
      ? names.map((slot) => {
          const u = latest.get(slot);
          const state = slotState(u, present);
          return h(
            'div',
            { class: `slot slot-${state}`, 'data-slot': slot, 'data-state': state },
            h('div', { class: 'slot-name mono' }, slotName(slot)),
            h(
              'div',
              { class: 'slot-state' },
              h('span', { 'aria-hidden': 'true' }, `${SLOT_SYMBOLS[state]} `),
              SLOT_WORDS[state],
            ),
            h(
              'div',
              { class: 'slot-unit mono' },
              !u
                ? ''
                : state === 'idle'
                  ? `empty · last ${u.serial ?? u.mac ?? ''} ${u.result === 'succeeded' ? 'pass' : 'fail'}`
                  : (u.serial ?? u.mac ?? 'unit not identified'),
            ),
          );
        })
      : h('p', { class: 'muted' }, 'No fixture slot has had a unit yet.'),
  );
}

/** #/stations/:campaignId */
// eslint-disable-next-line max-lines-per-function -- one page: its boxes, the button, the keyboard and the live refresh share the campaign
export async function stationView(ctx: ViewContext): Promise<void> {
  const id = ctx.params[0];
  const head = h('div', { class: 'station-head' });
  const verdict = h('div', {});
  const counterBox = h('div', {});
  const slotBox = h('div', {});
  const message = h('div', { id: 'station-message' });
  const liveMirror = h('span', {
    class: 'live-state station-live',
    id: 'station-live',
    'aria-hidden': 'true',
  });
  const operator = h('input', {
    type: 'text',
    id: 'station-operator',
    autocomplete: 'name',
    maxlength: 64,
    placeholder: 'your name',
    value: operatorName(),
  });
  operator.addEventListener('input', () => {
    const name = operator.value.trim();
    if (name) sessionStorage.setItem(OPERATOR_KEY, name);
    else sessionStorage.removeItem(OPERATOR_KEY);
  });
  const sendOperator = (): void => {
    const name = operator.value.trim();
    if (!name || !can('runCampaign')) return;
    announceOperator(id, name).catch((e: unknown) =>
      mount(message, errorBox(e instanceof ApiRequestError ? `${e.code}: ${e.message}` : e)),
    );
  };
  // Once typed (change fires on leaving the field or Enter), and again when the page opens with a name.
  operator.addEventListener('change', sendOperator);
  const next = h(
    'button',
    { type: 'button', class: 'primary station-next', id: 'station-next' },
    'Next unit',
  );
  let campaign: CampaignView | undefined;
  let pressing = false;
  const press = (): void => {
    if (pressing || next.disabled) return;
    pressing = true;
    next.disabled = true;
    mount(message);
    requestNextUnit(id, operator.value.trim())
      .then((answer) =>
        mount(message, h('p', { class: 'muted' }, `Next unit asked of ${answer.agents} agent(s).`)),
      )
      .catch((e: unknown) =>
        mount(message, errorBox(e instanceof ApiRequestError ? `${e.code}: ${e.message}` : e)),
      )
      .finally(() => {
        pressing = false;
        next.disabled = campaign?.status !== 'running';
      });
  };
  next.addEventListener('click', press);

  let announced = false;
  const draw = (c: CampaignView, units: UnitRecord[]): void => {
    // A page opened (or reloaded) with a name kept for the tab tells a running station who is there.
    if (!announced && c.status === 'running') {
      announced = true;
      sendOperator();
    }
    campaign = c;
    mount(
      head,
      h('h1', {}, `Station ${c.name}`),
      h(
        'span',
        { class: `badge badge-${c.status}`, 'data-status': c.status, id: 'station-status' },
        c.status,
      ),
      liveMirror,
      h('a', { href: `#/campaigns/${c.id}` }, 'campaign details'),
    );
    mount(verdict, verdictBox(units));
    mount(counterBox, counters(c));
    mount(slotBox, slots(units, present));
    next.disabled = pressing || c.status !== 'running';
  };
  // Where each slot's newest unit is now (MAC → on its slot's port, online), from GET /devices/:mac
  // once and then from the stream's device events.
  const boards = new Map<string, { state: string; port: string | null }>();
  const present = (mac: string, slot: string): boolean | undefined => {
    const b = boards.get(mac);
    return b && b.state !== 'offline' && (b.port === null || b.port === slot);
  };
  let shown: UnitRecord[] = [];
  const follow = async (units: UnitRecord[]): Promise<void> => {
    const unknown = [...latestBySlot(units).values()].flatMap((u) =>
      u.mac && !boards.has(u.mac) ? [u.mac] : [],
    );
    await Promise.all(
      unknown.map((mac) =>
        api<DeviceView>(`/devices/${encodeURIComponent(mac)}`, { signal: ctx.signal })
          .then((d) => boards.set(mac, { state: d.state, port: d.attachment?.portPath ?? null }))
          .catch(() => undefined),
      ),
    );
  };
  const refresh = async (): Promise<void> => {
    const c = await api<CampaignView>(`/campaigns/${id}`, { signal: ctx.signal });
    const units = await newestUnits(id, c.counters.total, ctx.signal);
    await follow(units);
    shown = units;
    draw(c, units);
  };
  onFarm('device', ctx.signal, (data) => {
    const d = data as DeviceView;
    if (!boards.has(d.mac)) return;
    boards.set(d.mac, { state: d.state, port: d.attachment?.portPath ?? null });
    if (campaign) mount(slotBox, slots(shown, present));
  });
  // Listening starts before the first read, so a unit that ends meanwhile is read again, not missed.
  const redraw = coalesce(REFRESH_MS, ctx.signal, refresh);
  onFarm('campaign', ctx.signal, (data) => {
    if ((data as CampaignView).id === id) redraw();
  });
  onFarm('reload', ctx.signal, redraw);
  await refresh();
  if (campaign?.mode !== 'station') {
    mount(
      ctx.root,
      head,
      h('p', { class: 'empty' }, 'This campaign is not a station: it flashes a pool, not fixture slots.'),
    );
    return;
  }
  mount(
    ctx.root,
    h(
      'div',
      { class: 'station' },
      head,
      verdict,
      counterBox,
      h(
        'div',
        { class: 'station-controls' },
        h('label', { for: 'station-operator' }, 'Operator'),
        operator,
        can('runCampaign') ? next : null,
        can('runCampaign')
          ? h('span', { class: 'muted' }, 'Space or Enter: next unit')
          : h('span', { class: 'muted' }, 'This token may watch the station, not start a cycle.'),
      ),
      message,
      slotBox,
    ),
  );

  // The header's live / reconnecting indicator, repeated large enough to read from the line.
  const header = document.getElementById('live-state');
  const mirror = (): void => {
    liveMirror.dataset.state = header?.dataset.state ?? 'off';
    liveMirror.textContent = header?.textContent ?? '';
  };
  mirror();
  if (header) {
    const observer = new MutationObserver(mirror);
    observer.observe(header, { attributes: true, childList: true, characterData: true, subtree: true });
    ctx.signal.addEventListener('abort', () => observer.disconnect(), { once: true });
  }

  // Space / Enter anywhere but in a field or on another control press "Next unit".
  const onKey = (e: KeyboardEvent): void => {
    if (e.key !== ' ' && e.key !== 'Enter') return;
    if (e.repeat || e.altKey || e.ctrlKey || e.metaKey) return;
    const target = e.target as HTMLElement | null;
    if (target?.closest('input, textarea, select, button, a, [contenteditable]')) return;
    if (!can('runCampaign')) return;
    e.preventDefault();
    press();
  };
  document.addEventListener('keydown', onKey);
  ctx.signal.addEventListener('abort', () => document.removeEventListener('keydown', onKey), { once: true });
}

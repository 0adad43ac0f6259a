/** The dashboard: a hash router over a handful of views, and the token login. */
import type { WhoamiView } from '#contracts';
import { api, borrowToken, getToken, setToken, shareTokenWithTabs, UNAUTHORIZED_EVENT } from './api.js';
import { ago, errorBox, h, mount } from './dom.js';
import { startFarmStream, stopFarmStream, tickRelativeTimes } from './live.js';
import { can, setWhoami, whoami } from './session.js';
import { agentsView } from './agents.js';
import { firmwareListView, firmwareView } from './firmware.js';
import { trendsView } from './trends.js';
import { deviceView, devicesView } from './devices.js';
import { jobView, jobsView, newJobView } from './jobs.js';
import { runView } from './run.js';
import { campaignsView } from './campaigns.js';
import { stationView } from './station.js';

/** What a view gets: where to draw, the route's query, and a signal that aborts when the user navigates away. */
export interface ViewContext {
  root: HTMLElement;
  params: string[];
  query: URLSearchParams;
  signal: AbortSignal;
  /** Changes the query of the current route (filters, pages) without leaving it. */
  setQuery(changes: Record<string, string | number | undefined>): void;
}

/** What a route draws. */
type Screen = (ctx: ViewContext) => Promise<void> | void;

const ROUTES: Array<{ pattern: RegExp; view: Screen; nav: string }> = [
  { pattern: /^devices$/, view: devicesView, nav: 'devices' },
  { pattern: /^devices\/([^/]+)$/, view: deviceView, nav: 'devices' },
  { pattern: /^runs\/([^/]+)$/, view: runView, nav: 'jobs' },
  { pattern: /^jobs$/, view: jobsView, nav: 'jobs' },
  { pattern: /^jobs\/new$/, view: newJobView, nav: 'new-job' },
  { pattern: /^jobs\/([^/]+)$/, view: jobView, nav: 'jobs' },
  { pattern: /^campaigns(?:\/([^/]+))?$/, view: campaignsView, nav: 'campaigns' },
  { pattern: /^stations\/([^/]+)$/, view: stationView, nav: 'campaigns' },
  { pattern: /^firmware$/, view: firmwareListView, nav: 'firmware' },
  { pattern: /^firmware\/([^/]+)$/, view: firmwareView, nav: 'firmware' },
  { pattern: /^agents$/, view: agentsView, nav: 'agents' },
  { pattern: /^trends$/, view: trendsView, nav: 'trends' },
];

let current: AbortController | undefined;

function parseHash(): { path: string; query: URLSearchParams } {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  return {
    path: q < 0 ? raw : raw.slice(0, q),
    query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)),
  };
}

function loginView(root: HTMLElement, message?: string): void {
  const input = h('input', {
    type: 'password',
    name: 'token',
    id: 'token',
    placeholder: 'ff_…',
    autocomplete: 'off',
    required: true,
  });
  const status = h(
    'p',
    { class: 'muted' },
    message ??
      'Paste an api token (any role but agent). It is kept for this browser session, in the tabs of this dashboard.',
  );
  const form = h(
    'form',
    { class: 'login card', id: 'login-form' },
    h('h1', {}, 'Sign in to flashfarm'),
    h('label', { for: 'token' }, 'API token'),
    input,
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    status,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    api<WhoamiView>('/whoami')
      .then((who) => {
        setWhoami(who);
        if (!location.hash || location.hash.startsWith('#/login')) location.hash = '#/devices';
        else void render();
      })
      .catch((error: unknown) => {
        setToken(null);
        setWhoami(undefined);
        mount(status, errorBox(error));
      });
  });
  mount(root, form);
  input.focus();
}

function signOut(): void {
  setToken(null);
  setWhoami(undefined);
  stopFarmStream();
}

/** The header's token name, role and sign-out; links to pages the role cannot use are hidden. */
function drawWhoami(box: HTMLElement): void {
  const me = whoami()!;
  const expiry = me.expiresAt ? ` · expires ${new Date(me.expiresAt).toLocaleDateString()}` : '';
  mount(
    box,
    h('span', { id: 'whoami-name', title: `token ${me.tokenId}${expiry}` }, me.name),
    ' ',
    h('span', { class: 'role', id: 'whoami-role' }, me.role),
    ' ',
    h(
      'button',
      {
        type: 'button',
        class: 'link',
        onclick: () => {
          signOut();
          void render();
        },
      },
      'Sign out',
    ),
  );
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a[data-nav=new-job]'))
    a.hidden = !can('createJob');
}

async function render(): Promise<void> {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const root = document.getElementById('app')!;
  const who = document.getElementById('whoami')!;
  if (!getToken()) {
    mount(who);
    stopFarmStream();
    document.getElementById('nav')!.hidden = true;
    loginView(root);
    return;
  }
  if (!whoami()) {
    try {
      setWhoami(await api<WhoamiView>('/whoami', { signal: controller.signal }));
    } catch (error) {
      if (!controller.signal.aborted) mount(root, errorBox(error));
      return;
    }
  }
  document.getElementById('nav')!.hidden = false;
  startFarmStream();
  drawWhoami(who);
  const { path, query } = parseHash();
  const route = ROUTES.find((r) => r.pattern.test(path || 'devices'));
  for (const a of document.querySelectorAll<HTMLAnchorElement>('#nav a'))
    a.classList.toggle('active', a.dataset.nav === route?.nav);
  if (!route) {
    mount(root, errorBox(`No page at #/${path}`));
    return;
  }
  const params = (path || 'devices').match(route.pattern)!.slice(1);
  mount(root, h('p', { class: 'muted' }, 'Loading…'));
  const ctx: ViewContext = {
    root,
    params,
    query,
    signal: controller.signal,
    setQuery: (changes) => {
      const next = new URLSearchParams(query);
      for (const [k, v] of Object.entries(changes))
        if (v === undefined || v === '') next.delete(k);
        else next.set(k, String(v));
      const qs = next.toString();
      location.hash = `#/${path}${qs ? `?${qs}` : ''}`;
    },
  };
  try {
    await route.view(ctx);
  } catch (error) {
    if (!controller.signal.aborted) mount(root, errorBox(error));
  }
}

window.addEventListener(UNAUTHORIZED_EVENT, () => {
  // The login form reports its own refusals.
  if (document.getElementById('login-form')) return;
  signOut();
  current?.abort();
  loginView(
    document.getElementById('app')!,
    'The token was refused (missing, revoked or expired). Sign in again.',
  );
});
window.addEventListener('hashchange', () => void render());
shareTokenWithTabs(() => {
  setWhoami(undefined);
  stopFarmStream();
  void render();
});
tickRelativeTimes(ago);
// A new tab borrows the token of an open one before it asks for a sign-in.
void borrowToken().then(() => render());

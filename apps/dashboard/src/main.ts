/** The dashboard: a hash router over a handful of views, and the token login. */
import { api, getToken, setToken, UNAUTHORIZED_EVENT } from './api.js';
import { errorBox, h, mount } from './dom.js';
import { deviceView, devicesView } from './devices.js';
import { jobView, jobsView, newJobView } from './jobs.js';
import { runView } from './run.js';
import { campaignsView } from './campaigns.js';

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
    message ?? 'Paste an api token (any role but agent). It is kept in this tab only.',
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
    api('/devices?limit=1')
      .then(() => {
        if (!location.hash || location.hash.startsWith('#/login')) location.hash = '#/devices';
        else void render();
      })
      .catch((error: unknown) => {
        setToken(null);
        mount(status, errorBox(error));
      });
  });
  mount(root, form);
  input.focus();
}

async function render(): Promise<void> {
  current?.abort();
  const controller = new AbortController();
  current = controller;
  const root = document.getElementById('app')!;
  const who = document.getElementById('whoami')!;
  if (!getToken()) {
    mount(who);
    document.getElementById('nav')!.hidden = true;
    loginView(root);
    return;
  }
  document.getElementById('nav')!.hidden = false;
  mount(
    who,
    h(
      'button',
      {
        type: 'button',
        class: 'link',
        onclick: () => {
          setToken(null);
          void render();
        },
      },
      'Sign out',
    ),
  );
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
  setToken(null);
  current?.abort();
  loginView(
    document.getElementById('app')!,
    'The token was refused (missing, revoked or expired). Sign in again.',
  );
});
window.addEventListener('hashchange', () => void render());
void render();

/**
 * The farm stream (GET /events), one connection per tab for every page: each
 * event carries the whole current state of one board, agent, job, run or
 * campaign, and pages apply the ones they show. After a drop it reconnects
 * with Last-Event-ID (the api then sends what changed meanwhile); when the api
 * cannot say what changed (`ready` with resumed false after a drop, or
 * `resync`) pages are told to reload. The header shows live / reconnecting.
 */
import { follow, type StreamEvent } from './api.js';

/** The kinds of thing the stream tells about, and the view each event carries. */
export type FarmKind = 'device' | 'agent' | 'job' | 'run' | 'campaign';

type Listener = (data: unknown) => void;

const listeners = new Map<FarmKind | 'reload', Set<Listener>>();
let connection: AbortController | undefined;
let connectedOnce = false;

function setIndicator(state: 'live' | 'reconnecting' | 'off'): void {
  const el = document.getElementById('live-state');
  if (!el) return;
  el.dataset.state = state;
  el.textContent = state === 'live' ? '● live' : state === 'reconnecting' ? '○ reconnecting…' : '';
  el.title =
    state === 'live'
      ? 'Changes on the farm appear as they happen'
      : state === 'reconnecting'
        ? 'The connection to the api dropped; what changed meanwhile follows when it is back'
        : '';
}

function dispatch(kind: FarmKind | 'reload', data: unknown): void {
  for (const listener of listeners.get(kind) ?? []) listener(data);
}

function onEvent(e: StreamEvent): void {
  if (e.event === 'ready') {
    setIndicator('live');
    const { resumed } = e.data as { resumed: boolean };
    if (connectedOnce && !resumed) dispatch('reload', undefined);
    connectedOnce = true;
  } else if (e.event === 'resync') dispatch('reload', undefined);
  else dispatch(e.event as FarmKind, e.data);
}

/** Opens the stream (once per tab while signed in). */
export function startFarmStream(): void {
  if (connection) return;
  connection = new AbortController();
  connectedOnce = false;
  setIndicator('reconnecting');
  const signal = connection.signal;
  void follow('/events', onEvent, signal, {
    onDrop: () => setIndicator('reconnecting'),
  }).catch(() => setIndicator('reconnecting'));
}

/** Closes the stream (sign-out). */
export function stopFarmStream(): void {
  connection?.abort();
  connection = undefined;
  setIndicator('off');
}

/**
 * Calls `listener` with each event of `kind` until `signal` aborts (the page is left); kind 'reload'
 * is called when the page should read everything again.
 */
export function onFarm(kind: FarmKind | 'reload', signal: AbortSignal, listener: Listener): void {
  let set = listeners.get(kind);
  if (!set) listeners.set(kind, (set = new Set()));
  const current = set;
  current.add(listener);
  signal.addEventListener('abort', () => current.delete(listener), { once: true });
}

/**
 * Runs `task` at most once per `ms` while events keep coming (a page that reloads a list on a change
 * does not reload it for each of a burst of changes); stops with `signal`.
 */
export function coalesce(ms: number, signal: AbortSignal, task: () => Promise<void>): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let again = false;
  const run = (): void => {
    timer = undefined;
    if (signal.aborted) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    void task()
      .catch(() => undefined)
      .finally(() => {
        running = false;
        if (again && !signal.aborted) {
          again = false;
          timer ??= setTimeout(run, ms);
        }
      });
  };
  return () => {
    if (!signal.aborted) timer ??= setTimeout(run, ms);
  };
}

/** Relative times ("12 s ago") are redrawn every second from their data-ago instant. */
export function tickRelativeTimes(format: (iso: string) => string): void {
  setInterval(() => {
    for (const el of document.querySelectorAll<HTMLElement>('[data-ago]'))
      el.textContent = format(el.dataset.ago!);
  }, 1000);
}

/** A controller aborted with `parent`: a page redrawn in place drops its previous listeners with it. */
export function childController(parent: AbortSignal): AbortController {
  const child = new AbortController();
  if (parent.aborted) child.abort();
  else parent.addEventListener('abort', () => child.abort(), { once: true });
  return child;
}

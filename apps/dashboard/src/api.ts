/**
 * The dashboard's access to the farm api: the user's token (kept in
 * sessionStorage, sent as a bearer header on every call) and live event
 * streams read with fetch, because EventSource cannot send a header.
 */

const TOKEN_KEY = 'flashfarm.token';
/** Tabs of this origin ask each other for the token here, so a new tab needs no second sign-in. */
const TOKEN_CHANNEL = 'flashfarm.token';
const channel = typeof BroadcastChannel === 'undefined' ? undefined : new BroadcastChannel(TOKEN_CHANNEL);

type TokenMessage = { type: 'ask' } | { type: 'token'; token: string | null };

/** The token of this browser tab, if the user signed in here or in another open tab. */
export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps the token for this tab (sessionStorage: gone when the browser session ends) and tells the other tabs. */
export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  channel?.postMessage({ type: 'token', token } satisfies TokenMessage);
}

/**
 * Asks the other open tabs for their token (sessionStorage is per tab); resolves with it, or null when
 * no tab answers within `ms`. Tabs answer only tabs of the same origin (BroadcastChannel never crosses origins).
 */
export function borrowToken(ms = 300): Promise<string | null> {
  if (!channel || getToken()) return Promise.resolve(getToken());
  return new Promise((resolve) => {
    const done = (token: string | null) => {
      channel.removeEventListener('message', listen);
      clearTimeout(timer);
      resolve(token);
    };
    const listen = (e: MessageEvent<TokenMessage>) => {
      if (e.data.type === 'token' && e.data.token) {
        sessionStorage.setItem(TOKEN_KEY, e.data.token);
        done(e.data.token);
      }
    };
    const timer = setTimeout(() => done(null), ms);
    channel.addEventListener('message', listen);
    channel.postMessage({ type: 'ask' } satisfies TokenMessage);
  });
}

/** Signing out in one tab signs out the others; a tab that has a token lends it to a new one. */
export function shareTokenWithTabs(onSignOut: () => void): void {
  channel?.addEventListener('message', (e: MessageEvent<TokenMessage>) => {
    if (e.data.type === 'ask') {
      const token = getToken();
      if (token) channel.postMessage({ type: 'token', token } satisfies TokenMessage);
    } else if (e.data.type === 'token' && e.data.token === null && getToken()) {
      sessionStorage.removeItem(TOKEN_KEY);
      onSignOut();
    }
  });
}

/** An api answer other than 2xx. */
export class ApiRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Raised on 401: the page sends the user to the login form. */
export const UNAUTHORIZED_EVENT = 'flashfarm:unauthorized';

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const token = getToken();
  return token ? { ...extra, authorization: `Bearer ${token}` } : extra;
}

async function failure(response: Response): Promise<ApiRequestError> {
  let code = `HTTP_${response.status}`;
  let message = response.statusText;
  try {
    const body = (await response.json()) as { code?: string; message?: string };
    code = body.code ?? code;
    message = body.message ?? message;
  } catch {
    // not a problem body
  }
  if (response.status === 401) window.dispatchEvent(new CustomEvent(UNAUTHORIZED_EVENT));
  return new ApiRequestError(response.status, code, message);
}

/** Query parameters; undefined and empty values are left out. */
export type Query = Record<string, string | number | boolean | undefined | null>;

/** Builds path?query. */
export function withQuery(path: string, query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query))
    if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

/** GET (or another method with a JSON body) and parse the JSON answer. */
export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; signal?: AbortSignal } = {},
): Promise<T> {
  const response = await fetch(path, {
    method: init.method ?? 'GET',
    headers: headers(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: init.signal,
  });
  if (!response.ok) throw await failure(response);
  return (await response.json()) as T;
}

/** One server-sent event. */
export interface StreamEvent {
  event: string;
  data: unknown;
  id?: string;
}

/**
 * Follows an event stream until the server ends it or `signal` aborts;
 * reconnects after a drop with the last event id, so nothing is shown twice.
 */
export async function follow(
  path: string,
  onEvent: (e: StreamEvent) => void,
  signal: AbortSignal,
  hooks: { onDrop?: () => void } = {},
): Promise<void> {
  let lastId: string | undefined;
  while (!signal.aborted) {
    let ended = false;
    try {
      const response = await fetch(path, {
        headers: headers({ accept: 'text/event-stream', ...(lastId ? { 'last-event-id': lastId } : {}) }),
        signal,
      });
      if (!response.ok) throw await failure(response);
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      let event: { event?: string; data?: string; id?: string } = {};
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl).replace(/\r$/, '');
          buffer = buffer.slice(nl + 1);
          if (line === '') {
            if (event.data !== undefined) {
              if (event.id) lastId = event.id;
              const name = event.event ?? 'message';
              if (name === 'end') ended = true;
              onEvent({ event: name, data: JSON.parse(event.data) as unknown, id: event.id });
            }
            event = {};
          } else if (!line.startsWith(':')) {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const text = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'event') event.event = text;
            else if (field === 'data')
              event.data = event.data === undefined ? text : `${event.data}\n${text}`;
            else if (field === 'id') event.id = text;
          }
        }
      }
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof ApiRequestError && error.status < 500) throw error;
    }
    if (ended) return;
    hooks.onDrop?.();
    await new Promise((r) => setTimeout(r, 1000));
  }
}

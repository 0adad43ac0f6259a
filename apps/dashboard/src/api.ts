/**
 * The dashboard's access to the farm api: the user's token (kept in
 * sessionStorage, sent as a bearer header on every call) and live event
 * streams read with fetch, because EventSource cannot send a header.
 */

const TOKEN_KEY = 'flashfarm.token';

/** The token of this browser tab, if the user logged in. */
export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** Keeps the token for this tab (cleared when the tab closes). */
export function setToken(token: string | null): void {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
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
    await new Promise((r) => setTimeout(r, 1000));
  }
}

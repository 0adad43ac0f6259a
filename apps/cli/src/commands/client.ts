/**
 * The farm's REST and Server-Sent Events api as the client commands see it:
 * one place that turns transport failures and problem bodies into
 * FarmCliError with the right exit code and a message that says what to fix.
 */
import type { ProblemBody } from '#contracts';
import { FarmCliError, FarmExitCode } from './exit-codes.js';

/** Where the farm is and who we are. */
export interface FarmClientOptions {
  url: string;
  token?: string;
  /** Name of the variable (or flag) the token came from, for error messages. */
  tokenSource?: string;
  /** Per-request timeout for plain requests (not for event streams). */
  requestTimeoutMs?: number;
}

/** One Server-Sent Event. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/** A request body: JSON, multipart form, or text of a given type (a CSV upload). */
export type RequestPayload = { json: unknown } | { form: FormData } | { text: string; contentType: string };

/** Options of one request. */
export interface RequestOptions {
  body?: RequestPayload;
  headers?: Record<string, string>;
  query?: Record<string, string | number | boolean | undefined>;
  /** Answer text instead of parsed JSON. */
  text?: boolean;
  signal?: AbortSignal;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** How long a dropped event stream waits before it reconnects. */
const STREAM_RECONNECT_DELAY_MS = 1_000;
/** Consecutive failed reconnects after which the stream is an infrastructure failure. */
const STREAM_MAX_RECONNECTS = 20;

/** A thin, typed client of the farm api. */
export class FarmClient {
  readonly baseUrl: string;

  constructor(private readonly options: FarmClientOptions) {
    this.baseUrl = options.url.replace(/\/+$/, '');
  }

  /** Sends a request; resolves with the parsed answer or throws FarmCliError. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options, options.signal);
    if (options.text) return (await response.text()) as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Same as request, but also returns the HTTP status (201 created vs 200 existing). */
  async requestWithStatus<T>(
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<{ status: number; body: T }> {
    const response = await this.send(method, path, options, options.signal);
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  /**
   * Reads an event stream until it ends (the server closes it after `end`) or
   * `signal` aborts. A dropped connection is resumed with Last-Event-ID, so no
   * log line is lost or repeated.
   */
  async stream(path: string, onEvent: (event: SseEvent) => void, signal?: AbortSignal): Promise<void> {
    let lastId: string | undefined;
    let failures = 0;
    for (;;) {
      let ended = false;
      try {
        const headers: Record<string, string> = { accept: 'text/event-stream' };
        if (lastId) headers['last-event-id'] = lastId;
        const response = await this.send('GET', path, { headers }, signal, false);
        failures = 0;
        for await (const event of parseSse(response)) {
          if (event.id !== undefined) lastId = event.id;
          if (event.event === 'end') ended = true;
          onEvent(event);
        }
      } catch (error) {
        if (signal?.aborted) return;
        if (error instanceof FarmCliError && error.exitCode !== FarmExitCode.INFRASTRUCTURE) throw error;
        failures += 1;
        if (failures > STREAM_MAX_RECONNECTS) throw error;
      }
      if (ended || signal?.aborted) return;
      await delay(STREAM_RECONNECT_DELAY_MS, signal);
    }
  }

  private async send(
    method: string,
    path: string,
    options: RequestOptions,
    signal: AbortSignal | undefined,
    timeout = true,
  ): Promise<Response> {
    const url = new URL(this.baseUrl + path);
    for (const [key, value] of Object.entries(options.query ?? {}))
      if (value !== undefined && value !== '') url.searchParams.set(key, String(value));
    const headers: Record<string, string> = { ...options.headers };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    let body: string | FormData | undefined;
    if (options.body && 'json' in options.body) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body.json);
    } else if (options.body && 'text' in options.body) {
      headers['content-type'] = options.body.contentType;
      body = options.body.text;
    } else if (options.body) body = options.body.form;
    const signals = [
      signal,
      timeout ? AbortSignal.timeout(this.options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS) : undefined,
    ].filter((s): s is AbortSignal => s !== undefined);
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body,
        signal: signals.length ? AbortSignal.any(signals) : undefined,
      });
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new FarmCliError(
        FarmExitCode.INFRASTRUCTURE,
        `Cannot reach the farm at ${this.baseUrl} (${describeNetworkError(error)}). Check FLASHFARM_URL or --url.`,
        undefined,
        { cause: error },
      );
    }
    if (response.ok) return response;
    throw await this.problem(method, path, response);
  }

  private async problem(method: string, path: string, response: Response): Promise<FarmCliError> {
    let problem: Partial<ProblemBody>;
    const text = await response.text().catch(() => '');
    try {
      problem = JSON.parse(text) as Partial<ProblemBody>;
    } catch {
      problem = { message: text.slice(0, 300) };
    }
    const what = `${method} ${path}`;
    const details = problem.details?.length
      ? `\n${problem.details.map((d) => `  - ${d.field}: ${d.message}`).join('\n')}`
      : '';
    const message = `${problem.message ?? response.statusText}${details}`;
    if (response.status === 401)
      return new FarmCliError(
        FarmExitCode.AUTH,
        `${this.options.tokenSource ?? 'FLASHFARM_TOKEN'} is missing or revoked (401 from ${this.baseUrl}).`,
        problem.code,
      );
    if (response.status === 403)
      return new FarmCliError(
        FarmExitCode.AUTH,
        `The token's role may not call ${what}: ${problem.message ?? 'forbidden'} (403). Use a token with the role this needs (ci or operator to submit and cancel, admin for tokens).`,
        problem.code,
      );
    if (response.status >= 500)
      return new FarmCliError(
        FarmExitCode.INFRASTRUCTURE,
        `The farm failed to answer ${what}: ${response.status} ${problem.code ?? ''} ${message}`.trim(),
        problem.code,
      );
    const rejected =
      problem.code === 'FIRMWARE_INVALID' ||
      problem.code === 'CHIP_MISMATCH' ||
      problem.code === 'PAYLOAD_TOO_LARGE' ||
      response.status === 422 ||
      response.status === 413;
    return new FarmCliError(
      rejected ? FarmExitCode.FIRMWARE_REJECTED : FarmExitCode.USAGE,
      `${what} was refused: ${response.status} ${problem.code ?? ''}: ${message}`,
      problem.code,
    );
  }
}

function describeNetworkError(error: unknown): string {
  const cause =
    error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (cause?.code === 'ENOTFOUND') return 'unknown host';
  if (error instanceof Error && error.name === 'TimeoutError') return 'no answer in time';
  return cause?.message ?? (error instanceof Error ? error.message : String(error));
}

/** Parses a text/event-stream body into events (comments and retry lines are skipped). */
export async function* parseSse(response: Response): AsyncGenerator<SseEvent> {
  if (!response.body) return;
  const decoder = new TextDecoder();
  let buffer = '';
  let event: Partial<SseEvent> & { data?: string } = {};
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, '');
      buffer = buffer.slice(newline + 1);
      if (line === '') {
        if (event.data !== undefined)
          yield { event: event.event ?? 'message', data: event.data, id: event.id };
        event = {};
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event.event = value;
      else if (field === 'data') event.data = event.data === undefined ? value : `${event.data}\n${value}`;
      else if (field === 'id') event.id = value;
    }
  }
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

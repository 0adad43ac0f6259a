/**
 * The agent's side of the HTTP contract in #contracts (agent-api.ts): register,
 * heartbeat, run claims, device reports and firmware part downloads, with the agent token.
 */
import {
  claimRunPath,
  type AgentHeartbeatRequest,
  type AgentHeartbeatResponse,
  type ClaimRunRequest,
  type ClaimRunResponse,
  type RegisterAgentRequest,
  type RegisterAgentResponse,
  type ReportDevicesRequest,
  type ReportDevicesResponse,
} from '#contracts';

/** A request to the api that did not get a 2xx answer (status 0: no answer at all). */
export class ApiRequestError extends Error {
  /** The message of the api's problem body, when it sent one. */
  readonly detail?: string;

  constructor(
    message: string,
    readonly status: number,
    readonly code?: string,
    options?: { cause?: unknown; detail?: string },
  ) {
    super(message, { cause: options?.cause });
    this.name = 'ApiRequestError';
    this.detail = options?.detail;
  }

  /** 5xx, 408/429 and network failures are worth another try; other 4xx are not. */
  get transient(): boolean {
    return this.status === 0 || this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

/** How long one api request may take. */
const API_REQUEST_TIMEOUT_MS = 15_000;
/** Firmware parts can be megabytes on a slow uplink. */
const DOWNLOAD_TIMEOUT_MS = 120_000;
/** A claim holds up the start of a run: a slow api must not hold it up for long. */
const CLAIM_TIMEOUT_MS = 5_000;

/** HTTP client for the agent-facing endpoints. */
export class AgentApiClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string | undefined,
  ) {}

  register(body: RegisterAgentRequest, signal?: AbortSignal): Promise<RegisterAgentResponse> {
    return this.json('POST', '/agents/register', body, signal);
  }

  heartbeat(agentId: string, body: AgentHeartbeatRequest): Promise<AgentHeartbeatResponse> {
    return this.json('POST', `/agents/${encodeURIComponent(agentId)}/heartbeat`, body);
  }

  /** Claims a run before flashing it; a refusal is an ApiRequestError with code RUN_NOT_CLAIMABLE (409). */
  claimRun(agentId: string, runId: string, body: ClaimRunRequest): Promise<ClaimRunResponse> {
    return this.json('POST', claimRunPath(agentId, runId), body, undefined, CLAIM_TIMEOUT_MS);
  }

  reportDevices(agentId: string, body: ReportDevicesRequest): Promise<ReportDevicesResponse> {
    return this.json('POST', `/agents/${encodeURIComponent(agentId)}/devices`, body);
  }

  /** GETs raw bytes (a firmware part) from a path the api gave us. */
  async download(path: string, signal?: AbortSignal): Promise<Uint8Array> {
    const response = await this.send('GET', path, undefined, DOWNLOAD_TIMEOUT_MS, signal);
    return new Uint8Array(await response.arrayBuffer());
  }

  private async json<T>(
    method: string,
    path: string,
    body: unknown,
    signal?: AbortSignal,
    timeoutMs = API_REQUEST_TIMEOUT_MS,
  ): Promise<T> {
    const response = await this.send(method, path, body, timeoutMs, signal);
    const text = await response.text();
    try {
      return (text ? JSON.parse(text) : {}) as T;
    } catch (err) {
      throw new ApiRequestError(
        `${method} ${path}: the api answered with invalid JSON`,
        response.status,
        undefined,
        {
          cause: err,
        },
      );
    }
  }

  private async send(
    method: string,
    path: string,
    body: unknown,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const timeout = AbortSignal.timeout(timeoutMs);
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      throw new ApiRequestError(
        `${method} ${this.baseUrl}${path}: ${(err as Error).message}${(err as Error).cause ? ` (${String((err as { cause: unknown }).cause)})` : ''}`,
        0,
        undefined,
        { cause: err },
      );
    }
    if (!response.ok) {
      let code: string | undefined;
      let detail: string | undefined;
      try {
        const problem = (await response.json()) as { code?: string; message?: string };
        code = problem.code;
        detail = problem.message;
      } catch {
        // Not a problem body; the status line says enough.
      }
      throw new ApiRequestError(
        `${method} ${path}: ${response.status} ${detail ?? response.statusText}`,
        response.status,
        code,
        { detail },
      );
    }
    return response;
  }
}

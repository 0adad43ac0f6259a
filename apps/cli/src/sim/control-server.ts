/**
 * The control endpoint of `flashfarm sim`: HTTP on the loopback interface
 * only, every request with `Authorization: Bearer <token>`. Tests and the
 * fault suite use it to switch faults, unplug/replug, power-cycle and swap
 * the unit under a port, and to read back identity and flash hashes while
 * the boards run. JSON in, JSON out; errors are `{ code, message }`.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { checkChip, checkLidLine, checkWiring, parseFlashSize, SpecValueError } from './board-spec.js';
import { FaultSpecError, parseFaultPatch } from './faults.js';
import { type FixtureLid, type SimFleetRunner, SlotError, slotView, type UnitSpec } from './fleet-runner.js';

/** The interface the endpoint listens on: never reachable from another machine. */
export const CONTROL_HOST = '127.0.0.1';
/** Largest request body accepted. */
const MAX_BODY_BYTES = 64 * 1024;
/** Shortest token accepted from --control-token. */
export const MIN_CONTROL_TOKEN_CHARS = 16;

/** A running control endpoint. */
export interface ControlServer {
  /** http://127.0.0.1:port */
  readonly url: string;
  readonly port: number;
  /** The bearer token every request must carry. */
  readonly token: string;
  close(): Promise<void>;
}

/** Options of startControlServer. */
export interface ControlServerOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port?: number;
  /** Bearer token; a random one when absent. */
  token?: string;
}

/** An answer other than 200: status, code and message. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Handler = (runner: SimFleetRunner, name: string, req: ControlCall) => unknown;

interface ControlCall {
  body: unknown;
  query: URLSearchParams;
}

/** name → method → handler, for /boards/:name/<action>. */
const BOARD_ROUTES: Record<string, Partial<Record<string, Handler>>> = {
  '': { GET: (runner, name) => slotView(runner.get(name)) },
  faults: {
    GET: (runner, name) => runner.get(name).faults,
    PATCH: async (runner, name, req) =>
      slotView(await runner.setFaults(name, parseFaultPatch(req.body ?? {}, 'body'), false)),
    PUT: async (runner, name, req) =>
      slotView(await runner.setFaults(name, parseFaultPatch(req.body ?? {}, 'body'), true)),
    DELETE: async (runner, name) => slotView(await runner.setFaults(name, {}, true)),
  },
  unplug: { POST: async (runner, name) => slotView(await runner.unplug(name)) },
  plug: { POST: async (runner, name) => slotView(await runner.plug(name)) },
  'power-cycle': { POST: async (runner, name) => slotView(await runner.powerCycle(name)) },
  swap: { POST: async (runner, name, req) => slotView(await runner.swap(name, parseUnit(req.body))) },
  lid: {
    GET: (runner, name) => ({ lid: runner.get(name).lid }),
    POST: async (runner, name, req) => slotView(await runner.setLid(name, parseLidChange(req.body))),
  },
  'flash-hash': {
    GET: (runner, name, req) => {
      const size = runner.get(name).board.info.flashSizeBytes;
      const offset = parseInteger(req.query.get('offset'), 'offset', 0);
      const length = parseInteger(req.query.get('length'), 'length', size - offset);
      return { offset, length, ...runner.flashHash(name, offset, length) };
    },
  },
  console: { GET: (runner, name) => ({ text: runner.get(name).board.console }) },
};

/** Starts the endpoint on 127.0.0.1. */
export async function startControlServer(
  runner: SimFleetRunner,
  options: ControlServerOptions = {},
): Promise<ControlServer> {
  const token = options.token ?? randomBytes(24).toString('base64url');
  const expected = Buffer.from(`Bearer ${token}`);
  const server = createServer((req, res) => {
    handle(runner, expected, req).then(
      (body) => send(res, 200, body),
      (error: unknown) => {
        const http = toHttpError(error);
        send(res, http.status, { code: http.code, message: http.message });
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(
              `control port ${options.port} on ${CONTROL_HOST} is already in use; pick another --control-port`,
            )
          : err,
      );
    });
    server.listen({ host: CONTROL_HOST, port: options.port ?? 0 }, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${CONTROL_HOST}:${port}`,
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(runner: SimFleetRunner, expected: Buffer, req: IncomingMessage): Promise<unknown> {
  const given = Buffer.from(req.headers.authorization ?? '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    // Drain what the client sent so the connection can be answered cleanly.
    req.resume();
    throw new HttpError(
      401,
      'UNAUTHORIZED',
      'send the token printed at start-up as "Authorization: Bearer <token>"',
    );
  }
  const url = new URL(req.url ?? '/', 'http://control');
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const method = req.method ?? 'GET';
  const body = await readBody(req);
  if (parts.length === 1 && parts[0] === 'boards') {
    if (method !== 'GET') throw methodNotAllowed(method, url.pathname, ['GET']);
    return { boards: runner.slots.map(slotView) };
  }
  if (parts[0] !== 'boards' || parts.length < 2 || parts.length > 3)
    throw new HttpError(404, 'NOT_FOUND', `no route ${method} ${url.pathname}; see GET /boards`);
  const routes = BOARD_ROUTES[parts[2] ?? ''];
  if (!routes) throw new HttpError(404, 'NOT_FOUND', `no route ${method} ${url.pathname}`);
  const handler = routes[method];
  if (!handler) throw methodNotAllowed(method, url.pathname, Object.keys(routes));
  return handler(runner, parts[1], { body, query: url.searchParams });
}

function methodNotAllowed(method: string, path: string, allowed: string[]): HttpError {
  return new HttpError(
    405,
    'METHOD_NOT_ALLOWED',
    `${method} ${path} is not supported; use ${allowed.join(' or ')}`,
  );
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES)
      throw new HttpError(413, 'BODY_TOO_LARGE', `request bodies are limited to ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  const type = req.headers['content-type'] ?? '';
  if (!/^application\/json\b/i.test(type))
    throw new HttpError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      'send the body as JSON (Content-Type: application/json)',
    );
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (error) {
    throw new HttpError(400, 'INVALID_BODY', `the body is not valid JSON: ${(error as Error).message}`);
  }
}

function parseInteger(text: string | null, what: string, fallback: number): number {
  if (text === null) return fallback;
  const n = /^0x[0-9a-f]+$/i.test(text) ? parseInt(text, 16) : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n))
    throw new HttpError(
      400,
      'INVALID_RANGE',
      `${what} must be a whole number, decimal or 0x hex (got "${text}")`,
    );
  return n;
}

/** The body of POST /boards/:name/swap. */
function parseUnit(body: unknown): UnitSpec {
  if (body === undefined) return {};
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new HttpError(
      400,
      'INVALID_UNIT',
      'the swap body must be an object (chip, mac, flashSize, wiring, faults)',
    );
  const item = body as Record<string, unknown>;
  const known = new Set(['chip', 'mac', 'flashSize', 'wiring', 'faults']);
  const unknown = Object.keys(item).filter((key) => !known.has(key));
  if (unknown.length > 0)
    throw new HttpError(
      400,
      'INVALID_UNIT',
      `unknown swap field(s) ${unknown.join(', ')}; known: ${[...known].join(', ')}`,
    );
  const unit: UnitSpec = {};
  if (item.chip !== undefined) {
    if (typeof item.chip !== 'string')
      throw new HttpError(400, 'INVALID_UNIT', 'chip must be a string like "esp32c3"');
    unit.chip = checkChip(item.chip);
  }
  if (item.mac !== undefined) {
    if (typeof item.mac !== 'string')
      throw new HttpError(400, 'INVALID_UNIT', 'mac must be a string like "24:0a:c4:00:00:01"');
    unit.mac = item.mac;
  }
  if (item.flashSize !== undefined) unit.flashSizeBytes = parseFlashSize(item.flashSize, 'swap');
  if (item.wiring !== undefined) unit.wiring = checkWiring(item.wiring, 'swap');
  if (item.faults !== undefined) unit.faults = parseFaultPatch(item.faults, 'faults');
  return unit;
}

/** The body of POST /boards/:name/lid: `{ closed: boolean, line?: "cd" | "cts" | "dsr" }`. */
function parseLidChange(body: unknown): { closed: boolean; line?: FixtureLid['line'] } {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new HttpError(
      400,
      'INVALID_LID',
      'send the lid as a JSON object: {"closed": true} to close it, {"closed": false} to open it',
    );
  const item = body as Record<string, unknown>;
  const unknown = Object.keys(item).filter((key) => key !== 'closed' && key !== 'line');
  if (unknown.length > 0)
    throw new HttpError(
      400,
      'INVALID_LID',
      `unknown lid field(s) ${unknown.join(', ')}; known: closed, line`,
    );
  if (typeof item.closed !== 'boolean')
    throw new HttpError(
      400,
      'INVALID_LID',
      `closed must be true or false (got ${JSON.stringify(item.closed) ?? 'nothing'})`,
    );
  if (item.line === undefined) return { closed: item.closed };
  try {
    return { closed: item.closed, line: checkLidLine(item.line, 'lid') };
  } catch (error) {
    throw new HttpError(400, 'INVALID_LID', (error as Error).message);
  }
}

function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof SlotError) return new HttpError(error.status, error.code, error.message);
  if (error instanceof FaultSpecError) return new HttpError(400, error.code, error.message);
  if (error instanceof SpecValueError) return new HttpError(400, 'INVALID_UNIT', error.message);
  return new HttpError(500, 'INTERNAL', error instanceof Error ? error.message : String(error));
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

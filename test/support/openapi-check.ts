/**
 * Holds the api to its OpenAPI document: every answer a test suite receives
 * is checked against /api/openapi.json — its status must be documented for
 * the operation, and a JSON body must validate against the documented schema
 * (JSON Schema 2020-12, with Ajv): no missing field, no undocumented one, no
 * value outside its type or enum. The test api (support/api-app.ts) records
 * every response this way and fails its suite's close() on a mismatch.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { NextFunction, Request, Response } from 'express';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { OpenAPIObject } from '@nestjs/swagger';
import { SCRATCH_ENV } from './scratch.js';

// ajv-formats is CommonJS with its function as the default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

/** Routes outside the document by design: the dashboard's page and files and the document itself. */
const UNDOCUMENTED_PREFIXES = ['/app/', '/api/docs', '/api/openapi.json'];
const UNDOCUMENTED_PATHS = new Set(['/']);

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  responses: Record<string, { content?: Record<string, unknown> }>;
}

/** One response as the recorder saw it. */
export interface RecordedAnswer {
  method: string;
  url: string;
  status: number;
  contentType: string;
  body?: string;
}

/**
 * The document with `pattern` dropped where a `format` says the same (zod writes both for
 * date-times): ajv-formats checks the format, and the long date-time pattern at every instant
 * field made compiling the validators the larger part of a suite's checking time.
 */
function withoutFormatPatterns(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutFormatPatterns);
  if (!node || typeof node !== 'object') return node;
  const entries = Object.entries(node as Record<string, unknown>);
  const hasFormat = entries.some(([key, value]) => key === 'format' && value === 'date-time');
  return Object.fromEntries(
    entries
      .filter(([key]) => !(hasFormat && key === 'pattern'))
      .map(([key, value]) => [key, withoutFormatPatterns(value)]),
  );
}

/** Checks responses against one document. */
export class OpenApiCheck {
  private readonly ajv: Ajv2020;
  private readonly operations: Operation[] = [];
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(document: OpenAPIObject) {
    // The first error of a body is enough to name the mismatch, and compiling for every error (and
    // optimising the generated code) costs more than a suite's checking saves; see docs/ARCHITECTURE.md.
    this.ajv = new Ajv2020({ strict: false, code: { optimize: false }, unicodeRegExp: false });
    addFormats(this.ajv);
    this.ajv.addSchema(withoutFormatPatterns(document) as object, 'openapi.json');
    for (const [template, item] of Object.entries(document.paths)) {
      // Path templates ({id}) match one segment; literal parts are matched as they are.
      const pattern = new RegExp(
        `^${template
          .split(/(\{[^}]+\})/)
          .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
          .join('')}$`,
      );
      for (const method of METHODS) {
        const operation = item[method];
        if (operation)
          this.operations.push({
            method,
            template,
            pattern,
            responses: operation.responses as Operation['responses'],
          });
      }
    }
    // Literal paths before templated ones (/agents/register before /agents/{id}).
    this.operations.sort((a, b) => a.template.split('{').length - b.template.split('{').length);
  }

  /** The documented operation a request hit, or undefined. */
  operation(method: string, url: string): Operation | undefined {
    const pathname = new URL(url, 'http://x').pathname;
    return this.operations.find((o) => o.method === method.toLowerCase() && o.pattern.test(pathname));
  }

  /**
   * The validator of one documented body. Bodies are components ($ref), compiled once per
   * component, so ProblemBody is compiled once for every route that answers with it.
   */
  private validator(operation: Operation, status: string, mediaType: string): ValidateFunction {
    const schema = (operation.responses[status].content?.[mediaType] as { schema?: { $ref?: string } })
      .schema;
    const key = schema?.$ref
      ? `openapi.json${schema.$ref}`
      : `openapi.json#/${[
          'paths',
          operation.template,
          operation.method,
          'responses',
          status,
          'content',
          mediaType,
          'schema',
        ]
          .map((part) => part.replace(/~/g, '~0').replace(/\//g, '~1'))
          .join('/')}`;
    let validate = this.validators.get(key);
    if (!validate) {
      validate = this.ajv.getSchema(key);
      if (!validate) throw new Error(`${key} is not in the document`);
      this.validators.set(key, validate);
    }
    return validate;
  }

  /** What is wrong with one response ([] when it is as documented). */
  check(seen: RecordedAnswer): string[] {
    const pathname = new URL(seen.url, 'http://x').pathname;
    if (UNDOCUMENTED_PATHS.has(pathname) || UNDOCUMENTED_PREFIXES.some((p) => pathname.startsWith(p)))
      return [];
    const where = `${seen.method} ${pathname} → ${seen.status}`;
    const operation = this.operation(seen.method, seen.url);
    if (!operation) {
      // An unknown route answers 404 with a problem body; anything else means a route is missing from the document.
      return seen.status === 404 ? [] : [`${where}: no operation in the document`];
    }
    const response = operation.responses[String(seen.status)];
    if (!response)
      return [
        `${where}: status ${seen.status} is not documented for ${operation.method.toUpperCase()} ${operation.template}`,
      ];
    const mediaType = seen.contentType.split(';')[0].trim();
    if (!response.content) return seen.body ? [`${where}: a body that the document does not describe`] : [];
    if (!(mediaType in response.content)) {
      // A body-less answer (a 304, a HEAD) has no media type to check.
      if (!seen.body) return [];
      return [
        `${where}: media type ${mediaType} is not documented (${Object.keys(response.content).join(', ')})`,
      ];
    }
    if (mediaType !== 'application/json' || seen.body === undefined) return [];
    let body: unknown;
    try {
      body = JSON.parse(seen.body);
    } catch {
      return [`${where}: the body is not JSON`];
    }
    const validate = this.validator(operation, String(seen.status), mediaType);
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (e) =>
        `${where}: ${e.instancePath || '(body)'} ${e.message ?? 'is invalid'}${
          e.keyword === 'additionalProperties'
            ? ` (${String((e.params as { additionalProperty?: string }).additionalProperty)})`
            : ''
        }`,
    );
  }
}

const checks = new Map<string, OpenApiCheck>();

/**
 * The check for a document, compiled once per test file: suites that start several apis (replicas,
 * restarts) share it, since compiling the validators is most of its cost.
 */
export function openApiCheckFor(document: OpenAPIObject): OpenApiCheck {
  const key = JSON.stringify(document);
  let check = checks.get(key);
  if (!check) {
    check = new OpenApiCheck(document);
    checks.set(key, check);
  }
  return check;
}

/** Where the run's recorded operations go (one JSON line per response), for a coverage summary. */
function journal(): string | undefined {
  const root = process.env[SCRATCH_ENV];
  return root && fs.existsSync(root) ? path.join(root, 'openapi-responses.jsonl') : undefined;
}

/**
 * Express middleware recording every response: its status and content type, and the body of JSON
 * answers (event streams and downloads are checked by status and media type only). Violations go
 * to `found`.
 */
export function responseRecorder(check: OpenApiCheck, found: string[]) {
  const file = journal();
  return (request: Request, response: Response, next: NextFunction): void => {
    const chunks: Buffer[] = [];
    let capture: boolean | undefined;
    const wants = (): boolean => {
      capture ??= String(response.getHeader('content-type') ?? '').startsWith('application/json');
      return capture;
    };
    const write = response.write.bind(response) as (...args: unknown[]) => boolean;
    const end = response.end.bind(response) as (...args: unknown[]) => Response;
    const keep = (chunk: unknown, encoding?: unknown): void => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function' || !wants()) return;
      chunks.push(
        Buffer.isBuffer(chunk)
          ? chunk
          : Buffer.from(
              chunk as string,
              typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8',
            ),
      );
    };
    response.write = ((chunk: unknown, ...rest: unknown[]) => {
      keep(chunk, rest[0]);
      return write(chunk, ...rest);
    }) as Response['write'];
    response.end = ((chunk?: unknown, ...rest: unknown[]) => {
      keep(chunk, rest[0]);
      return end(chunk, ...rest);
    }) as Response['end'];
    response.on('finish', () => {
      const seen: RecordedAnswer = {
        method: request.method,
        url: request.originalUrl,
        status: response.statusCode,
        contentType: String(response.getHeader('content-type') ?? ''),
        body: chunks.length ? Buffer.concat(chunks).toString('utf8') : undefined,
      };
      const problems = check.check(seen);
      found.push(...problems);
      const operation = check.operation(seen.method, seen.url);
      if (file && operation)
        fs.appendFileSync(
          file,
          `${JSON.stringify({ operation: `${operation.method.toUpperCase()} ${operation.template}`, status: seen.status, ok: problems.length === 0 })}\n`,
        );
    });
    next();
  };
}

/**
 * A fetch for tests that talk HTTP to an api running in another process (the demo, a built image),
 * whose answers the recorder middleware never sees: each answer is checked against the document that
 * same process serves at /api/openapi.json, and what is wrong goes to `found` for the suite to
 * assert empty. The caller gets the response untouched (the body is read from a clone).
 */
export function checkedFetch(
  baseUrl: string,
  found: string[],
): (path: string, init?: RequestInit) => Promise<globalThis.Response> {
  let check: Promise<OpenApiCheck> | undefined;
  const documentCheck = (): Promise<OpenApiCheck> =>
    (check ??= fetch(`${baseUrl}/api/openapi.json`).then(async (r) => {
      if (!r.ok) throw new Error(`${baseUrl}/api/openapi.json answered ${r.status}`);
      return openApiCheckFor((await r.json()) as OpenAPIObject);
    }));
  return async (path, init) => {
    const response = await fetch(`${baseUrl}${path}`, init);
    const contentType = response.headers.get('content-type') ?? '';
    const body = contentType.startsWith('application/json') ? await response.clone().text() : undefined;
    found.push(
      ...(await documentCheck()).check({
        method: init?.method ?? 'GET',
        url: path,
        status: response.status,
        contentType,
        body,
      }),
    );
    return response;
  };
}

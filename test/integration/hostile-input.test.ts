/**
 * Hostile input at the edge: every route of the OpenAPI document gets, in
 * each string it takes (path, query, JSON body, form field, file name), a NUL
 * character, bytes that are not UTF-8 and a lone surrogate; in each numeric
 * query parameter values past any bound (1e20, 2^31, negative, not a number);
 * in each id a text that is no UUID. No answer may be a 500: text that cannot
 * be stored is 400 INVALID_TEXT, the rest 400 or 404. The route list comes from
 * the document, so a new route is covered the day it is added.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import type { OpenAPIObject } from '@nestjs/swagger';
import { buildFirmwareSet } from '#esp';
import type { JobView, ProblemBody } from '#contracts';
import { TokenStore } from '../../apps/api/src/auth/index.js';
import { startTestApi, type TestApi } from '../support/api-app.js';

type Schema = Record<string, unknown>;

let api: TestApi;
let document: OpenAPIObject;
const tokens = { admin: '', agent: '' };
/** A real record of each kind, so that a request is valid apart from the one hostile value. */
const ids: Record<string, string> = {};
const DEVICE_MAC = '30:00:00:00:00:01';

/**
 * Values that must be refused as text: the string in JSON, how it travels in a URL, and its bytes
 * in a multipart form (where a lone surrogate can only travel as its CESU-8 bytes, not UTF-8).
 */
const BAD_TEXT = [
  { what: 'a NUL character', json: 'a\u0000b', url: 'a%00b', bytes: [0x61, 0x00, 0x62] },
  { what: 'a lone surrogate', json: 'a\ud800b', url: 'a%ED%A0%80b', bytes: [0x61, 0xed, 0xa0, 0x80, 0x62] },
  { what: 'bytes that are not UTF-8', json: undefined, url: 'a%FF%FEb', bytes: [0x61, 0xff, 0xfe, 0x62] },
] as const;
/** Invalid UTF-8 put in place of a marker in a JSON body. */
const INVALID_UTF8 = Buffer.from([0x61, 0xff, 0xfe, 0x62]);
const MARKER = 'HOSTILE-MARKER';
/** Past every bound of a numeric query parameter (offsets go up to 2^31, line numbers to 2^31 - 1). */
const BAD_NUMBERS = ['1e20', '2147483649', '99999999999999999999999', '-1', '1.5', 'abc', 'Infinity'];
const BAD_IDS = ['not-a-uuid', '0', 'x'.repeat(2000)];

interface Case {
  operation: string;
  what: string;
  /**
   * 'text' cases must be refused with 400 INVALID_TEXT, 'query' cases (a number past its bound, an
   * id that is no UUID) and 'malformed' ones with 400 VALIDATION_FAILED; the others must only not be
   * a 5xx.
   */
  kind: 'text' | 'query' | 'malformed' | 'other';
  path: string;
  method: string;
  body?: Buffer;
  contentType?: string;
}

interface Answer {
  status: number;
  code?: string;
}

async function send(c: Case): Promise<Answer> {
  const role = c.path.startsWith('/agents/') && c.method === 'POST' ? 'agent' : 'admin';
  const response = await fetch(`${api.baseUrl}${c.path}`, {
    method: c.method,
    headers: {
      authorization: `Bearer ${tokens[role]}`,
      ...(c.contentType ? { 'content-type': c.contentType } : {}),
    },
    body: c.body && new Uint8Array(c.body),
    // An event stream that was (rightly) opened answers 200 and would never end.
    signal: AbortSignal.timeout(15_000),
  });
  if ((response.headers.get('content-type') ?? '').includes('text/event-stream')) {
    await response.body?.cancel();
    return { status: response.status };
  }
  const text = await response.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as ProblemBody).code;
  } catch {
    code = undefined;
  }
  return { status: response.status, code };
}

function resolve(schema: Schema | undefined): Schema {
  let s = schema ?? {};
  for (let i = 0; i < 10 && typeof s.$ref === 'string'; i++) {
    const name = s.$ref.split('/').pop()!;
    s = (document.components?.schemas?.[name] as Schema | undefined) ?? {};
  }
  return s;
}

function types(s: Schema): string[] {
  const t = s.type;
  return (Array.isArray(t) ? t : t ? [t] : []).filter((x): x is string => x !== 'null');
}

/** The id of a real record for a property or parameter name, or a fresh UUID. */
function idFor(name: string): string {
  const kind = name.replace(/Id$/, '');
  return ids[kind] ?? crypto.randomUUID();
}

/** A valid-looking value for a schema (required properties only). */
function sample(schemaIn: Schema | undefined, name: string): unknown {
  const s = resolve(schemaIn);
  if ('const' in s) return s.const;
  if (Array.isArray(s.enum)) return s.enum[0];
  const variants = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
  if (variants) return sample(variants.find((v) => resolve(v).type !== 'null') ?? variants[0], name);
  const t = types(s)[0];
  if (t === 'string') {
    if (
      s.format === 'uuid' ||
      /Id$/.test(name) ||
      (typeof s.pattern === 'string' ? s.pattern : '').includes('[0-9a-fA-F]{8}')
    )
      return idFor(name);
    if (name === 'mac' || name === 'device') return DEVICE_MAC;
    return 'x1';
  }
  if (t === 'integer' || t === 'number') return typeof s.minimum === 'number' ? s.minimum : 1;
  if (t === 'boolean') return false;
  if (t === 'array') {
    const min = typeof s.minItems === 'number' ? s.minItems : 0;
    return Array.from({ length: min }, () => sample(s.items as Schema, name));
  }
  if (t === 'object' || s.properties) {
    const props = (s.properties ?? {}) as Record<string, Schema>;
    const required = (s.required ?? []) as string[];
    return Object.fromEntries(required.map((p) => [p, sample(props[p], p)]));
  }
  return 'x1';
}

/** Every way to put `bad` into one string of a value of this schema (one leaf at a time), with the leaf's path. */
function withBad(
  schemaIn: Schema | undefined,
  bad: string,
  depth = 0,
): Array<{ field: string; value: unknown }> {
  const s = resolve(schemaIn);
  if (depth > 6) return [];
  const variants = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
  if (variants) return variants.flatMap((v) => withBad(v, bad, depth + 1));
  const t = types(s);
  const out: Array<{ field: string; value: unknown }> = [];
  if (t.includes('string') || Array.isArray(s.enum)) out.push({ field: '', value: bad });
  if (t.includes('array') && s.items)
    for (const r of withBad(s.items as Schema, bad, depth + 1))
      out.push({ field: `[0]${r.field ? `.${r.field}` : ''}`, value: [r.value] });
  if (t.includes('object') || s.properties) {
    const base = sample(s, '') as Record<string, unknown>;
    for (const [prop, propSchema] of Object.entries((s.properties ?? {}) as Record<string, Schema>))
      for (const r of withBad(propSchema, bad, depth + 1))
        out.push({ field: r.field ? `${prop}.${r.field}` : prop, value: { ...base, [prop]: r.value } });
    if (s.additionalProperties && typeof s.additionalProperties === 'object')
      out.push({ field: '(a key)', value: { ...base, [bad]: sample(s.additionalProperties as Schema, '') } });
  }
  return out;
}

interface Parameter {
  name: string;
  in: string;
  schema?: Schema;
}

/** The path with every parameter filled by a real id, except `hostile` (already encoded for the URL). */
function pathWith(template: string, hostile?: { name: string; value: string }): string {
  return template.replace(/\{(\w+)\}/g, (_m, name: string) => {
    if (hostile?.name === name) return hostile.value;
    if (name === 'sha256') return ids.partSha256;
    if (name === 'name') return 'main.js';
    // /devices/{idOrMac}, /console/{deviceId}, /agents/{id}/runs/{runId}: the segment before names the kind.
    const before =
      template
        .slice(0, template.indexOf(`{${name}}`))
        .split('/')
        .filter(Boolean)
        .pop() ?? '';
    const kind = name === 'id' || name === 'idOrMac' ? before.replace(/s$/, '') : name.replace(/Id$/, '');
    return encodeURIComponent(ids[kind] ?? crypto.randomUUID());
  });
}

/** A multipart body: the given text fields and one merged image, with `raw` bytes where MARKER stands. */
function multipart(
  fields: Record<string, string>,
  fileName = 'merged.bin',
  raw: readonly number[] = [],
): { body: Buffer; type: string } {
  const boundary = `----hostile${crypto.randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  const text = (s: string) => {
    const parts = s.split(MARKER);
    parts.forEach((p, i) => {
      chunks.push(Buffer.from(p, 'utf8'));
      if (i < parts.length - 1) chunks.push(Buffer.from(raw));
    });
  };
  for (const [k, v] of Object.entries(fields))
    text(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`);
  text(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${fileName}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  chunks.push(Buffer.from(mergedImage()));
  text(`\r\n--${boundary}--\r\n`);
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

let merged: Uint8Array | undefined;
function mergedImage(): Uint8Array {
  if (merged) return merged;
  const parts = buildFirmwareSet({ chip: 'esp32', projectName: 'hostile', version: '1.0.0' });
  const end = Math.max(...parts.map((p) => p.offset + p.data.length));
  merged = new Uint8Array(end).fill(0xff);
  for (const p of parts) merged.set(p.data, p.offset);
  return merged;
}

/** JSON text of `value` with the invalid UTF-8 bytes where the string MARKER stands. */
function jsonWithRawBytes(value: unknown): Buffer {
  const pieces = JSON.stringify(value).split(MARKER);
  return Buffer.concat(pieces.flatMap((p, i) => (i ? [INVALID_UTF8, Buffer.from(p)] : [Buffer.from(p)])));
}

function pathCases(operation: string, method: string, template: string, params: Parameter[]): Case[] {
  return params
    .filter((p) => p.in === 'path')
    .flatMap((p) => [
      ...BAD_TEXT.map((b) => ({
        operation,
        what: `path {${p.name}} with ${b.what}`,
        kind: 'text' as const,
        method,
        path: pathWith(template, { name: p.name, value: b.url }),
      })),
      ...BAD_IDS.map((v) => ({
        operation,
        what: `path {${p.name}} = ${v.slice(0, 20)}`,
        kind: 'other' as const,
        method,
        path: pathWith(template, { name: p.name, value: v }),
      })),
    ]);
}

function queryCases(operation: string, method: string, template: string, params: Parameter[]): Case[] {
  const base = pathWith(template);
  const cases: Case[] = BAD_TEXT.map((b) => ({
    operation,
    what: `a query parameter named with ${b.what}`,
    kind: 'text',
    method,
    path: `${base}?${b.url}=1`,
  }));
  for (const p of params.filter((x) => x.in === 'query')) {
    const s = resolve(p.schema);
    const t = [...types(s), ...types(resolve(s.items as Schema | undefined))];
    for (const b of BAD_TEXT)
      cases.push({
        operation,
        what: `query ${p.name} with ${b.what}`,
        kind: 'text',
        method,
        path: `${base}?${p.name}=${b.url}`,
      });
    if (t.includes('integer') || t.includes('number') || /^(limit|offset|afterSeq)$/.test(p.name))
      for (const v of BAD_NUMBERS)
        cases.push({
          operation,
          what: `query ${p.name}=${v}`,
          kind: 'query',
          method,
          path: `${base}?${p.name}=${v}`,
        });
    if (/Id$/.test(p.name))
      for (const v of BAD_IDS)
        cases.push({
          operation,
          what: `query ${p.name}=${v.slice(0, 20)}`,
          kind: 'query',
          method,
          path: `${base}?${p.name}=${encodeURIComponent(v)}`,
        });
  }
  return cases;
}

function bodyCases(
  operation: string,
  method: string,
  template: string,
  requestBody: Schema | undefined,
): Case[] {
  const content = (requestBody?.content ?? {}) as Record<string, { schema?: Schema }>;
  const path = pathWith(template);
  const cases: Case[] = [];
  const json = content['application/json']?.schema;
  if (json) {
    for (const b of BAD_TEXT) {
      const raw = b.json ?? MARKER;
      for (const r of withBad(json, raw))
        cases.push({
          operation,
          what: `body ${r.field || '(the body)'} with ${b.what}`,
          kind: 'text',
          method,
          path,
          contentType: 'application/json',
          body: b.json === undefined ? jsonWithRawBytes(r.value) : Buffer.from(JSON.stringify(r.value)),
        });
    }
  }
  const form = content['multipart/form-data']?.schema;
  if (form) {
    const fields = Object.entries((resolve(form).properties ?? {}) as Record<string, Schema>)
      .filter(([, s]) => types(resolve(s)).includes('string') && resolve(s).format !== 'binary')
      .map(([name]) => name);
    for (const b of BAD_TEXT) {
      for (const field of fields) {
        const m = multipart({ [field]: MARKER }, 'merged.bin', b.bytes);
        cases.push({
          operation,
          what: `form ${field} with ${b.what}`,
          kind: 'text',
          method,
          path,
          body: m.body,
          contentType: m.type,
        });
      }
      const m = multipart({}, `a${MARKER}.bin`, b.bytes);
      cases.push({
        operation,
        what: `a file name with ${b.what}`,
        // A NUL byte cannot stand in a MIME part header at all: the form itself is malformed.
        kind: (b.bytes as readonly number[]).includes(0) ? 'malformed' : 'text',
        method,
        path,
        body: m.body,
        contentType: m.type,
      });
    }
  }
  return cases;
}

function allCases(): Case[] {
  const cases: Case[] = [];
  for (const [template, item] of Object.entries(document.paths))
    for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
      const op = item[method] as { parameters?: Parameter[]; requestBody?: Schema } | undefined;
      if (!op) continue;
      const name = `${method.toUpperCase()} ${template}`;
      const params = op.parameters ?? [];
      const M = method.toUpperCase();
      cases.push(...pathCases(name, M, template, params));
      cases.push(...queryCases(name, M, template, params));
      cases.push(...bodyCases(name, M, template, op.requestBody));
    }
  return cases;
}

beforeAll(async () => {
  api = await startTestApi();
  const store = new TokenStore(api.api.infra.database.prisma);
  tokens.admin = (await store.create({ name: 'hostile-admin', role: 'admin' })).secret;
  tokens.agent = (await store.create({ name: 'hostile-agent', role: 'agent' })).secret;
  const call = async <T>(method: string, path: string, token: string, body?: unknown): Promise<T> => {
    const r = await fetch(`${api.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return (await r.json()) as T;
  };
  const agent = await call<{ agentId: string }>('POST', '/agents/register', tokens.agent, {
    name: 'hostile-rack',
    hostname: 'hostile-rack',
    version: '1',
    maxParallel: 2,
  });
  ids.agent = agent.agentId;
  const report = await call<{ devices: Array<{ deviceId: string }> }>(
    'POST',
    `/agents/${ids.agent}/devices`,
    tokens.agent,
    {
      present: [{ identity: { mac: DEVICE_MAC, chip: 'esp32' }, attachment: { portPath: '/dev/ttyUSB0' } }],
      gone: [],
      complete: true,
    },
  );
  ids.device = report.devices[0].deviceId;
  const form = multipart({ name: 'hostile-base' });
  const uploaded = await fetch(`${api.baseUrl}/firmware`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.admin}`, 'content-type': form.type },
    body: new Uint8Array(form.body),
  });
  const firmware = (await uploaded.json()) as { id: string; parts: Array<{ sha256: string }> };
  ids.firmware = firmware.id;
  ids.partSha256 = firmware.parts[0].sha256;
  const job = await call<JobView>('POST', '/jobs', tokens.admin, {
    firmwareId: ids.firmware,
    target: { device: DEVICE_MAC },
  });
  ids.job = job.id;
  ids.run = job.slots[0].latest.id;
  const campaign = await call<{ id: string }>('POST', '/campaigns', tokens.admin, {
    name: 'hostile-campaign',
    firmwareId: ids.firmware,
    mode: 'pool',
  });
  ids.campaign = campaign.id;
  const listed = await call<Array<{ id: string }>>('GET', '/tokens', tokens.admin);
  ids.token = listed[0].id;
  document = (await (await fetch(`${api.baseUrl}/api/openapi.json`)).json()) as OpenAPIObject;
});

afterAll(async () => {
  await api?.close();
});

describe('hostile input on every route of the OpenAPI document', () => {
  it('answers no 5xx; text that cannot be stored is 400 INVALID_TEXT', async () => {
    const cases = allCases();
    const operations = new Set(cases.map((c) => c.operation));
    // Every operation that takes anything is covered.
    expect(operations.size).toBeGreaterThan(30);
    const wrong: string[] = [];
    for (const c of cases) {
      const answer = await send(c);
      const expected = {
        text: 'INVALID_TEXT',
        query: 'VALIDATION_FAILED',
        malformed: 'VALIDATION_FAILED',
        other: undefined,
      }[c.kind];
      if (answer.status >= 500) wrong.push(`${c.operation} ${c.what}: ${answer.status} ${answer.code ?? ''}`);
      else if (expected && (answer.status !== 400 || answer.code !== expected))
        wrong.push(
          `${c.operation} ${c.what}: ${answer.status} ${answer.code ?? ''} (expected 400 ${expected})`,
        );
    }
    expect(wrong).toEqual([]);
  });
});

describe('the inputs that answered 500 before', () => {
  it('offset=1e20 on the list routes and a firmwareId that is no UUID are 400 VALIDATION_FAILED', async () => {
    const paths = [
      '/jobs?offset=1e20',
      '/devices?offset=1e20',
      '/firmware?offset=1e20',
      '/campaigns?offset=1e20',
      '/jobs?offset=2147483649',
      '/jobs?firmwareId=not-a-uuid',
    ];
    const answers = await Promise.all(
      paths.map((path) => send({ operation: path, what: '', kind: 'query', path, method: 'GET' })),
    );
    expect(answers).toEqual(paths.map(() => ({ status: 400, code: 'VALIDATION_FAILED' })));
    // The largest offset is still a question with an answer: an empty page.
    expect(
      await send({ operation: '', what: '', kind: 'other', path: '/jobs?offset=2147483648', method: 'GET' }),
    ).toEqual({ status: 200, code: undefined });
  });

  it('a Last-Event-ID past every line is 400, and an event stream of an id that is no UUID is 404', async () => {
    for (const [path, id] of [
      [`/runs/${ids.run}/events`, '99999999999999999999999'],
      [`/jobs/${ids.job}/events`, '99999999999999999999999'],
    ] as const) {
      const response = await fetch(`${api.baseUrl}${path}?lastEventId=${id}`, {
        headers: { authorization: `Bearer ${tokens.admin}` },
      });
      expect([path, response.status, ((await response.json()) as ProblemBody).code]).toEqual([
        path,
        400,
        'VALIDATION_FAILED',
      ]);
    }
    for (const path of ['/runs/not-a-uuid/events', '/jobs/not-a-uuid/events']) {
      const response = await fetch(`${api.baseUrl}${path}`, {
        headers: { authorization: `Bearer ${tokens.admin}` },
      });
      expect([path, response.status]).toEqual([path, 404]);
    }
  });
});

/**
 * The OpenAPI document is the contract: every operation documents its
 * success body and the problem body of every error status it can answer, and
 * the api's real answers match it. Every suite's answers are checked by the
 * test api (support/openapi-check.ts); here the document's completeness is
 * checked, the checker is shown to catch what it must, and the routes no
 * other suite calls are called, with good and bad input.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { OpenAPIObject } from '@nestjs/swagger';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { seedFirmware, seedToken } from '../support/fake-agent.js';
import { OpenApiCheck } from '../support/openapi-check.js';

let api: TestApi;
let admin: string;
let viewer: string;
let document: OpenAPIObject;

type Responses = Record<string, { content?: Record<string, { schema?: { $ref?: string } }> }>;

function operations(): Array<{ name: string; responses: Responses; roles: boolean }> {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    (['get', 'post', 'put', 'patch', 'delete'] as const).flatMap((method) => {
      const operation = item[method];
      if (!operation) return [];
      return [
        {
          name: `${method.toUpperCase()} ${path}`,
          responses: operation.responses as Responses,
          roles: 'x-roles' in operation,
        },
      ];
    }),
  );
}

async function call(method: string, path: string, token: string | undefined, body?: unknown) {
  const response = await fetch(`${api.baseUrl}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
}

beforeAll(async () => {
  api = await startTestApi();
  admin = await seedToken(api.database.url, 'admin', 'contract-admin');
  viewer = await seedToken(api.database.url, 'viewer', 'contract-viewer');
  document = (await (await fetch(`${api.baseUrl}/api/openapi.json`)).json()) as OpenAPIObject;
});

afterAll(async () => {
  await api?.close();
});

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with an opaque bearer token', () => {
    expect(document.openapi).toBe('3.1.0');
    expect(document.components?.securitySchemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(document.components?.securitySchemes?.bearer).not.toMatchObject({ bearerFormat: 'JWT' });
  });

  it('gives every operation a success answer, with a schema for every JSON body', () => {
    const missing: string[] = [];
    for (const op of operations()) {
      const success = Object.entries(op.responses).filter(([status]) => /^[23]\d\d$/.test(status));
      if (success.length === 0) missing.push(`${op.name}: no success answer`);
      for (const [status, response] of success) {
        const json = response.content?.['application/json'];
        if (json && !json.schema?.$ref) missing.push(`${op.name} ${status}: JSON without a schema`);
        if (!response.content && status !== '204' && status !== '304')
          missing.push(`${op.name} ${status}: no body described`);
      }
    }
    expect(missing).toEqual([]);
    expect(operations().length).toBeGreaterThan(40);
  });

  it('documents the problem body for every error status, and 401/403 wherever a token is needed', () => {
    const missing: string[] = [];
    for (const op of operations()) {
      for (const [status, response] of Object.entries(op.responses)) {
        if (!/^[45]\d\d$/.test(status) || (op.name === 'GET /health' && status === '503')) continue;
        if (response.content?.['application/json']?.schema?.$ref !== '#/components/schemas/ProblemBody')
          missing.push(`${op.name} ${status}: no ProblemBody`);
      }
      if (op.roles && (!op.responses['401'] || !op.responses['403'])) missing.push(`${op.name}: no 401/403`);
    }
    expect(missing).toEqual([]);
  });

  it('documents the refusals of an upload: 400, 413 and 422', () => {
    const upload = document.paths['/firmware']?.post?.responses as Responses;
    expect(Object.keys(upload)).toEqual(
      expect.arrayContaining(['200', '201', '400', '401', '403', '413', '422']),
    );
  });

  it('is generated from the contract schemas: closed objects with their required fields', () => {
    const job = document.components?.schemas?.JobView as {
      required?: string[];
      additionalProperties?: boolean;
    };
    expect(job.additionalProperties).toBe(false);
    expect(job.required).toEqual(expect.arrayContaining(['id', 'status', 'slots', 'target', 'options']));
  });
});

describe('the response check', () => {
  it('catches an undocumented status, a missing field, an extra field and a value outside its enum', () => {
    const check = new OpenApiCheck(document);
    const jobId = '0190f5c2-7a1e-7c3d-8e4f-123456789abc';
    expect(
      check.check({ method: 'GET', url: `/jobs/${jobId}`, status: 418, contentType: 'application/json' }),
    ).toEqual([expect.stringContaining('status 418 is not documented')]);
    const problem = (body: object) =>
      check.check({
        method: 'GET',
        url: `/jobs/${jobId}`,
        status: 404,
        contentType: 'application/json; charset=utf-8',
        body: JSON.stringify(body),
      });
    expect(problem({ statusCode: 404, code: 'NOT_FOUND', message: 'gone' })).toEqual([]);
    expect(problem({ statusCode: 404, message: 'gone' })).toEqual([
      expect.stringContaining("must have required property 'code'"),
    ]);
    expect(problem({ statusCode: 404, code: 'NOT_FOUND', message: 'gone', hint: 'x' })).toEqual([
      expect.stringContaining('must NOT have additional properties (hint)'),
    ]);
    expect(problem({ statusCode: 404, code: 'HTTP_404', message: 'gone' })).toEqual([
      expect.stringContaining('/code must be equal to one of the allowed values'),
    ]);
    expect(
      check.check({
        method: 'POST',
        url: '/nowhere',
        status: 200,
        contentType: 'application/json',
        body: '{}',
      }),
    ).toEqual([expect.stringContaining('no operation in the document')]);
  });
});

describe('routes no other suite calls', () => {
  it('answers GET /health, /metrics and the campaign list as documented', async () => {
    expect((await call('GET', '/health', undefined)).status).toBe(200);
    const metrics = await fetch(`${api.baseUrl}/metrics`, { headers: { authorization: `Bearer ${viewer}` } });
    expect(metrics.status).toBe(200);
    await metrics.text();
    expect(await call('GET', '/campaigns?limit=5', viewer)).toMatchObject({
      status: 200,
      body: { total: 0 },
    });
    expect((await call('GET', '/campaigns?limit=0', viewer)).status).toBe(400);
  });

  it('answers every campaign route with a documented status, for good and bad input', async () => {
    const firmwareId = await seedFirmware(api.database.url, 'esp32');
    const bad = await call('POST', '/campaigns', admin, { name: '', firmwareId: 'x', mode: 'line' });
    expect(bad).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    const created = await call('POST', '/campaigns', admin, { name: 'contract', firmwareId, mode: 'pool' });
    expect(created.status).toBe(201);
    const id = String(created.body?.id);
    expect((await call('GET', `/campaigns/${id}`, viewer)).status).toBe(200);
    expect((await call('GET', `/campaigns/${id}/units?status=failed`, viewer)).status).toBe(200);
    expect((await call('GET', `/campaigns/${id}/export.json`, viewer)).status).toBe(200);
    const csv = await fetch(`${api.baseUrl}/campaigns/${id}/export.csv`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    expect(csv.status).toBe(200);
    expect(await csv.text()).toMatch(/^campaign_id,/);
    expect((await call('POST', `/campaigns/${id}/retry-failed`, admin)).status).toBe(200);
    // A pool with no board completes at once, after which it can no longer be paused.
    expect((await call('POST', `/campaigns/${id}/stop`, admin)).status).toBeGreaterThanOrEqual(200);
    expect(await call('POST', `/campaigns/${id}/pause`, admin)).toMatchObject({
      status: 409,
      body: { code: 'CAMPAIGN_STATE' },
    });
    expect((await call('GET', '/campaigns/not-a-uuid', viewer)).status).toBe(404);
  });

  it('answers the token routes as documented', async () => {
    const created = await call('POST', '/tokens', admin, { name: 'contract-ci', role: 'ci' });
    expect(created).toMatchObject({ status: 201, body: { role: 'ci' } });
    expect((await call('GET', '/tokens?includeRevoked=true', admin)).status).toBe(200);
    expect((await call('DELETE', `/tokens/${String(created.body?.id)}`, admin)).status).toBe(200);
    expect((await call('DELETE', '/tokens/nope-nope', admin)).status).toBe(404);
    expect((await call('POST', '/tokens', admin, { name: 'x', role: 'root' })).status).toBe(400);
  });

  it('leaves no answer that differs from the document', () => {
    expect(api.openApiViolations).toEqual([]);
  });
});

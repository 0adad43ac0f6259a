/**
 * Bearer tokens against the real api on PostgreSQL: public routes, 401 vs
 * 403, revocation, expiry, lastUsedAt, the bootstrap admin and the
 * `flashfarm token` CLI on the same database.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runTokenCli } from '../../apps/api/src/cli/token-cli.js';
import { TokenStore, hashTokenSecret } from '../../apps/api/src/auth/index.js';
import { startTestApi, type TestApi } from '../support/api-app.js';
import { pollUntil } from '../support/poll.js';
import type { ProblemBody } from '#contracts';

const ADMIN = 'bootstrap-admin-secret-for-tests-0123456789';
let api: TestApi;

beforeAll(async () => {
  api = await startTestApi({ env: { FLASHFARM_ADMIN_TOKEN: ADMIN } });
});
afterAll(async () => {
  await api?.close();
});

function call(path: string, init: RequestInit & { token?: string } = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
  return fetch(`${api.baseUrl}${path}`, { ...init, headers });
}

async function createToken(role: string, name = `t-${role}-${Date.now()}`) {
  const res = await call('/tokens', { method: 'POST', token: ADMIN, body: JSON.stringify({ name, role }) });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; secret: string; prefix: string; name: string; role: string };
}

describe('public routes', () => {
  it('serves /health and the OpenAPI document without a token', async () => {
    expect((await call('/health')).status).toBe(200);
    const doc = (await (await call('/api/openapi.json')).json()) as {
      paths: Record<string, Record<string, { 'x-roles'?: string[] }>>;
    };
    expect(doc.paths['/tokens']?.post?.['x-roles']).toEqual(['admin']);
  });

  it('every documented route other than /health declares its roles', async () => {
    const doc = (await (await call('/api/openapi.json')).json()) as {
      paths: Record<string, Record<string, { 'x-roles'?: string[] }>>;
    };
    const open: string[] = [];
    for (const [path, methods] of Object.entries(doc.paths))
      for (const [method, op] of Object.entries(methods))
        if (path !== '/health' && !op['x-roles']?.length) open.push(`${method.toUpperCase()} ${path}`);
    expect(open).toEqual([]);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/tokens',
        '/tokens/{id}',
        '/firmware',
        '/firmware/{id}',
        '/firmware/{id}/parts/{sha256}',
        '/devices',
        '/devices/{idOrMac}',
        '/devices/{idOrMac}/runs',
        '/devices/{idOrMac}/attachments',
        '/devices/{idOrMac}/quarantine',
        '/devices/{idOrMac}/release',
        '/agents',
        '/agents/{id}',
        '/agents/register',
        '/agents/{id}/heartbeat',
        '/agents/{id}/devices',
        '/metrics',
      ]),
    );
  });
});

describe('401: no valid token', () => {
  it('refuses a request without Authorization, with WWW-Authenticate: Bearer', async () => {
    const res = await call('/tokens');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const body = (await res.json()) as ProblemBody;
    expect(body).toMatchObject({ statusCode: 401, code: 'UNAUTHORIZED' });
    expect(body.message).toMatch(/Authorization: Bearer/);
  });

  it('refuses a malformed header and an unknown token', async () => {
    const basic = await call('/tokens', { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
    expect(basic.status).toBe(401);
    expect(((await basic.json()) as ProblemBody).message).toMatch(/must be "Bearer <token>"/);
    const unknown = await call('/tokens', { token: 'ff_not-a-real-token-at-all-0000000000000000' });
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toContain('invalid_token');
    expect(((await unknown.json()) as ProblemBody).message).toMatch(/not known/);
  });

  it('refuses a revoked token at once', async () => {
    const viewer = await createToken('viewer');
    expect((await call('/tokens', { token: viewer.secret })).status).toBe(403);
    const revoke = await call(`/tokens/${viewer.id}`, { method: 'DELETE', token: ADMIN });
    expect(revoke.status).toBe(200);
    expect(((await revoke.json()) as { revokedAt: string | null }).revokedAt).not.toBeNull();
    const res = await call('/tokens', { token: viewer.secret });
    expect(res.status).toBe(401);
    expect((await res.json()) as ProblemBody).toMatchObject({
      code: 'UNAUTHORIZED',
      message: expect.stringMatching(/revoked/),
    });
  });

  it('refuses an expired token', async () => {
    const ci = await createToken('ci');
    await api.api.infra.database.prisma.apiToken.update({
      where: { id: ci.id },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    const res = await call('/tokens', { token: ci.secret });
    expect(res.status).toBe(401);
    expect(((await res.json()) as ProblemBody).message).toMatch(/expired/);
  });
});

describe('403: valid token, wrong role', () => {
  it('names the roles the route allows', async () => {
    const operator = await createToken('operator', 'line-3');
    const res = await call('/tokens', {
      method: 'POST',
      token: operator.secret,
      body: '{"name":"x","role":"ci"}',
    });
    expect(res.status).toBe(403);
    const body = (await res.json()) as ProblemBody;
    expect(body.code).toBe('FORBIDDEN');
    expect(body.message).toMatch(/"line-3" has role operator/);
    expect(body.message).toMatch(/needs one of: admin/);
    expect(await api.api.infra.database.prisma.apiToken.count({ where: { name: 'x' } })).toBe(0);
  });
});

describe('token administration', () => {
  it('creates tokens with a random ff_ secret, stores only its hash, lists without secrets', async () => {
    const a = await createToken('ci', 'ci-main');
    const b = await createToken('ci', 'ci-main-2');
    expect(a.secret).toMatch(/^ff_[A-Za-z0-9_-]{43}$/);
    expect(a.secret).not.toBe(b.secret);
    expect(a.prefix).toBe(a.secret.slice(0, 10));
    const row = await api.api.infra.database.prisma.apiToken.findUniqueOrThrow({ where: { id: a.id } });
    expect(row.tokenHash).toBe(hashTokenSecret(a.secret));
    expect(row.createdBy).toBe('bootstrap-admin');

    const list = await call('/tokens', { token: ADMIN });
    const text = await list.text();
    expect(list.status).toBe(200);
    expect(text).not.toContain(a.secret);
    expect(text).not.toContain(row.tokenHash);
    const names = (JSON.parse(text) as Array<{ name: string }>).map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['ci-main', 'ci-main-2', 'bootstrap-admin']));
  });

  it('rejects a bad body with VALIDATION_FAILED naming the field', async () => {
    const res = await call('/tokens', { method: 'POST', token: ADMIN, body: '{"name":"ok","role":"root"}' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as ProblemBody;
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.message).toMatch(/role must be one of: admin, ci, operator, viewer, agent/);
  });

  it('answers 404 for revoking an unknown token', async () => {
    const res = await call('/tokens/0190b4c3-0000-7000-8000-000000000000', {
      method: 'DELETE',
      token: ADMIN,
    });
    expect(res.status).toBe(404);
    expect(((await res.json()) as ProblemBody).code).toBe('NOT_FOUND');
  });

  it('records lastUsedAt when a token is used', async () => {
    const viewer = await createToken('viewer');
    await call('/tokens', { token: viewer.secret });
    await pollUntil(
      async () =>
        (await api.api.infra.database.prisma.apiToken.findUniqueOrThrow({ where: { id: viewer.id } }))
          .lastUsedAt !== null,
      { what: 'lastUsedAt to be written' },
    );
  });

  it('rotating the bootstrap secret retires the previous bootstrap token', async () => {
    const store = new TokenStore(api.api.infra.database.prisma);
    const next = 'another-bootstrap-secret-0123456789abcdef';
    await store.upsertBootstrapAdmin(next);
    expect((await call('/tokens', { token: next })).status).toBe(200);
    expect((await call('/tokens', { token: ADMIN })).status).toBe(401);
    await store.upsertBootstrapAdmin(ADMIN);
    expect((await call('/tokens', { token: ADMIN })).status).toBe(200);
    expect((await call('/tokens', { token: next })).status).toBe(401);
  });
});

describe('flashfarm token CLI', () => {
  it('creates, lists and revokes tokens on the api database', async () => {
    const env = { DATABASE_URL: api.database.url, FLASHFARM_DATA_DIR: api.config.dataDir };
    let out = '';
    let err = '';
    const io = { env, stdout: (t: string) => (out += t), stderr: (t: string) => (err += t) };
    expect(await runTokenCli(['token', 'create', '--name', 'ci-cli', '--role', 'ci'], io)).toBe(0);
    const secret = /^(ff_\S+)$/m.exec(out)?.[1];
    expect(secret).toBeDefined();
    const res = await call('/tokens', { token: secret });
    expect(res.status).toBe(403);
    expect(((await res.json()) as ProblemBody).message).toMatch(/"ci-cli" has role ci/);

    out = '';
    expect(await runTokenCli(['list'], io)).toBe(0);
    expect(out).toMatch(/ci-cli\s+ci\s+ff_/);
    expect(out).not.toContain(secret);

    out = '';
    expect(await runTokenCli(['revoke', secret!.slice(0, 10)], io)).toBe(0);
    expect(out).toMatch(/Revoked token .* "ci-cli"/);
    expect((await call('/tokens', { token: secret })).status).toBe(401);

    expect(await runTokenCli(['create', '--name', 'x', '--role', 'root'], io)).toBe(2);
    expect(err).toMatch(/--role must be one of/);
    expect(await runTokenCli(['revoke', 'ff_nothing'], io)).toBe(1);
    expect(err).toMatch(/does not exist/);

    out = '';
    expect(
      await runTokenCli(
        ['create', '--name', 'line-7', '--role', 'operator', '--expires-days', '30', '--json'],
        io,
      ),
    ).toBe(0);
    const created = JSON.parse(out) as { secret: string; role: string; expiresAt: string };
    expect(created.role).toBe('operator');
    const days = (new Date(created.expiresAt).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
    expect((await call('/devices', { token: created.secret })).status).toBe(200);

    err = '';
    expect(await runTokenCli(['rotate'], io)).toBe(2);
    expect(err).toMatch(/Unknown token command "rotate"/);
    expect(await runTokenCli(['create', '--name', 'x', '--role', 'ci', '--colour', 'red'], io)).toBe(2);
  });
});

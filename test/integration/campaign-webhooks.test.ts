/**
 * Campaign webhooks against a real receiver (node:http on loopback), the real
 * api, Redis (BullMQ) and database, with scripted agents flashing the units:
 * every finished unit record arrives signed; a receiver that fails is retried
 * with back-off and every attempt is logged; a receiver that hangs or refuses
 * never holds the line; a delivery can be sent again; bad input and a viewer
 * are refused.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { CampaignView, Page, UnitRecord, WebhookDeliveryView } from '#contracts';
import { verifyWebhook } from '../../apps/api/src/webhooks/signature.js';
import { WebhooksService } from '../../apps/api/src/webhooks/webhooks.service.js';
import { seedToken } from '../support/fake-agent.js';
import { pollUntil } from '../support/poll.js';
import { board, startSchedulerSuite, type SchedulerSuite } from '../support/scheduler-suite.js';

const SECRET = 'mes-shared-secret-0123456789';
const TIMEOUT_MS = 3_000;
const ATTEMPTS = 3;
const BACKOFF_MS = 100;
const FAILING = board('aa:00:00:00:00:02', '/dev/ttyUSB2');
const BOARDS = [board('aa:00:00:00:00:01', '/dev/ttyUSB1'), FAILING];

/** A request the receiver got, byte for byte. */
interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** The receiver: /ok answers 204, /flaky 500 twice per delivery then 200, /hang never answers. */
class Receiver {
  readonly received: Received[] = [];
  /** Requests /hang holds open right now. */
  readonly hanging = new Set<http.ServerResponse>();
  private readonly tries = new Map<string, number>();
  private readonly server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => {
      const path = request.url ?? '/';
      this.received.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
      if (path === '/hang') {
        this.hanging.add(response);
        response.on('close', () => this.hanging.delete(response));
        return;
      }
      if (path === '/flaky') {
        const id = String(request.headers['x-flashfarm-delivery']);
        const n = (this.tries.get(id) ?? 0) + 1;
        this.tries.set(id, n);
        response.writeHead(n <= 2 ? 500 : 200).end(n <= 2 ? 'not yet' : 'ok');
        return;
      }
      response.writeHead(204).end();
    });
  });
  base = '';

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A loopback port nothing listens on (a server bound, then closed). */
async function refusedUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}/hook`;
}

/**
 * The agent's runs wait at this gate before finishing, so a test sets the campaign's hook before any
 * unit can end (a hook set later only sees later units).
 */
let gate: Promise<void> = Promise.resolve();
let openGate = (): void => {};
function closeGate(): void {
  gate = new Promise<void>((resolve) => (openGate = resolve));
}

let suite: SchedulerSuite;
let receiver: Receiver;
let viewer: string;

async function call<T = Record<string, unknown>>(
  method: string,
  path: string,
  body?: unknown,
  token = suite.operator,
): Promise<{ status: number; body: T }> {
  const response = await fetch(`${suite.api.baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** A pool campaign over the suite's boards with its hook set before any unit can finish. */
async function startCampaign(name: string, hookUrl?: string): Promise<string> {
  closeGate();
  const created = await call<CampaignView>('POST', '/campaigns', {
    name,
    firmwareId: suite.firmwareId,
    mode: 'pool',
  });
  expect(created.status).toBe(201);
  if (hookUrl) await setHook(created.body.id, hookUrl);
  openGate();
  return created.body.id;
}

async function setHook(campaignId: string, url: string): Promise<void> {
  const put = await call('PUT', `/campaigns/${campaignId}/webhook`, { url, secret: SECRET });
  expect(put.status).toBe(200);
}

async function deliveries(campaignId: string): Promise<WebhookDeliveryView[]> {
  const answer = await call<Page<WebhookDeliveryView>>(
    'GET',
    `/campaigns/${campaignId}/webhook/deliveries?limit=200`,
  );
  expect(answer.status).toBe(200);
  return answer.body.items;
}

async function units(campaignId: string): Promise<UnitRecord[]> {
  return (await call<Page<UnitRecord>>('GET', `/campaigns/${campaignId}/units`)).body.items;
}

/** Waits until every unit of the campaign has its final record (PASS or FAIL). */
async function allUnitsFinal(campaignId: string, what: string): Promise<UnitRecord[]> {
  return pollUntil(
    async () => {
      const records = await units(campaignId);
      return records.length === BOARDS.length &&
        records.every((r) => r.result === 'succeeded' || r.result === 'failed')
        ? records
        : undefined;
    },
    { timeoutMs: 20_000, what },
  );
}

/** Waits until the campaign has `count` deliveries and none is still queued. */
async function deliveriesEnded(
  campaignId: string,
  count: number,
  what: string,
): Promise<WebhookDeliveryView[]> {
  return pollUntil(
    async () => {
      const list = await deliveries(campaignId);
      return list.length === count && list.every((d) => d.status !== 'queued') ? list : undefined;
    },
    { timeoutMs: 30_000, what },
  );
}

beforeAll(async () => {
  receiver = await new Receiver().start();
  suite = await startSchedulerSuite({
    env: {
      FLASHFARM_SCHEDULER_INTERVAL_MS: '100',
      // A failed unit is final at once, and the failing board is never quarantined.
      FLASHFARM_RUN_MAX_ATTEMPTS: '1',
      FLASHFARM_QUARANTINE_AFTER_FAILURES: '1000',
      FLASHFARM_WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
      FLASHFARM_WEBHOOK_ATTEMPTS: String(ATTEMPTS),
      FLASHFARM_WEBHOOK_BACKOFF_MS: String(BACKOFF_MS),
      FLASHFARM_WEBHOOK_CONCURRENCY: '4',
    },
  });
  viewer = await seedToken(suite.api.database.url, 'viewer', 'viewer');
  await suite.startAgent({
    name: 'line-1',
    boards: BOARDS,
    // The second board always fails its verify, so every campaign has a PASS and a FAIL record.
    script: async (run) => {
      await run.started();
      await run.log('writing', 'info', 'write');
      await gate;
      if (run.payload.portPath === FAILING.portPath)
        await run.finish({
          status: 'failed',
          errorCode: 'DIGEST_MISMATCH',
          errorMessage: 'MD5 of region 0x10000 differs',
        });
      else await run.finish();
    },
  });
}, 60_000);

afterAll(async () => {
  await suite?.close();
  await receiver?.close();
});

describe('campaign webhooks', () => {
  it('delivers every finished unit record, signed with the secret', async () => {
    const id = await startCampaign('signed', `${receiver.base}/ok`);
    const hook = await call('GET', `/campaigns/${id}/webhook`, undefined, viewer);
    expect(hook.status).toBe(200);
    expect(hook.body).toMatchObject({ campaignId: id, url: `${receiver.base}/ok`, enabled: true });
    expect(JSON.stringify(hook.body)).not.toContain(SECRET);

    const records = await allUnitsFinal(id, 'the signed campaign to finish its units');
    expect(records.map((r) => [r.mac, r.result]).sort()).toEqual([
      ['aa:00:00:00:00:01', 'succeeded'],
      ['aa:00:00:00:00:02', 'failed'],
    ]);
    const log = await deliveriesEnded(id, BOARDS.length, 'every record delivered');
    expect(log.map((d) => [d.status, d.attempts.length, d.attempts[0].httpStatus])).toEqual(
      BOARDS.map(() => ['delivered', 1, 204]),
    );

    const got = receiver.received.filter((r) => log.some((d) => d.id === r.headers['x-flashfarm-delivery']));
    expect(got).toHaveLength(BOARDS.length);
    for (const r of got) {
      expect(r.headers['x-flashfarm-event']).toBe('unit.finished');
      expect(r.headers['content-type']).toBe('application/json');
      expect(
        verifyWebhook({
          secret: SECRET,
          timestamp: r.headers['x-flashfarm-timestamp'] as string,
          signature: r.headers['x-flashfarm-signature'] as string,
          body: r.body,
        }),
      ).toBe(true);
      // Another secret does not verify: the signature is the secret's.
      expect(
        verifyWebhook({
          secret: `${SECRET}-other`,
          timestamp: r.headers['x-flashfarm-timestamp'] as string,
          signature: r.headers['x-flashfarm-signature'] as string,
          body: r.body,
        }),
      ).toBe(false);
      expect(r.body).not.toContain(SECRET);
      const record = JSON.parse(r.body) as UnitRecord;
      const stored = records.find((u) => u.unitId === record.unitId);
      expect(stored).toBeDefined();
      expect(record).toEqual(stored);
    }
  }, 60_000);

  it('retries a failing receiver with back-off and logs every attempt', async () => {
    const id = await startCampaign('flaky', `${receiver.base}/flaky`);
    await allUnitsFinal(id, 'the flaky campaign to finish its units');
    const log = await deliveriesEnded(id, BOARDS.length, 'the flaky deliveries to end');
    for (const d of log) {
      expect(d.status).toBe('delivered');
      expect(d.attempts.map((a) => [a.attempt, a.httpStatus])).toEqual([
        [1, 500],
        [2, 500],
        [3, 200],
      ]);
      expect(d.attempts[0].error).toMatch(/HTTP 500/);
      expect(d.attempts[2].error).toBeNull();
      // Exponential back-off: the third attempt waits twice the base delay after the second.
      const gap = Date.parse(d.attempts[2].at) - Date.parse(d.attempts[1].at);
      expect(gap).toBeGreaterThanOrEqual(BACKOFF_MS);
    }
  }, 60_000);

  it('a hanging receiver never delays unit records: campaigns keep finishing units while it hangs', async () => {
    const first = await startCampaign('hanging-1', `${receiver.base}/hang`);
    const t0 = Date.now();
    await allUnitsFinal(first, 'the first campaign to finish while its receiver hangs');
    // The receiver holds the first deliveries and no attempt has ended, yet every record is final.
    await pollUntil(() => receiver.hanging.size > 0, { what: 'the receiver to hold a delivery' });
    // A second campaign behind the same hanging receiver finishes its units too.
    const second = await startCampaign('hanging-2', `${receiver.base}/hang`);
    await allUnitsFinal(second, 'the second campaign to finish while the receiver hangs');
    const elapsed = Date.now() - t0;
    // Both campaigns ended before the deliveries could: their attempts alone take 3 × the timeout.
    expect(elapsed).toBeLessThan(ATTEMPTS * TIMEOUT_MS);
    const pending = await deliveries(first);
    expect(pending.some((d) => d.status === 'queued')).toBe(true);

    const log = await deliveriesEnded(first, BOARDS.length, 'the hanging deliveries to give up');
    for (const d of log) {
      expect(d.status).toBe('failed');
      expect(d.attempts).toHaveLength(ATTEMPTS);
      for (const a of d.attempts) {
        expect(a.httpStatus).toBeNull();
        expect(a.error).toMatch(/no answer within 3000 ms/);
        expect(a.durationMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      }
    }
    await deliveriesEnded(second, BOARDS.length, "the second campaign's hanging deliveries to give up");
  }, 90_000);

  it('logs a refused receiver, and sends a delivery again once the hook is fixed', async () => {
    const id = await startCampaign('refused', await refusedUrl());
    await allUnitsFinal(id, 'the refused campaign to finish its units');
    const log = await deliveriesEnded(id, BOARDS.length, 'the refused deliveries to give up');
    for (const d of log) {
      expect(d.status).toBe('failed');
      expect(d.attempts.map((a) => a.httpStatus)).toEqual([null, null, null]);
      expect(d.attempts[0].error).toMatch(/ECONNREFUSED/);
    }

    await setHook(id, `${receiver.base}/ok`);
    const again = await call<WebhookDeliveryView>(
      'POST',
      `/campaigns/${id}/webhook/deliveries/${log[0].id}/redeliver`,
    );
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ redeliveryOf: log[0].id, unitId: log[0].unitId, status: 'queued' });
    const delivered = await pollUntil(
      async () => (await deliveries(id)).find((d) => d.id === again.body.id && d.status === 'delivered'),
      { what: 'the redelivery to arrive' },
    );
    expect(delivered.attempts.map((a) => a.httpStatus)).toEqual([204]);
    const sent = receiver.received.find((r) => r.headers['x-flashfarm-delivery'] === again.body.id);
    expect((JSON.parse(sent!.body) as UnitRecord).unitId).toBe(log[0].unitId);

    const unknown = await call('POST', `/campaigns/${id}/webhook/deliveries/${id}/redeliver`);
    expect([unknown.status, (unknown.body as { code: string }).code]).toEqual([404, 'NOT_FOUND']);
    // Without a hook there is nowhere to send it: the answer says what to do.
    expect((await call('DELETE', `/campaigns/${id}/webhook`)).status).toBe(204);
    const noHook = await call<{ code: string; message: string }>(
      'POST',
      `/campaigns/${id}/webhook/deliveries/${log[0].id}/redeliver`,
    );
    expect([noHook.status, noHook.body.code]).toEqual([409, 'CONFLICT']);
    expect(noHook.body.message).toMatch(/PUT \/campaigns\/.+\/webhook/);
    expect((await call('GET', `/campaigns/${id}/webhook`)).status).toBe(404);
  }, 60_000);

  it('sends a delivery whose job never reached the queue (Redis down when the unit finished)', async () => {
    const id = await startCampaign('lost-job', `${receiver.base}/ok`);
    const [record] = await allUnitsFinal(id, 'the lost-job campaign to finish its units');
    await deliveriesEnded(id, BOARDS.length, 'the ordinary deliveries');
    // A row as unitFinished writes it, whose queue.add never happened.
    const lost = randomUUID();
    await suite.sql(
      `INSERT INTO "WebhookDelivery" (id, "campaignId", "unitId", event, body, "createdAt")
       VALUES ($1, $2, $3, 'unit.finished', $4, now() - interval '1 hour')`,
      [lost, id, record.unitId, JSON.stringify(record)],
    );
    const swept = await suite.api.api.app.get(WebhooksService).sweep();
    expect(swept).toBe(1);
    const delivered = await pollUntil(
      async () => (await deliveries(id)).find((d) => d.id === lost && d.status === 'delivered'),
      { what: 'the swept delivery to arrive' },
    );
    expect(delivered.attempts).toHaveLength(1);
    const sent = receiver.received.find((r) => r.headers['x-flashfarm-delivery'] === lost);
    expect(sent?.body).toBe(JSON.stringify(record));
  }, 30_000);

  it('refuses a bad url or secret with 422 WEBHOOK_INVALID, and a viewer with 403', async () => {
    const id = await startCampaign('refusals');
    const cases: Array<[unknown, RegExp]> = [
      [{ url: 'ftp://mes.example/in', secret: SECRET }, /url must be an absolute http/],
      [{ url: 'not a url', secret: SECRET }, /url must be an absolute http/],
      [{ url: `${receiver.base}/ok`, secret: 'short' }, /secret must be at least 16/],
      [{ url: `${receiver.base}/ok`, secret: 'x'.repeat(257) }, /secret must be at most 256/],
      [{ url: `${receiver.base}/ok` }, /secret/],
    ];
    for (const [body, message] of cases) {
      const answer = await call<{ code: string; message: string }>('PUT', `/campaigns/${id}/webhook`, body);
      expect([answer.status, answer.body.code]).toEqual([422, 'WEBHOOK_INVALID']);
      expect(answer.body.message).toMatch(message);
    }
    const asViewer = await call<{ code: string }>(
      'PUT',
      `/campaigns/${id}/webhook`,
      { url: `${receiver.base}/ok`, secret: SECRET },
      viewer,
    );
    expect([asViewer.status, asViewer.body.code]).toEqual([403, 'FORBIDDEN']);
    expect((await call('GET', `/campaigns/${id}/webhook`)).status).toBe(404);
    const missing = await call('PUT', '/campaigns/0190f2c4-0000-7000-8000-000000000000/webhook', {
      url: `${receiver.base}/ok`,
      secret: SECRET,
    });
    expect(missing.status).toBe(404);
  }, 30_000);
});

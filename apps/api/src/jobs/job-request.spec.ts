import { describe, expect, it } from '@jest/globals';
import { canonicalJson, parseNewJob } from './job-request.js';

const firmwareId = '0190f5c2-7a1e-7c3d-8e4f-123456789abc';

describe('POST /jobs body', () => {
  it('fills option defaults and normalises the selector', () => {
    const parsed = parseNewJob(
      { firmwareId, target: { selector: { chip: 'ESP32', tags: ['b', 'a', 'b'] }, count: 2 } },
      undefined,
    );
    expect(parsed).toEqual({
      ok: true,
      job: {
        firmwareId,
        target: { kind: 'selector', selector: { chip: 'esp32', tags: ['a', 'b'] }, count: 2 },
        options: { verify: true, eraseAll: false, skipUnchanged: false },
        priority: 0,
        idempotencyKey: undefined,
      },
    });
  });

  it('refuses an Idempotency-Key header longer than 200 characters, and takes one of 200', () => {
    const body = { firmwareId, target: { selector: { chip: 'esp32' }, count: 1 } };
    const long = parseNewJob(body, 'k'.repeat(201));
    expect(long).toEqual({
      ok: false,
      problems: [
        { field: 'Idempotency-Key', message: expect.stringMatching(/201 characters long; at most 200/) },
      ],
    });
    const longest = parseNewJob(body, 'k'.repeat(200));
    expect(longest.ok && longest.job.idempotencyKey).toBe('k'.repeat(200));
  });

  it('takes the idempotency key from the header and refuses a different one in the body', () => {
    const body = { firmwareId, target: { device: 'aa:bb:cc:dd:ee:ff' } };
    const ok = parseNewJob(body, ' k1 ');
    expect(ok.ok && ok.job.idempotencyKey).toBe('k1');
    const bad = parseNewJob({ ...body, idempotencyKey: 'k2' }, 'k1');
    expect(bad).toEqual({ ok: false, problems: [{ field: 'idempotencyKey', message: expect.any(String) }] });
  });

  it('lists every problem with its field', () => {
    const parsed = parseNewJob(
      {
        firmwareId: 'x',
        target: { selector: {}, count: 1 },
        options: { baud: 1, bootCheck: { pattern: '[', timeoutMs: 5 } },
      },
      undefined,
    );
    expect(parsed.ok).toBe(false);
    if (!parsed.ok)
      expect(parsed.problems.map((p) => p.field).sort()).toEqual([
        'firmwareId',
        'options.baud',
        'options.bootCheck.timeoutMs',
      ]);
  });

  it('compares requests independent of key order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 2], c: undefined } })).toBe(
      canonicalJson({ a: { d: [1, 2] }, b: 1 }),
    );
  });
});

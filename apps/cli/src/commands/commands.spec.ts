import { describe, expect, it } from '@jest/globals';
import { ciIdempotencyKey, parseSelector, selectWithChip } from './submit.js';
import { renderJunit, xmlEscape } from './junit.js';
import { parseSse } from './client.js';
import { FarmExitCode } from './exit-codes.js';
import { resolveFirmwareInput } from './firmware-input.js';

describe('parseSelector', () => {
  it('reads chip, pool and repeated tags', () => {
    expect(parseSelector('chip=ESP32S3, pool=line-2,tag=a,tag=b')).toEqual({
      chip: 'esp32s3',
      pool: 'line-2',
      tags: ['a', 'b'],
    });
  });

  it('refuses unknown keys and missing values as usage errors', () => {
    for (const bad of ['colour=red', 'chip', 'chip='])
      expect(() => parseSelector(bad)).toThrow(expect.objectContaining({ exitCode: FarmExitCode.USAGE }));
  });
});

describe('submit --chip', () => {
  it('is --select chip=, alone or added to a selector, and refuses two different chips', () => {
    expect(selectWithChip(undefined, 'esp32s3')).toBe('chip=esp32s3');
    expect(parseSelector(selectWithChip('pool=line-2', 'ESP32C3')!)).toEqual({
      chip: 'esp32c3',
      pool: 'line-2',
    });
    expect(selectWithChip('chip=esp32', 'esp32')).toBe('chip=esp32');
    expect(selectWithChip('pool=a', undefined)).toBe('pool=a');
    expect(() => selectWithChip('chip=esp32', 'esp32c3')).toThrow(
      expect.objectContaining({ exitCode: FarmExitCode.USAGE }),
    );
  });
});

describe('ciIdempotencyKey', () => {
  const request = { firmwareId: 'f', target: { selector: { chip: 'esp32' }, count: 1 } };

  it('is stable for one GitHub job attempt and request, and changes with the attempt or the request', () => {
    const env = {
      GITHUB_ACTIONS: 'true',
      GITHUB_RUN_ID: '77',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_JOB: 'hil',
      GITHUB_REPOSITORY: 'o/r',
    };
    const key = ciIdempotencyKey(env, request);
    expect(key).toMatch(/^github:o\/r:77:1:hil:[0-9a-f]{16}$/);
    expect(ciIdempotencyKey(env, request)).toBe(key);
    expect(ciIdempotencyKey({ ...env, GITHUB_RUN_ATTEMPT: '2' }, request)).not.toBe(key);
    expect(ciIdempotencyKey(env, { ...request, firmwareId: 'g' })).not.toBe(key);
  });

  it('uses the GitLab job id, and nothing outside CI', () => {
    expect(ciIdempotencyKey({ GITLAB_CI: 'true', CI_JOB_ID: '9', CI_PROJECT_ID: '3' }, request)).toMatch(
      /^gitlab:3:9:/,
    );
    expect(ciIdempotencyKey({}, request)).toBeUndefined();
  });
});

describe('renderJunit', () => {
  it('counts failures and skips, and escapes text and control characters', () => {
    const xml = renderJunit({
      name: 'job <1>',
      timestamp: '2026-01-01T00:00:00.000Z',
      timeSeconds: 2,
      cases: [
        { name: 'a', classname: 'c', timeSeconds: 1, systemOut: 'ok & done\u0007' },
        {
          name: 'b',
          classname: 'c',
          timeSeconds: 1,
          failure: { code: 'NO_SYNC', message: 'no "answer"' },
          systemOut: '',
        },
        { name: 'c', classname: 'c', timeSeconds: 0, skipped: true, systemOut: '' },
      ],
    });
    expect(xml).toContain('<testsuites name="flashfarm" tests="3" failures="1" errors="0" skipped="1"');
    expect(xml).toContain('name="job &lt;1&gt;"');
    expect(xml).toContain('<failure message="NO_SYNC: no &quot;answer&quot;" type="NO_SYNC">');
    expect(xml).toContain('<system-out>ok &amp; done</system-out>');
    expect(xml).toContain('<skipped/>');
  });

  it('xmlEscape removes characters XML 1.0 cannot carry', () => {
    expect(xmlEscape('a\u0000b\u001bc')).toBe('abc');
  });
});

describe('parseSse', () => {
  it('splits events across chunks, joins data lines, keeps ids and skips comments', async () => {
    const chunks = [
      'retry: 2000\n\n: keep-alive\n\nevent: log\nid: 4',
      '\ndata: {"a":1}\n\nevent: end\ndata: x\ndata: y\n\n',
    ];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const c of chunks) controller.enqueue(new TextEncoder().encode(c));
        controller.close();
      },
    });
    const events = [];
    for await (const e of parseSse(new Response(body))) events.push(e);
    expect(events).toEqual([
      { event: 'log', id: '4', data: '{"a":1}' },
      { event: 'end', id: undefined, data: 'x\ny' },
    ]);
  });
});

describe('resolveFirmwareInput', () => {
  it('refuses an argument that is neither a pair nor file@offset, and a missing file', async () => {
    await expect(resolveFirmwareInput(['0x1000'])).rejects.toMatchObject({ exitCode: FarmExitCode.USAGE });
    await expect(resolveFirmwareInput(['/nonexistent/app.bin'])).rejects.toMatchObject({
      exitCode: FarmExitCode.USAGE,
    });
    await expect(resolveFirmwareInput([])).rejects.toMatchObject({ exitCode: FarmExitCode.USAGE });
  });
});
